package controllers

// spec.logExposures with rolloutTargets and spec.statsigEvents (api.md, "Refresh and sync"): Statsig
// hears of a group when pods really run it, once, and of every completed rollout, once, restarts
// included; nothing at all with the options off.

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/rolloutevents"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

func snapLogExposures() snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) { e.LogExposures = true }
}

func snapRolloutEvents() snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) {
		e.StatsigEvents = &statsigv1alpha1.StatsigEvents{Rollouts: true}
	}
}

// sentStatus polls what status.statsigEvents records as sent: "<kind>/<name>=<group>" per logged
// exposure and "<workload>=<hash>" per reported rollout.
func (h *harness) sentStatus(name string) func() []string {
	return func() []string {
		out := []string{}
		st := h.getCS(name).Status.StatsigEvents
		if st == nil {
			return out
		}
		for _, e := range st.Exposures {
			out = append(out, e.Kind+"/"+e.Name+"="+e.Group)
		}
		for _, r := range st.Rollouts {
			if r.Hash != "" {
				out = append(out, r.Kind+"/"+r.Namespace+"/"+r.Name+"="+r.Hash)
			}
		}
		return out
	}
}

// quiet is how long a test watches for something that must not happen: several refreshes (30 s of
// spec is 300 ms here) and rollout passes.
const quiet = 1500 * time.Millisecond

func experimentExposure(name, group string) types.GomegaMatcher {
	return And(HaveField("ExperimentName", name), HaveField("Group", group), HaveField("GateName", ""),
		HaveField("User", statsig.User{UserID: "shop-prod"}), HaveField("Time", BeNumerically(">", 0)))
}

// Reads never log; the exposure of each group is logged once, when the rollout that carries it has
// completed, and never again for the same group, whatever the polling.
func TestConfigSnapshotLogsOneExposurePerGroupAtRolloutCompletion(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetExperiment("checkout_exp", "Control", map[string]any{"button": "blue"})
	h.fake.SetGate("new_cart", true)
	h.serverSecret("statsig")
	h.deployment("checkout-api")
	h.configSnapshot("checkout", snapExperiments("checkout_exp"), snapGates("new_cart"), snapRefresh(30),
		snapRollout("Deployment", "checkout-api"), snapLogExposures())
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress))

	g.Consistently(h.fake.LoggedExposures, quiet, poll).Should(BeEmpty(), "no pod is available yet: nothing runs the group")
	g.Expect(h.fake.Count(statsig.EndpointGetConfig)).To(BeNumerically(">", 1), "the snapshot polled meanwhile")
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.fake.LoggedExposures, wait, poll).Should(HaveLen(2))
	exps := h.fake.LoggedExposures()
	g.Expect(exps).To(ContainElements(experimentExposure("checkout_exp", "Control"),
		And(HaveField("GateName", "new_cart"), HaveField("Passes", HaveValue(BeTrue())), HaveField("RuleID", "fake_pass_rule"))))
	g.Expect(h.fake.Requests(statsig.EndpointLogCustomExposure)).To(HaveLen(1), "one call for the whole burst")
	g.Eventually(h.sentStatus("checkout"), wait, poll).Should(ConsistOf("Experiment/checkout_exp=Control", "Gate/new_cart=true"))
	st := h.getCS("checkout").Status.StatsigEvents
	g.Expect(st).NotTo(BeNil())
	g.Expect(st.Exposures).To(ContainElement(And(HaveField("Name", "checkout_exp"), HaveField("Group", "Control"),
		HaveField("ContentHash", h.getCS("checkout").Status.ContentHash))))
	for _, e := range exps {
		g.Expect(e.Time).To(BeNumerically("~", float64(st.Exposures[0].Time.UnixMilli()), 1000), "the completion time, as recorded")
	}

	g.Consistently(func() int { return len(h.fake.LoggedExposures()) }, quiet, poll).Should(Equal(2), "polls log nothing")

	// The group changes: the rollout carries it; its exposure comes when the new pods are available.
	h.fake.SetExperiment("checkout_exp", "Test", map[string]any{"button": "green"})
	h.requestCS(g, "checkout")
	g.Eventually(h.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(h.getCS("checkout").Status.ContentHash))
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress))
	g.Consistently(func() int { return len(h.fake.LoggedExposures()) }, quiet, poll).Should(Equal(2), "the new pods are not available")
	h.completeRollout(g, "checkout-api")
	g.Eventually(func() int { return len(h.fake.LoggedExposures()) }, wait, poll).Should(Equal(3))
	g.Expect(h.fake.LoggedExposures()[2]).To(experimentExposure("checkout_exp", "Test"), "the gate did not change: not logged again")
	g.Consistently(func() int { return len(h.fake.LoggedExposures()) }, quiet, poll).Should(Equal(3))

	for _, e := range []string{statsig.EndpointCheckGate, statsig.EndpointGetConfig} {
		for _, r := range h.fake.Requests(e) {
			g.Expect(r.ExposureLoggingDisabled()).To(BeTrue(), "a read of %s logged an exposure", e)
		}
	}
	g.Expect(h.fake.Count(statsig.EndpointLogEvent)).To(BeZero(), "statsigEvents is off")
	g.Expect(h.fake.Violations()).To(BeEmpty())
}

