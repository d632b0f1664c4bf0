package configmap

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"new_checkout":    "new_checkout",
		"new checkout":    "new_checkout",
		"a.b-c_D9":        "a.b-c_D9",
		"ümlaut gate":     "_mlaut_gate",
		"slash/and:colon": "slash_and_colon",
	} {
		NewWithT(t).Expect(Key(in)).To(Equal(want), in)
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"checkout_settings": "CHECKOUT_SETTINGS",
		"new checkout":      "NEW_CHECKOUT",
		"a.b-c":             "A_B_C",
		"9lives":            "_9LIVES",
		"max-items":         "MAX_ITEMS",
	} {
		NewWithT(t).Expect(EnvName(in)).To(Equal(want), in)
	}
}

func TestKeysRefuseCollisions(t *testing.T) {
	g := NewWithT(t)
	k := NewKeys()
	g.Expect(k.Put(Key("new checkout"), "true", `gate "new checkout"`)).To(Succeed())
	err := k.Put(Key("new_checkout"), "false", `gate "new_checkout"`)
	var f *conditions.Failure
	g.Expect(errors.As(err, &f)).To(BeTrue())
	g.Expect(f.Reason).To(Equal(statsigv1alpha1.ReasonKeyCollision))
	g.Expect(f.Message).To(ContainSubstring(`"new_checkout"`))
	g.Expect(k.Data()).To(Equal(map[string]string{"new_checkout": "true"}), "the first value is kept, not overwritten")
	// The same source writing its key again is not a collision.
	g.Expect(k.Put("x", "1", "a")).To(Succeed())
	g.Expect(k.Put("x", "2", "a")).To(Succeed())
}

func TestHashIsOrderFreeAndSeparatesKeysFromValues(t *testing.T) {
	g := NewWithT(t)
	a := Hash(map[string]string{"a": "1", "b": "2"}, nil)
	g.Expect(Hash(map[string]string{"b": "2", "a": "1"}, nil)).To(Equal(a))
	g.Expect(Hash(map[string]string{"a1": "", "b": "2"}, nil)).NotTo(Equal(Hash(map[string]string{"a": "1", "b": "2"}, nil)))
	g.Expect(Hash(nil, map[string][]byte{"a": []byte("1"), "b": []byte("2")})).NotTo(Equal(a), "binaryData is hashed apart from data")
}
