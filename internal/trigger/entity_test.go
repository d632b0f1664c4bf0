package trigger

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
)

func key(n string) types.NamespacedName { return types.NamespacedName{Namespace: "shop", Name: n} }

func TestAffected(t *testing.T) {
	uses := []Uses{
		{Key: key("gates"), Names: map[Kind][]string{Gate: {"checkout_v2", "dark_mode"}}},
		{Key: key("configs"), Names: map[Kind][]string{DynamicConfig: {"checkout_settings"}}},
		{Key: key("discover-experiments"), Discovers: map[Kind]bool{Experiment: true}},
		{Key: key("layers"), Names: map[Kind][]string{Layer: {"checkout_layer"}}},
	}
	cases := []struct {
		name string
		e    Entity
		want []string
	}{
		{"named gate", Entity{Kinds: []Kind{Gate}, Name: "checkout_v2"}, []string{"gates"}},
		{"display name of a named gate", Entity{Kinds: []Kind{Gate}, Name: "Checkout V2"}, []string{"gates"}},
		{"gate nobody reads", Entity{Kinds: []Kind{Gate}, Name: "unrelated_gate"}, nil},
		{"display name nobody reads", Entity{Kinds: []Kind{Gate}, Name: "Some Other Gate"}, []string{"gates", "configs", "discover-experiments", "layers"}},
		{"config", Entity{Kinds: []Kind{DynamicConfig}, Name: "checkout_settings"}, []string{"configs"}},
		{"experiment: discoverers and layer readers", Entity{Kinds: []Kind{Experiment}, Name: "button_test"}, []string{"discover-experiments", "layers"}},
		{"unknown type", Entity{Name: "beta_users"}, []string{"gates", "configs", "discover-experiments", "layers"}},
		{"no name", Entity{Kinds: []Kind{Gate}}, []string{"gates", "configs", "discover-experiments", "layers"}},
		{"shared config_ action, unplaced", Entity{Kinds: []Kind{Gate, DynamicConfig}, Name: "beta_segment", AllIfUnplaced: true}, []string{"gates", "configs", "discover-experiments", "layers"}},
		{"shared config_ action, placed", Entity{Kinds: []Kind{Gate, DynamicConfig}, Name: "dark_mode", AllIfUnplaced: true}, []string{"gates"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var got []string
			for _, k := range Affected(uses, tc.e) {
				got = append(got, k.Name)
			}
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestKindsAndActions(t *testing.T) {
	g := NewWithT(t)
	g.Expect(KindsForType("Gate")).To(Equal([]Kind{Gate}))
	g.Expect(KindsForType("dynamic_config")).To(Equal([]Kind{DynamicConfig}))
	g.Expect(KindsForType("DynamicConfig")).To(Equal([]Kind{DynamicConfig}))
	g.Expect(KindsForType("EXPERIMENT")).To(Equal([]Kind{Experiment}))
	g.Expect(KindsForType("Segment")).To(BeNil())
	e, ok := ForAuditAction("gate_update", "checkout_v2")
	g.Expect(ok).To(BeTrue())
	g.Expect(e).To(Equal(Entity{Kinds: []Kind{Gate}, Name: "checkout_v2"}))
	e, ok = ForAuditAction("config_conditions_update", "x")
	g.Expect(ok).To(BeTrue())
	g.Expect(e.AllIfUnplaced).To(BeTrue())
	e, ok = ForAuditAction("segment_create", "beta")
	g.Expect(ok).To(BeTrue())
	g.Expect(e.Kinds).To(BeEmpty())
	_, ok = ForAuditAction("user_login", "ada")
	g.Expect(ok).To(BeFalse())
}