// One log_event per completed rollout, with the workload, the snapshot, the new hash and the
// changed entities; rollouts that complete while the operator is down are sent once, in one call,
// after it is back, and a restart sends nothing twice.
func TestConfigSnapshotSendsOneEventPerCompletedRolloutAcrossRestarts(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.fake.SetConfig("other_settings", map[string]any{"a": 1})
	h.serverSecret("statsig")
	h.deployment("web")
	h.deployment("worker")
	h.configSnapshot("checkout", snapConfigs("checkout_settings", "other_settings"),
		snapRollout("Deployment", "web"), snapRollout("Deployment", "worker"), snapRolloutEvents())
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	h.completeRollout(g, "web")
	h.completeRollout(g, "worker")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	g.Consistently(h.fake.LoggedEvents, quiet, poll).Should(BeEmpty(), "the first content is a baseline: nothing was rolled")

	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCS(g, "checkout")
	hash := h.getCS("checkout").Status.ContentHash
	g.Eventually(h.snapshotHashOf("web"), wait, poll).Should(Equal(hash))
	g.Eventually(h.snapshotHashOf("worker"), wait, poll).Should(Equal(hash))
	h.completeRollout(g, "web")
	g.Eventually(h.fake.LoggedEvents, wait, poll).Should(HaveLen(1))
	g.Expect(h.fake.LoggedEvents()[0]).To(And(
		HaveField("EventName", rolloutevents.EventName),
		HaveField("Value", "Deployment/"+h.ns+"/web"),
		HaveField("User", statsig.User{UserID: "shop-prod"}),
		HaveField("Metadata", Equal(map[string]string{
			"snapshot": "ConfigSnapshot/" + h.ns + "/checkout", "contentHash": hash,
			"changedEntities": "dynamicConfig/checkout_settings",
		}))))
	g.Consistently(func() int { return len(h.fake.LoggedEvents()) }, quiet, poll).Should(Equal(1), "worker's pods are not available")
	g.Expect(h.sentStatus("checkout")()).To(ConsistOf("Deployment/" + h.ns + "/web=" + hash))

	// worker completes while the operator is down: its event is sent after the restart, once.
	h.stop()
	h.completeRollout(g, "worker")
	h.startManager()
	g.Eventually(func() int { return len(h.fake.LoggedEvents()) }, wait, poll).Should(Equal(2))
	g.Expect(h.fake.LoggedEvents()[1]).To(HaveField("Value", "Deployment/"+h.ns+"/worker"))
	g.Eventually(h.sentStatus("checkout"), wait, poll).Should(ConsistOf("Deployment/"+h.ns+"/web="+hash, "Deployment/"+h.ns+"/worker="+hash))

	// Another change; both complete while the operator is down: one call carries both events.
	h.fake.SetConfig("other_settings", map[string]any{"a": 2})
	h.rolloutClock.Step(2 * time.Minute) // past the one-rollout-per-minute limit
	h.requestCS(g, "checkout")
	hash2 := h.getCS("checkout").Status.ContentHash
	g.Expect(hash2).NotTo(Equal(hash))
	g.Eventually(h.snapshotHashOf("web"), wait, poll).Should(Equal(hash2))
	g.Eventually(h.snapshotHashOf("worker"), wait, poll).Should(Equal(hash2))
	calls := len(h.fake.Requests(statsig.EndpointLogEvent))
	h.stop()
	h.completeRollout(g, "web")
	h.completeRollout(g, "worker")
	h.startManager()
	g.Eventually(func() int { return len(h.fake.LoggedEvents()) }, wait, poll).Should(Equal(4))
	g.Expect(h.fake.Requests(statsig.EndpointLogEvent)).To(HaveLen(calls+1), "one call per burst, not one per workload")
	g.Expect(h.fake.LoggedEvents()[2:]).To(ConsistOf(
		HaveField("Metadata", HaveKeyWithValue("changedEntities", "dynamicConfig/other_settings")),
		HaveField("Metadata", HaveKeyWithValue("contentHash", hash2))))

	// Restarted again with everything sent (and recorded): nothing is sent twice.
	g.Eventually(h.sentStatus("checkout"), wait, poll).Should(ConsistOf("Deployment/"+h.ns+"/web="+hash2, "Deployment/"+h.ns+"/worker="+hash2))
	h.stop()
	h.startManager()
	h.requestCS(g, "checkout")
	g.Consistently(func() int { return len(h.fake.LoggedEvents()) }, quiet, poll).Should(Equal(4))
	g.Expect(h.fake.Count(statsig.EndpointLogCustomExposure)).To(BeZero(), "logExposures is off")
	g.Expect(h.fake.Violations()).To(BeEmpty())
}

