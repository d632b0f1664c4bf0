package rolloutevents

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/snapshot"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

func values(group string, param int, gate bool) *snapshot.Values {
	gr := statsig.GateResult{Name: "g", Value: gate, RuleID: "default"}
	return &snapshot.Values{
		Gates:          map[string]statsig.GateResult{"g": gr},
		DynamicConfigs: map[string]statsig.ConfigResult{"c": {Value: json.RawMessage(`{"a":1}`)}},
		Experiments: map[string]statsig.ConfigResult{
			"exp":     {GroupName: group, RuleID: "r_" + group, Value: json.RawMessage(`{"p":` + string(rune('0'+param)) + `}`)},
			"outside": {Value: json.RawMessage(`{}`), RuleID: "layerAssignment"},
		},
	}
}

var (
	t0    = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	both  = Options{Exposures: true, Rollouts: true}
	mtime = func(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }
)

func target(name, hash string, rolled, complete bool) Target {
	return Target{Kind: "Deployment", Namespace: "ns", Name: name, Hash: hash, Rolled: rolled, Complete: complete}
}

// pass notes the rollouts of in and plans, as Report does.
func pass(s *statsigv1alpha1.StatsigEventsStatus, in Input) Plan {
	NoteRolled(s, in)
	return Due(s, in)
}

func names(es []statsigv1alpha1.LoggedExposure) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Kind+"/"+e.Name+"="+e.Group)
	}
	return out
}

// The life of one snapshot: a baseline, a group change, a rollout in progress, its completion, a
// repeat pass, a change that only touches a config, and a change back.
func TestPlanAcrossContents(t *testing.T) {
	g := NewWithT(t)
	var s *statsigv1alpha1.StatsigEventsStatus

	// Baseline: pods run it (nothing rolled); exposures are due once every target is available, no
	// rollout event.
	Observe(&s, both, "h1", values("Control", 1, false))
	g.Expect(s.Changed).To(BeEmpty())
	g.Expect(names(s.PendingExposures)).To(Equal([]string{"Experiment/exp=Control", "Gate/g=false"}), "outside the experiment: no group, no exposure")
	in := Input{Options: both, ContentHash: "h1", Targets: []Target{target("a", "h1", false, false)}}
	g.Expect(pass(s, in).Empty()).To(BeTrue(), "not available yet")
	in.Targets[0].Complete = true
	p := pass(s, in)
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Control", "Gate/g=false"}))
	g.Expect(p.Rollouts).To(BeEmpty())
	Sent(s, p, t0)
	g.Expect(pass(s, in).Empty()).To(BeTrue(), "nothing twice")

	// The group changes: both rolled (a pass), then a complete and b in progress, then b complete.
	Observe(&s, both, "h2", values("Test", 1, false))
	g.Expect(s.Changed).To(Equal([]string{"experiment/exp"}))
	g.Expect(names(s.PendingExposures)).To(Equal([]string{"Experiment/exp=Test"}), "the gate did not change")
	in = Input{Options: both, ContentHash: "h2", Targets: []Target{target("a", "h2", true, false), target("b", "h2", true, false)}}
	g.Expect(pass(s, in).Empty()).To(BeTrue(), "rolled, not complete")
	in.Targets = []Target{target("a", "h2", false, true), target("b", "h2", false, false)}
	p = pass(s, in)
	g.Expect(p.Exposures).To(BeEmpty(), "b's new pods are not available")
	g.Expect(p.Rollouts).To(ConsistOf(HaveField("Name", "a")), "a's rollout completed")
	g.Expect(p.Changed).To(Equal([]string{"experiment/exp"}))
	Sent(s, p, t0.Add(2*time.Minute))
	in.Targets[1].Complete = true
	p = pass(s, in)
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Test"}))
	g.Expect(p.Rollouts).To(ConsistOf(HaveField("Name", "b")), "a was reported already")
	Sent(s, p, t0.Add(3*time.Minute))
	g.Expect(pass(s, in).Empty()).To(BeTrue())
	g.Expect(s.Exposures).To(ContainElement(And(HaveField("Name", "exp"), HaveField("Group", "Test"), HaveField("ContentHash", "h2"),
		HaveField("Time", Equal(mtime(t0.Add(3*time.Minute)))))))

	// A sync of the same content (a poll) plans nothing.
	Observe(&s, both, "h2", values("Test", 1, false))
	g.Expect(s.PendingExposures).To(BeEmpty())
	g.Expect(pass(s, in).Empty()).To(BeTrue())

	// A config changes: a rollout event, no exposure.
	v := values("Test", 1, false)
	v.DynamicConfigs["c"] = statsig.ConfigResult{Value: json.RawMessage(`{"a":2}`)}
	Observe(&s, both, "h3", v)
	g.Expect(s.Changed).To(Equal([]string{"dynamicConfig/c"}))
	g.Expect(s.PendingExposures).To(BeEmpty())

	// The group's parameters change: the same group with new content is logged again.
	Observe(&s, both, "h4", values("Test", 2, false))
	g.Expect(names(s.PendingExposures)).To(Equal([]string{"Experiment/exp=Test"}))
}

