package snapshot

import (
	"encoding/json"
	"flag"
	"testing"

	. "github.com/onsi/gomega"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenValues is a fixed evaluation with names that need mapping (a space, dots and dashes, a
// leading digit) and values that test canonical JSON (key order, number literals, HTML characters,
// non-ASCII, nulls, nesting).
func goldenValues() *Values {
	return &Values{
		Kinds: Kinds{Gates: true, DynamicConfigs: true, Experiments: true, Layers: true},
		Gates: map[string]statsig.GateResult{
			"new checkout": {Value: true},
			"dark_mode":    {Value: false},
			"2fa-required": {Value: true},
		},
		DynamicConfigs: map[string]statsig.ConfigResult{
			"checkout_settings": {Value: json.RawMessage(`{"theme": "dark", "max_items": 5, "ratio": 1.50,
				"order_id_base": 12345678901234567890, "banner": "<b>Sale</b> & more", "currency": "€",
				"enabled": true, "regions": ["eu", "us"], "limits": {"z": 1, "a": 2}, "note": null}`)},
			"pricing.v2-beta": {Value: json.RawMessage(`{"max-discount": 0.25, "3d_secure": "always"}`)},
		},
		Experiments: map[string]statsig.ConfigResult{
			"button color test": {Value: json.RawMessage(`{"color":"blue","size":12}`), GroupName: "Test Group"},
			"not_allocated":     {Value: json.RawMessage(`{}`)},
		},
		Layers: map[string]statsig.LayerResult{
			"checkout_layer": {Value: json.RawMessage(`{"cta_text":"Pay now","steps":2}`)},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	cases := []struct {
		name   string
		values func() *Values
		format statsigv1alpha1.SnapshotFormat
	}{
		{"files", goldenValues, statsigv1alpha1.FormatFiles},
		{"env", goldenValues, statsigv1alpha1.FormatEnv},
		{"files-gates-only", func() *Values {
			v := goldenValues()
			v.Kinds = Kinds{Gates: true}
			v.DynamicConfigs, v.Experiments, v.Layers = nil, nil, nil
			return v
		}, statsigv1alpha1.FormatFiles},
		// A kind that is asked for but turns out empty (discovery found nothing) still has its file.
		{"files-empty-kind", func() *Values {
			return &Values{Kinds: Kinds{Gates: true, Layers: true},
				Gates: map[string]statsig.GateResult{"dark_mode": {Value: true}}}
		}, statsigv1alpha1.FormatFiles},
		{"files-collision", func() *Values {
			v := goldenValues()
			v.Gates["new_checkout"] = statsig.GateResult{Value: false}
			return v
		}, statsigv1alpha1.FormatFiles},
		{"env-collision-names", func() *Values {
			v := goldenValues()
			v.Gates["2FA required"] = statsig.GateResult{Value: false}
			return v
		}, statsigv1alpha1.FormatEnv},
		// A config's field variable lands on another config's variable.
		{"env-collision-field", func() *Values {
			v := goldenValues()
			v.DynamicConfigs["checkout"] = statsig.ConfigResult{Value: json.RawMessage(`{"settings_theme":"light"}`)}
			return v
		}, statsigv1alpha1.FormatEnv},
		// An experiment value with a field named group lands on the group variable.
		{"env-collision-group", func() *Values {
			v := goldenValues()
			v.Experiments["button color test"] = statsig.ConfigResult{Value: json.RawMessage(`{"group":"x"}`), GroupName: "Control"}
			return v
		}, statsigv1alpha1.FormatEnv},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			data, err := Render(c.values(), c.format)
			var got string
			if err != nil {
				f := conditions.Classify(err)
				g.Expect(f.Reason).To(Equal(statsigv1alpha1.ReasonKeyCollision), err.Error())
				got = "error " + f.Reason + ": " + f.Message + "\n"
			} else {
				got = testenv.DumpData(data)
				// Whatever the format, every key is one the API server accepts.
				for k := range data {
					g.Expect(k).To(MatchRegexp(`^[-._a-zA-Z0-9]+$`))
				}
			}
			testenv.ExpectGolden(t, c.name, got, *update, "update")
		})
	}
}

// TestRenderIsDeterministic feeds the same values with JSON in other key orders and spacing, and
// maps filled in other orders: the data and its hash must not change by a byte.
func TestRenderIsDeterministic(t *testing.T) {
	g := NewWithT(t)
	for _, format := range []statsigv1alpha1.SnapshotFormat{statsigv1alpha1.FormatFiles, statsigv1alpha1.FormatEnv} {
		first, err := Render(goldenValues(), format)
		g.Expect(err).NotTo(HaveOccurred())
		for range 20 {
			v := goldenValues()
			v.DynamicConfigs["checkout_settings"] = statsig.ConfigResult{Value: json.RawMessage(`{
				"note":null,"limits":{"a":2,"z":1},"regions":["eu","us"],"enabled":true,"currency":"€",
				"banner":"<b>Sale</b> & more","order_id_base":12345678901234567890,"ratio":1.50,"max_items":5,"theme":"dark"}`)}
			again, err := Render(v, format)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(again).To(Equal(first))
			g.Expect(configmap.Hash(again, nil)).To(Equal(configmap.Hash(first, nil)))
		}
	}
}

func TestCheckNamesRefusesCollidingNamesBeforeAnyCall(t *testing.T) {
	g := NewWithT(t)
	req := Request{Gates: []string{"new checkout", "new_checkout"}}
	for _, format := range []statsigv1alpha1.SnapshotFormat{statsigv1alpha1.FormatFiles, statsigv1alpha1.FormatEnv} {
		err := CheckNames(req, format)
		g.Expect(err).To(HaveOccurred())
		g.Expect(conditions.Classify(err).Reason).To(Equal(statsigv1alpha1.ReasonKeyCollision))
	}
	g.Expect(CheckNames(Request{Gates: []string{"a-b"}, DynamicConfigs: []string{"a-b"}}, statsigv1alpha1.FormatEnv)).To(Succeed(),
		"the same name in two kinds has two prefixes")
}

func TestCanonicalKeepsNumbersAndText(t *testing.T) {
	g := NewWithT(t)
	v, err := decode(json.RawMessage(` {"b": 1.50e3, "a": 9007199254740993, "c": "<&>"} `))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(Canonical(v)).To(Equal(`{"a":9007199254740993,"b":1.50e3,"c":"<&>"}`))
}