// An exposure pending when the operator stops is logged after it restarts, once; one already
// logged is not logged again.
func TestConfigSnapshotExposuresSurviveRestart(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetExperiment("checkout_exp", "Control", map[string]any{"button": "blue"})
	h.serverSecret("statsig")
	h.deployment("checkout-api")
	h.configSnapshot("checkout", snapExperiments("checkout_exp"), snapRollout("Deployment", "checkout-api"), snapLogExposures())
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress))
	g.Eventually(func() []statsigv1alpha1.LoggedExposure {
		st := h.getCS("checkout").Status.StatsigEvents
		if st == nil {
			return nil
		}
		return st.PendingExposures
	}, wait, poll).Should(HaveLen(1), "recorded in status, so that a restart does not lose it")

	h.stop()
	h.completeRollout(g, "checkout-api")
	h.startManager()
	g.Eventually(h.fake.LoggedExposures, wait, poll).Should(ConsistOf(experimentExposure("checkout_exp", "Control")))
	g.Eventually(h.sentStatus("checkout"), wait, poll).Should(ConsistOf("Experiment/checkout_exp=Control"))

	h.stop()
	h.startManager()
	h.requestCS(g, "checkout")
	g.Consistently(func() int { return len(h.fake.LoggedExposures()) }, quiet, poll).Should(Equal(1))
}

// With the options off (the default) nothing is sent, whatever the rollouts, and no read logs.
func TestConfigSnapshotSendsNothingByDefault(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetExperiment("checkout_exp", "Control", map[string]any{"button": "blue"})
	h.fake.SetGate("new_cart", true)
	h.serverSecret("statsig")
	h.deployment("checkout-api")
	h.configSnapshot("checkout", snapExperiments("checkout_exp"), snapGates("new_cart"), snapRollout("Deployment", "checkout-api"))
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	h.fake.SetExperiment("checkout_exp", "Test", map[string]any{"button": "green"})
	h.requestCS(g, "checkout")
	g.Eventually(h.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(h.getCS("checkout").Status.ContentHash))
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	h.requestCS(g, "checkout")
	g.Consistently(func() int {
		return h.fake.Count(statsig.EndpointLogEvent) + h.fake.Count(statsig.EndpointLogCustomExposure)
	}, quiet, poll).Should(BeZero())
	g.Expect(h.getCS("checkout").Status.StatsigEvents).To(BeNil())
	for _, r := range h.fake.Requests(statsig.EndpointGetConfig) {
		g.Expect(r.ExposureLoggingDisabled()).To(BeTrue())
	}
}

// A failing events host is an Event and a retry, never a failed sync or a blocked rollout; what was
// due is sent once the host answers again.
func TestConfigSnapshotEventFailureIsBestEffort(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.deployment("web")
	h.configSnapshot("checkout", snapConfigs("checkout_settings"), snapRollout("Deployment", "web"), snapRolloutEvents())
	h.completeRollout(g, "web")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))

	h.fake.Fault(statsig.EndpointLogEvent, statsigtest.Fault{Status: 503})
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCS(g, "checkout")
	g.Eventually(h.snapshotHashOf("web"), wait, poll).Should(Equal(h.getCS("checkout").Status.ContentHash))
	h.completeRollout(g, "web")
	g.Eventually(func() int { return len(h.events(rolloutevents.ReasonStatsigEventsFailed)) }, wait, poll).Should(BeNumerically(">=", 1))
	// The send that failed first may be the one of the sync that rolled, before the completed
	// rollout is reconciled: so wait for the completion, with the events host still failing.
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"), "the rollout is not held by Statsig")
	g.Expect(h.csReady("checkout")()).To(Equal("True"), "nor is the sync failed")
	g.Expect(h.getCS("checkout").Status.StatsigEvents.FailedSends).To(BeNumerically(">=", 1))
	g.Expect(h.fake.LoggedEvents()).To(BeEmpty())

	h.fake.ClearFaults()
	h.requestCS(g, "checkout")
	g.Eventually(func() int { return len(h.fake.LoggedEvents()) }, wait, poll).Should(Equal(1))
	g.Consistently(func() int { return len(h.fake.LoggedEvents()) }, quiet, poll).Should(Equal(1))
	g.Expect(h.getCS("checkout").Status.StatsigEvents.FailedSends).To(BeZero())
}

