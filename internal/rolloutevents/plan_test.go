package rolloutevents

import (
	"encoding/json"
	"strconv"
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

// pass plans, notes the rollouts of in and records the completed ones, as Report does.
func pass(s *statsigv1alpha1.StatsigEventsStatus, in Input) Plan {
	Prune(s, in.Targets)
	p := Due(s, in)
	NoteRolled(s, in)
	Completed(s, p, in.Options, t0)
	return p
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
	g.Expect(p.Rollouts[0].Changed).To(Equal([]string{"experiment/exp"}))
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

// rollouts names the planned rollout events as "<target>=<hash>".
func rollouts(p Plan) []string {
	out := []string{}
	for _, r := range p.Rollouts {
		out = append(out, r.Name+"="+r.Hash)
	}
	return out
}

// rolledOnce brings s to content h2 (group Test) rolled on the targets, after a baseline h1 (group
// Control) whose exposures were logged.
func rolledOnce(g Gomega, o Options, targets ...string) *statsigv1alpha1.StatsigEventsStatus {
	var s *statsigv1alpha1.StatsigEventsStatus
	Observe(&s, o, "h1", values("Control", 1, false))
	in := Input{Options: o, ContentHash: "h1"}
	for _, n := range targets {
		in.Targets = append(in.Targets, target(n, "h1", false, true))
	}
	Sent(s, pass(s, in), t0)
	Observe(&s, o, "h2", values("Test", 1, false))
	in.ContentHash = "h2"
	for i := range in.Targets {
		in.Targets[i] = target(in.Targets[i].Name, "h2", true, false)
	}
	g.Expect(pass(s, in).Empty()).To(BeTrue())
	return s
}

// A later content arrives while the rollout to h2 runs (its own waits for the limit): h2's rollout
// is reported when h2's pods are available, with h2's changes, and h2's group exposed then; h3's is
// reported when it completes, with what h3 changed relative to h2.
func TestPlanRolloutReplacedWhileInProgress(t *testing.T) {
	g := NewWithT(t)
	s := rolledOnce(g, both, "a")
	v3 := values("Treatment", 1, false)
	v3.DynamicConfigs["c"] = statsig.ConfigResult{Value: json.RawMessage(`{"a":2}`)}
	Observe(&s, both, "h3", v3)
	g.Expect(s.InFlight).To(ConsistOf(And(HaveField("ContentHash", "h2"), HaveField("Changed", []string{"experiment/exp"}))))
	g.Expect(s.Changed).To(Equal([]string{"dynamicConfig/c", "experiment/exp"}), "relative to h2")

	pending := Input{Options: both, ContentHash: "h3", Targets: []Target{target("a", "h2", false, false)}}
	g.Expect(pass(s, pending).Empty()).To(BeTrue(), "h2's pods are not available yet")
	pending.Targets[0].Complete = true
	p := pass(s, pending)
	g.Expect(rollouts(p)).To(Equal([]string{"a=h2"}))
	g.Expect(p.Rollouts[0].Changed).To(Equal([]string{"experiment/exp"}))
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Test"}))
	g.Expect(p.Exposures[0].ContentHash).To(Equal("h2"))
	Sent(s, p, t0.Add(time.Minute))
	g.Expect(s.InFlight).To(BeEmpty(), "reported and logged: nothing left of h2")
	g.Expect(pass(s, pending).Empty()).To(BeTrue(), "nothing twice")

	rolled := Input{Options: both, ContentHash: "h3", Targets: []Target{{Kind: "Deployment", Namespace: "ns", Name: "a", Hash: "h3",
		Rolled: true, Earlier: "h2", EarlierComplete: true}}}
	g.Expect(pass(s, rolled).Empty()).To(BeTrue(), "h2 was reported already")
	p = pass(s, Input{Options: both, ContentHash: "h3", Targets: []Target{target("a", "h3", false, true)}})
	g.Expect(rollouts(p)).To(Equal([]string{"a=h3"}))
	g.Expect(p.Rollouts[0].Changed).To(Equal([]string{"dynamicConfig/c", "experiment/exp"}))
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Treatment"}))
}

// h2's pods became available while the operator was down, and the pass after the restart rolls h3
// at once: h2's rollout is still reported, once.
func TestPlanRolloutCompletedBeforeTheNextRolled(t *testing.T) {
	g := NewWithT(t)
	s := rolledOnce(g, both, "a")
	Observe(&s, both, "h3", values("Treatment", 1, false))
	rolled := Input{Options: both, ContentHash: "h3", Targets: []Target{{Kind: "Deployment", Namespace: "ns", Name: "a", Hash: "h3",
		Rolled: true, Earlier: "h2", EarlierComplete: true}}}
	p := pass(s, rolled)
	g.Expect(rollouts(p)).To(Equal([]string{"a=h2"}))
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Test"}))
	Sent(s, p, t0)
	g.Expect(s.Rollouts).To(ConsistOf(And(HaveField("Hash", "h2"), HaveField("Rolled", "h3"))), "h3's rollout is still to report")
	p = pass(s, Input{Options: both, ContentHash: "h3", Targets: []Target{target("a", "h3", false, true)}})
	g.Expect(rollouts(p)).To(Equal([]string{"a=h3"}))
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Treatment"}))
}

// A rollout replaced before its pods were available did not complete: not reported, and its group
// not exposed.
func TestPlanRolloutReplacedBeforeCompletionIsNotReported(t *testing.T) {
	g := NewWithT(t)
	s := rolledOnce(g, both, "a")
	Observe(&s, both, "h3", values("Treatment", 1, false))
	rolled := Input{Options: both, ContentHash: "h3", Targets: []Target{{Kind: "Deployment", Namespace: "ns", Name: "a", Hash: "h3",
		Rolled: true, Earlier: "h2", EarlierComplete: false}}}
	g.Expect(pass(s, rolled).Empty()).To(BeTrue())
	g.Expect(s.InFlight).To(BeEmpty(), "h2 never completed anywhere")
	p := pass(s, Input{Options: both, ContentHash: "h3", Targets: []Target{target("a", "h3", false, true)}})
	g.Expect(rollouts(p)).To(Equal([]string{"a=h3"}))
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Treatment"}))
}

// A content replaced before any rollout of it started is not a rollout: not reported, its group
// exposed only when a later rolled content carries it.
func TestPlanContentReplacedBeforeItsRolloutStartedIsNotReported(t *testing.T) {
	g := NewWithT(t)
	s := rolledOnce(g, both, "a")
	Sent(s, pass(s, Input{Options: both, ContentHash: "h2", Targets: []Target{target("a", "h2", false, true)}}), t0)
	g.Expect(s.Rollouts).To(ConsistOf(And(HaveField("Hash", "h2"), HaveField("Rolled", ""))))

	Observe(&s, both, "h3", values("Treatment", 1, false)) // a waits for the limit
	g.Expect(pass(s, Input{Options: both, ContentHash: "h3", Targets: []Target{target("a", "h2", false, true)}}).Empty()).To(BeTrue())
	Observe(&s, both, "h4", values("Other", 1, true)) // replaces h3, never rolled
	Observe(&s, both, "h5", values("Treatment", 1, true))
	g.Expect(s.InFlight).To(BeEmpty())
	rolled := Input{Options: both, ContentHash: "h5", Targets: []Target{{Kind: "Deployment", Namespace: "ns", Name: "a", Hash: "h5",
		Rolled: true, Earlier: "h2", EarlierComplete: true}}}
	g.Expect(pass(s, rolled).Empty()).To(BeTrue())
	p := pass(s, Input{Options: both, ContentHash: "h5", Targets: []Target{target("a", "h5", false, true)}})
	g.Expect(rollouts(p)).To(Equal([]string{"a=h5"}))
	g.Expect(names(p.Exposures)).To(ConsistOf("Experiment/exp=Treatment", "Gate/g=true"), "h4's group never ran in pods")
}

// With two targets rolled to h2, h2's group is exposed once no target is still rolling h2: one
// completed, the other replaced by h3 before its pods were available.
func TestPlanReplacedContentExposedOnceNoTargetRollsIt(t *testing.T) {
	g := NewWithT(t)
	s := rolledOnce(g, both, "a", "b")
	Observe(&s, both, "h3", values("Treatment", 1, false))
	p := pass(s, Input{Options: both, ContentHash: "h3", Targets: []Target{target("a", "h2", false, true), target("b", "h2", false, false)}})
	g.Expect(rollouts(p)).To(Equal([]string{"a=h2"}))
	g.Expect(p.Exposures).To(BeEmpty(), "b's pods of h2 are not available")
	Sent(s, p, t0)
	p = pass(s, Input{Options: both, ContentHash: "h3", Targets: []Target{target("a", "h2", false, true),
		{Kind: "Deployment", Namespace: "ns", Name: "b", Hash: "h3", Rolled: true, Earlier: "h2"}}})
	g.Expect(p.Rollouts).To(BeEmpty(), "b's rollout to h2 did not complete")
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Test"}), "a's pods ran h2's group")
	Sent(s, p, t0)
	g.Expect(s.InFlight).To(BeEmpty())
}

// With rollout events off, replaced contents are still tracked for their exposures.
func TestPlanExposuresOnlyOfReplacedContent(t *testing.T) {
	g := NewWithT(t)
	o := Options{Exposures: true}
	s := rolledOnce(g, o, "a")
	Observe(&s, o, "h3", values("Treatment", 1, false))
	g.Expect(s.InFlight).To(HaveLen(1))
	p := pass(s, Input{Options: o, ContentHash: "h3", Targets: []Target{target("a", "h2", false, true)}})
	g.Expect(p.Rollouts).To(BeEmpty())
	g.Expect(names(p.Exposures)).To(Equal([]string{"Experiment/exp=Test"}))
	g.Expect(s.Rollouts).To(ConsistOf(HaveField("Rolled", "")), "nothing to report: done")
	Sent(s, p, t0)
	g.Expect(s.InFlight).To(BeEmpty())
	g.Expect(pass(s, Input{Options: o, ContentHash: "h3", Targets: []Target{target("a", "h2", false, true)}}).Empty()).To(BeTrue())
}

// status.statsigEvents.inFlight stays within its bound.
func TestPlanInFlightBounded(t *testing.T) {
	g := NewWithT(t)
	var s *statsigv1alpha1.StatsigEventsStatus
	for i := range MaxInFlight + 5 {
		h := "h" + strconv.Itoa(i)
		Observe(&s, both, h, values("G"+strconv.Itoa(i), 1, false))
		NoteRolled(s, Input{Options: both, ContentHash: h, Targets: []Target{target("t"+strconv.Itoa(i), h, true, false)}})
	}
	g.Expect(s.InFlight).To(HaveLen(MaxInFlight))
	g.Expect(s.InFlight[0].ContentHash).To(Equal("h4"), "the oldest went first")
}