func TestPlanRolloutEventsOnlyForRollouts(t *testing.T) {
	tests := []struct {
		name   string
		passes []Target
		want   int
	}{
		{"rolled, then complete", []Target{target("a", "h2", true, false), target("a", "h2", false, true)}, 1},
		{"rolled and complete in one pass", []Target{target("a", "h2", true, true)}, 1},
		{"rolled, in progress", []Target{target("a", "h2", true, false), target("a", "h2", false, false)}, 0},
		{"adopted: runs the content without a rollout", []Target{target("a", "h2", false, true)}, 0},
		{"still on the old content (pending)", []Target{target("a", "h1", false, false)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var s *statsigv1alpha1.StatsigEventsStatus
			Observe(&s, Options{Rollouts: true}, "h2", values("Control", 1, true))
			var p Plan
			for _, tg := range tc.passes {
				p = pass(s, Input{Options: Options{Rollouts: true}, ContentHash: "h2", Targets: []Target{tg}})
			}
			g.Expect(p.Exposures).To(BeEmpty(), "exposures are off")
			g.Expect(p.Rollouts).To(HaveLen(tc.want))
			if tc.want == 0 {
				return
			}
			Sent(s, p, t0)
			g.Expect(pass(s, Input{Options: Options{Rollouts: true}, ContentHash: "h2", Targets: []Target{target("a", "h2", false, true)}}).Empty()).
				To(BeTrue(), "reported once")
		})
	}
}

func TestPlanOffSendsNothing(t *testing.T) {
	g := NewWithT(t)
	var s *statsigv1alpha1.StatsigEventsStatus
	Observe(&s, Options{}, "h1", values("Control", 1, true))
	g.Expect(s).To(BeNil())
	s = &statsigv1alpha1.StatsigEventsStatus{ContentHash: "h1", PendingExposures: []statsigv1alpha1.LoggedExposure{{Kind: "Experiment", Name: "e", Group: "x"}}}
	g.Expect(Due(s, Input{ContentHash: "h1", Targets: []Target{target("a", "h1", false, true)}}).Empty()).To(BeTrue())
}

func TestFailedSendsAreBounded(t *testing.T) {
	g := NewWithT(t)
	var s *statsigv1alpha1.StatsigEventsStatus
	Observe(&s, both, "h1", values("Control", 1, true))
	in := Input{Options: both, ContentHash: "h1", Targets: []Target{target("a", "h1", false, true)}}
	p := Due(s, in)
	for i := 1; i < MaxFailedSends; i++ {
		g.Expect(Failed(s, p, t0)).To(BeFalse())
		g.Expect(Due(s, in).Exposures).To(HaveLen(2), "kept for a retry")
	}
	g.Expect(Failed(s, p, t0)).To(BeTrue())
	g.Expect(Due(s, in).Empty()).To(BeTrue(), "dropped after the last attempt")
	g.Expect(RetryAfter(1)).To(Equal(10 * time.Second))
	g.Expect(RetryAfter(3)).To(Equal(40 * time.Second))
	g.Expect(RetryAfter(20)).To(Equal(5 * time.Minute))
}