// A ClusterConfigSnapshot reports the rollouts of its targets in every namespace it writes to, in
// one call, and logs its exposures once every namespace's pods run the group.
func TestClusterConfigSnapshotReportsRolloutsInEveryNamespace(t *testing.T) {
	g := NewWithT(t)
	f := newFleet(2)
	f.create(t, 0, true)
	f.create(t, 1, true)
	h := newHarness(t, withNamespaces(f.names...))
	h.fake.SetExperiment("checkout_exp", "Control", map[string]any{"button": "blue"})
	h.serverSecret("statsig")
	a, b := &harness{t: t, ns: f.names[0]}, &harness{t: t, ns: f.names[1]}
	a.deployment("checkout-api")
	b.deployment("checkout-api")
	ccs := h.clusterSnapshot(f, snapExperiments("checkout_exp"), snapRollout("Deployment", "checkout-api"),
		snapLogExposures(), snapRolloutEvents())
	rolledOut := func() string {
		return conditionReason(h.getCCS(ccs.Name).Status.Conditions, statsigv1alpha1.ConditionRolledOut)
	}
	g.Eventually(rolledOut, wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress))
	a.completeRollout(g, "checkout-api")
	g.Consistently(h.fake.LoggedExposures, quiet, poll).Should(BeEmpty(), "the pods of one namespace do not run the group yet")
	b.completeRollout(g, "checkout-api")
	g.Eventually(h.fake.LoggedExposures, wait, poll).Should(ConsistOf(experimentExposure("checkout_exp", "Control")))

	h.fake.SetExperiment("checkout_exp", "Test", map[string]any{"button": "green"})
	h.requestCCS(g, ccs.Name)
	hash := h.getCCS(ccs.Name).Status.ContentHash
	g.Eventually(a.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(hash))
	g.Eventually(b.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(hash))
	g.Eventually(func() []statsigv1alpha1.ReportedRollout { return h.getCCS(ccs.Name).Status.StatsigEvents.Rollouts }, wait, poll).
		Should(HaveEach(HaveField("Rolled", hash)), "the rollouts are recorded before the operator stops")
	h.stop()
	a.completeRollout(g, "checkout-api")
	b.completeRollout(g, "checkout-api")
	h.startManager()
	g.Eventually(h.fake.LoggedEvents, wait, poll).Should(ConsistOf(
		HaveField("Value", "Deployment/"+f.names[0]+"/checkout-api"),
		HaveField("Value", "Deployment/"+f.names[1]+"/checkout-api")))
	g.Expect(h.fake.Requests(statsig.EndpointLogEvent)).To(HaveLen(1), "one call for both workloads")
	g.Expect(h.fake.LoggedEvents()[0].Metadata).To(Equal(map[string]string{
		"snapshot": "ClusterConfigSnapshot/" + ccs.Name, "contentHash": hash, "changedEntities": "experiment/checkout_exp"}))
	g.Eventually(func() int { return len(h.fake.LoggedExposures()) }, wait, poll).Should(Equal(2))
	g.Expect(h.fake.LoggedExposures()[1]).To(experimentExposure("checkout_exp", "Test"))
	g.Consistently(func() int { return len(h.fake.LoggedEvents()) + len(h.fake.LoggedExposures()) }, quiet, poll).Should(Equal(4))
	g.Expect(h.fake.Violations()).To(BeEmpty())
}

// A second change C while the rollout to B runs (C waits for the one-minute limit): B's rollout,
// which really ran, is reported when B's pods are available (its event, and the exposure of the
// group B carries, at B's completion); C's is reported when C's pods are, with what C changed
// relative to B. Nothing twice, restarts included.
func TestConfigSnapshotReportsRolloutSupersededWhileInProgress(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetExperiment("checkout_exp", "Control", map[string]any{"button": "blue"})
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.deployment("checkout-api")
	h.configSnapshot("checkout", snapExperiments("checkout_exp"), snapConfigs("checkout_settings"),
		snapRollout("Deployment", "checkout-api"), snapLogExposures(), snapRolloutEvents())
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(h.fake.LoggedExposures, wait, poll).Should(ConsistOf(experimentExposure("checkout_exp", "Control")))

	// B: a new group and a new config value; rolled at once.
	h.fake.SetExperiment("checkout_exp", "Test", map[string]any{"button": "green"})
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCS(g, "checkout")
	hashB := h.getCS("checkout").Status.ContentHash
	g.Eventually(h.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(hashB))

	// C, within the minute: its rollout waits; B's keeps running.
	h.fake.SetExperiment("checkout_exp", "Treatment", map[string]any{"button": "red"})
	h.requestCS(g, "checkout")
	hashC := h.getCS("checkout").Status.ContentHash
	g.Expect(hashC).NotTo(Equal(hashB))
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutPending))
	g.Consistently(h.fake.LoggedEvents, quiet, poll).Should(BeEmpty(), "B's pods are not available yet")

	// B's pods become available while C waits: B's rollout is reported, and B's group exposed.
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.fake.LoggedEvents, wait, poll).Should(HaveLen(1), "B's rollout completed: its event is due")
	g.Expect(h.fake.LoggedEvents()[0]).To(And(
		HaveField("Value", "Deployment/"+h.ns+"/checkout-api"),
		HaveField("Metadata", Equal(map[string]string{
			"snapshot": "ConfigSnapshot/" + h.ns + "/checkout", "contentHash": hashB,
			"changedEntities": "dynamicConfig/checkout_settings,experiment/checkout_exp",
		}))))
	g.Eventually(func() int { return len(h.fake.LoggedExposures()) }, wait, poll).Should(Equal(2), "B's group runs in pods now")
	g.Expect(h.fake.LoggedExposures()[1]).To(experimentExposure("checkout_exp", "Test"))
	g.Expect(h.snapshotHashOf("checkout-api")()).To(Equal(hashB), "C still waits for the limit")

	// Restarted before C rolls (once status records what was sent): nothing of B is sent again.
	g.Eventually(h.sentStatus("checkout"), wait, poll).Should(ConsistOf("Experiment/checkout_exp=Test",
		"Deployment/"+h.ns+"/checkout-api="+hashB))
	h.stop()
	h.startManager()
	h.requestCS(g, "checkout")
	g.Consistently(func() int { return len(h.fake.LoggedEvents()) + len(h.fake.LoggedExposures()) }, quiet, poll).Should(Equal(3),
		"events %v, exposures %v", h.fake.LoggedEvents(), h.fake.LoggedExposures())

	// The limit passes: C rolls, and is reported when its pods are available, with what C changed
	// relative to B.
	h.rolloutClock.Step(2 * time.Minute)
	h.requestCS(g, "checkout")
	g.Eventually(h.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(hashC))
	h.completeRollout(g, "checkout-api")
	g.Eventually(func() int { return len(h.fake.LoggedEvents()) }, wait, poll).Should(Equal(2))
	g.Expect(h.fake.LoggedEvents()[1].Metadata).To(Equal(map[string]string{
		"snapshot": "ConfigSnapshot/" + h.ns + "/checkout", "contentHash": hashC, "changedEntities": "experiment/checkout_exp"}))
	g.Eventually(func() int { return len(h.fake.LoggedExposures()) }, wait, poll).Should(Equal(3))
	g.Expect(h.fake.LoggedExposures()[2]).To(experimentExposure("checkout_exp", "Treatment"))
	g.Eventually(h.sentStatus("checkout"), wait, poll).Should(ConsistOf("Experiment/checkout_exp=Treatment",
		"Deployment/"+h.ns+"/checkout-api="+hashC))

	h.stop()
	h.startManager()
	h.requestCS(g, "checkout")
	g.Consistently(func() int { return len(h.fake.LoggedEvents()) + len(h.fake.LoggedExposures()) }, quiet, poll).Should(Equal(5))
	g.Expect(h.getCS("checkout").Status.StatsigEvents.Rollouts).To(ConsistOf(HaveField("Rolled", "")), "nothing left in flight")
	g.Expect(h.fake.Violations()).To(BeEmpty())
}
