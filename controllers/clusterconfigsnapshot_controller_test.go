package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// fleet is a set of namespaces for one ClusterConfigSnapshot test, selected by a label that no
// other test uses.
type fleet struct {
	id    string // label value and name prefix
	names []string
}

const fleetLabel = "statsig-operator.io/test-fleet"

// newFleet names n namespaces; create them with create.
func newFleet(n int) *fleet {
	f := &fleet{id: fmt.Sprintf("fleet%d", nsCounter.Add(1))}
	for i := range n {
		f.names = append(f.names, fmt.Sprintf("%s-ns%02d", f.id, i))
	}
	return f
}

// create creates namespace i, selected or not.
func (f *fleet) create(t *testing.T, i int, selected bool) {
	t.Helper()
	var l map[string]string
	if selected {
		l = map[string]string{fleetLabel: f.id}
	}
	if err := k8s.Create(context.Background(), testenv.Namespace(f.names[i], l)); err != nil {
		t.Fatal(err)
	}
}

// label selects (or unselects) namespace i.
func (f *fleet) label(g Gomega, i int, selected bool) {
	ns := &corev1.Namespace{}
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Name: f.names[i]}, ns)).To(Succeed())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	if selected {
		ns.Labels[fleetLabel] = f.id
	} else {
		delete(ns.Labels, fleetLabel)
	}
	g.Expect(k8s.Update(context.Background(), ns)).To(Succeed())
}

func (f *fleet) selector() metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{fleetLabel: f.id}}
}

// clusterSnapshot creates a ClusterConfigSnapshot reading the Secret "statsig" of the test's
// namespace and writing the ConfigMap "flags" into the fleet; it is deleted when the test ends, so
// that no later test's manager sees it.
func (h *harness) clusterSnapshot(f *fleet, opts ...snapOption) *statsigv1alpha1.ClusterConfigSnapshot {
	e, t := snapSpec("flags", opts)
	ccs := &statsigv1alpha1.ClusterConfigSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: f.id},
		Spec: statsigv1alpha1.ClusterConfigSnapshotSpec{
			SecretRef:        &statsigv1alpha1.SecretReference{Namespace: h.ns, Name: "statsig"},
			SnapshotEntities: e,
			Target:           statsigv1alpha1.ClusterSnapshotTarget{SnapshotTarget: t, NamespaceSelector: f.selector()},
		},
	}
	if err := k8s.Create(context.Background(), ccs); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = k8s.Delete(context.Background(), ccs) })
	return ccs
}

func (h *harness) getCCS(name string) *statsigv1alpha1.ClusterConfigSnapshot {
	ccs := &statsigv1alpha1.ClusterConfigSnapshot{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: name}, ccs); err != nil {
		h.t.Fatal(err)
	}
	return ccs
}

func (h *harness) ccsReady(name string) func() string {
	return func() string {
		return conditionReason(h.getCCS(name).Status.Conditions, statsigv1alpha1.ConditionReady)
	}
}

func (h *harness) requestCCS(g Gomega, name string) {
	h.request(g, h.getCCS(name), func() string { return h.getCCS(name).Status.LastHandledRequestedAt })
}

// flags returns the ConfigMap "flags" of a namespace, nil when there is none.
func flags(g Gomega, ns string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "flags"}, cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	g.Expect(err).NotTo(HaveOccurred())
	return cm
}

// holders lists the fleet's namespaces that hold the ConfigMap.
func holders(g Gomega, f *fleet) []string {
	var out []string
	for _, ns := range f.names {
		if flags(g, ns) != nil {
			out = append(out, ns)
		}
	}
	return out
}

func setFlagState(fake *statsigtest.Server) {
	fake.SetGate("new_checkout", true)
	fake.SetGate("dark_mode", false)
	fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	fake.SetExperiment("button_color_test", "Test", map[string]any{"color": "blue"})
	fake.SetLayer("checkout_layer", map[string]any{"steps": 2}, "")
}

func flagOptions() []snapOption {
	return []snapOption{snapGates("new_checkout", "dark_mode"), snapConfigs("checkout_settings"),
		snapExperiments("button_color_test"), snapLayers("checkout_layer")}
}

// oneCallSet is what one refresh of flagOptions costs: one batched check_gate, one get_config per
// config and experiment, one get_layer per layer.
var oneCallSet = map[string]int{statsig.EndpointCheckGate: 1, statsig.EndpointGetConfig: 2, statsig.EndpointGetLayer: 1}

func TestClusterConfigSnapshotFollowsNamespaces(t *testing.T) {
	g := NewWithT(t)
	f := newFleet(6)
	for i := range 5 {
		f.create(t, i, i < 3) // 0, 1, 2 match; 3 and 4 do not; 5 is created later
	}
	h := newHarness(t, withNamespaces(f.names...))
	setFlagState(h.fake)
	h.serverSecret("statsig")
	ccs := h.clusterSnapshot(f, flagOptions()...)

	g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal("True"))
	g.Eventually(func() []string { return holders(g, f) }, wait, poll).Should(Equal(f.names[:3]))
	g.Expect(callSet(h.fake)).To(Equal(oneCallSet), "one call set for three namespaces")
	st := h.getCCS(ccs.Name).Status
	g.Expect(st.Namespaces).To(BeEquivalentTo(3))
	g.Expect(st.FailedNamespaces).To(BeEmpty())
	g.Expect(st.Entities).To(BeEquivalentTo(5))
	first := flags(g, f.names[0])
	for _, ns := range f.names[:3] {
		cm := flags(g, ns)
		g.Expect(cm.Data).To(Equal(first.Data))
		g.Expect(cm.Data).To(HaveKeyWithValue("gate.new_checkout", "true"))
		g.Expect(cm.Annotations).To(HaveKeyWithValue(statsigv1alpha1.AnnotationOwner, "ClusterConfigSnapshot/"+ccs.Name))
		g.Expect(cm.Annotations).To(HaveKeyWithValue(statsigv1alpha1.AnnotationContentHash, st.ContentHash))
		g.Expect(cm.Labels).To(HaveKeyWithValue(statsigv1alpha1.LabelOwnerKind, "ClusterConfigSnapshot"))
		g.Expect(cm.OwnerReferences).To(ConsistOf(And(HaveField("Kind", "ClusterConfigSnapshot"), HaveField("UID", ccs.UID), HaveField("Controller", HaveValue(BeTrue())))))
	}

	// Namespaces that start matching get the content from memory, without calling Statsig: one
	// labelled, one created with the label.
	h.fake.ResetCounts()
	f.label(g, 3, true)
	g.Eventually(func() []string { return holders(g, f) }, wait, poll).Should(Equal(f.names[:4]))
	f.create(t, 5, true)
	g.Eventually(func() []string { return holders(g, f) }, wait, poll).Should(Equal([]string{f.names[0], f.names[1], f.names[2], f.names[3], f.names[5]}))
	g.Expect(flags(g, f.names[5]).Data).To(Equal(first.Data))
	// One that stops matching loses it.
	f.label(g, 1, false)
	g.Eventually(func() []string { return holders(g, f) }, wait, poll).Should(Equal([]string{f.names[0], f.names[2], f.names[3], f.names[5]}))
	g.Eventually(func() int32 { return h.getCCS(ccs.Name).Status.Namespaces }, wait, poll).Should(BeEquivalentTo(4))
	g.Expect(callSet(h.fake)).To(BeEmpty(), "namespaces moving in and out cost no Statsig call")

	// A refresh over four namespaces is still one call set, and a change reaches all four.
	h.fake.SetGate("new_checkout", false)
	h.requestCCS(g, ccs.Name)
	g.Expect(callSet(h.fake)).To(Equal(oneCallSet))
	for _, ns := range []string{f.names[0], f.names[2], f.names[3], f.names[5]} {
		g.Expect(flags(g, ns).Data).To(HaveKeyWithValue("gate.new_checkout", "false"), ns)
	}
	g.Expect(flags(g, f.names[1])).To(BeNil())
	g.Expect(flags(g, f.names[4])).To(BeNil())
}

// TestClusterConfigSnapshotCallsPerRefreshAt50Namespaces measures what one ClusterConfigSnapshot
// fanned out to 50 namespaces costs in Statsig calls per refresh, and shows that the cost is the
// same for one namespace.
func TestClusterConfigSnapshotCallsPerRefreshAt50Namespaces(t *testing.T) {
	g := NewWithT(t)
	const n = 50
	f := newFleet(n)
	for i := range n {
		f.create(t, i, true)
	}
	h := newHarness(t, withNamespaces(f.names...))
	setFlagState(h.fake)
	// Discovery too, over two Console pages, so that list calls are part of the measure.
	h.fake.SetEntities(statsig.EntityGates, []statsig.Entity{{ID: "new_checkout"}, {ID: "dark_mode"}, {ID: "one_more"}})
	h.fake.SetGate("one_more", true)
	h.fake.SetPageSize(2)
	h.serverSecret("statsig")
	ccs := h.clusterSnapshot(f, append(flagOptions(), snapDiscover(statsigv1alpha1.Discover{Gates: true}), snapRefresh(30))...)
	g.Eventually(func() int32 { return h.getCCS(ccs.Name).Status.Namespaces }, 60*time.Second, 100*time.Millisecond).Should(BeEquivalentTo(n))
	g.Expect(h.getCCS(ccs.Name).Status.FailedNamespaces).To(BeEmpty())
	perRefresh := map[string]int{statsig.EndpointListGates: 2, statsig.EndpointCheckGate: 1, statsig.EndpointGetConfig: 2, statsig.EndpointGetLayer: 1}
	total := 0
	for _, c := range perRefresh {
		total += c
	}

	// Steady state: refreshes every 30 s (scaled: 300 ms) over 50 namespaces. Each refresh makes
	// exactly one check_gate call, so check_gate counts the refreshes.
	g.Eventually(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, wait, poll).Should(BeNumerically(">=", 2))
	h.fake.ResetCounts()
	writes := h.writes.Get("ConfigMap/update") + h.writes.Get("ConfigMap/create")
	g.Eventually(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, wait, poll).Should(BeNumerically(">=", 10))
	calls := callSet(h.fake)
	refreshes := calls[statsig.EndpointCheckGate]
	g.Expect(refreshes).To(BeNumerically(">=", 3), "refreshes kept happening")
	sum := 0
	for e, c := range calls {
		g.Expect(perRefresh).To(HaveKey(e))
		// The window may cut one refresh in two: its calls before the cut count, the rest not.
		g.Expect(c).To(BeNumerically("~", perRefresh[e]*refreshes, perRefresh[e]), "%s: %d calls over %d refreshes", e, c, refreshes)
		sum += c
	}
	t.Logf("ClusterConfigSnapshot over %d namespaces: %d refreshes in 3s, %d Statsig calls = %.1f calls per refresh (%v per refresh); %d ConfigMap writes",
		n, refreshes, sum, float64(sum)/float64(refreshes), perRefresh, h.writes.Get("ConfigMap/update")+h.writes.Get("ConfigMap/create")-writes)
	g.Expect(h.writes.Get("ConfigMap/update")+h.writes.Get("ConfigMap/create")).To(Equal(writes), "unchanged refreshes write nothing")

	// The same snapshot narrowed to one namespace makes the same calls per sync.
	ccsNow := h.getCCS(ccs.Name)
	patch := client.MergeFrom(ccsNow.DeepCopy())
	ccsNow.Spec.RefreshIntervalSeconds = 86400
	g.Expect(k8s.Patch(context.Background(), ccsNow, patch)).To(Succeed())
	g.Eventually(func() int64 { return h.getCCS(ccs.Name).Status.ObservedGeneration }, wait, poll).Should(Equal(ccsNow.Generation))
	h.fake.ResetCounts()
	h.requestCCS(g, ccs.Name)
	at50 := callSet(h.fake)
	for i := 1; i < n; i++ {
		f.label(g, i, false)
	}
	g.Eventually(func() int32 { return h.getCCS(ccs.Name).Status.Namespaces }, 60*time.Second, 100*time.Millisecond).Should(BeEquivalentTo(1))
	h.fake.ResetCounts()
	h.requestCCS(g, ccs.Name)
	at1 := callSet(h.fake)
	t.Logf("one sync: %v at %d namespaces, %v at 1 namespace", at50, n, at1)
	g.Expect(at50).To(Equal(perRefresh))
	g.Expect(at1).To(Equal(at50))
	g.Expect(total).To(Equal(6))
}

func TestClusterConfigSnapshotReportsFailedNamespaces(t *testing.T) {
	g := NewWithT(t)
	f := newFleet(3)
	for i := range 3 {
		f.create(t, i, true)
	}
	// Someone else's ConfigMap "flags" in the middle namespace.
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.names[1], Name: "flags"}, Data: map[string]string{"keep": "me"}}
	g.Expect(k8s.Create(context.Background(), theirs)).To(Succeed())
	h := newHarness(t, withNamespaces(f.names...))
	setFlagState(h.fake)
	h.serverSecret("statsig")
	ccs := h.clusterSnapshot(f, flagOptions()...)

	g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal(statsigv1alpha1.ReasonTargetConflict))
	st := h.getCCS(ccs.Name).Status
	g.Expect(st.Namespaces).To(BeEquivalentTo(2))
	g.Expect(st.FailedNamespaces).To(ConsistOf(And(HaveField("Name", f.names[1]), HaveField("Message", ContainSubstring("was not created by this ClusterConfigSnapshot")))))
	g.Expect(meta.FindStatusCondition(st.Conditions, statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("1 of 3 namespaces"))
	// The namespace that failed does not hold the fresh output: Stale says so.
	g.Expect(meta.FindStatusCondition(st.Conditions, statsigv1alpha1.ConditionStale)).To(And(
		HaveField("Status", metav1.ConditionTrue), HaveField("Reason", statsigv1alpha1.ReasonSyncFailing),
		HaveField("Message", ContainSubstring("status.failedNamespaces"))))
	g.Expect(flags(g, f.names[0])).NotTo(BeNil())
	g.Expect(flags(g, f.names[2])).NotTo(BeNil())
	// Another refresh, still failing: the failure keeps its start ("failing since") and Ready its
	// transition time.
	before := h.getCCS(ccs.Name).Status.Conditions
	// Condition times have whole seconds: the next sync must fall in a later one to show that it
	// kept them.
	g.Eventually(func() time.Time { return time.Now().Truncate(time.Second) }, wait, poll).Should(
		BeTemporally(">", meta.FindStatusCondition(before, statsigv1alpha1.ConditionReady).LastTransitionTime.Time))
	h.requestCCS(g, ccs.Name)
	after := h.getCCS(ccs.Name).Status.Conditions
	for _, typ := range []string{statsigv1alpha1.ConditionReady, statsigv1alpha1.ConditionStale} {
		g.Expect(meta.FindStatusCondition(after, typ).LastTransitionTime).To(Equal(meta.FindStatusCondition(before, typ).LastTransitionTime), typ)
	}
	g.Expect(meta.FindStatusCondition(after, statsigv1alpha1.ConditionStale).Message).To(Equal(meta.FindStatusCondition(before, statsigv1alpha1.ConditionStale).Message))
	got := flags(g, f.names[1])
	g.Expect(got.Data).To(Equal(map[string]string{"keep": "me"}))
	g.Expect(got.OwnerReferences).To(BeEmpty())

	// The conflict goes away: the namespace is written, from memory, and Ready comes back.
	calls := h.fake.Count(statsigtest.AllEndpoints)
	g.Expect(k8s.Delete(context.Background(), theirs)).To(Succeed())
	f.label(g, 1, false) // a namespace event wakes the snapshot (the foreign ConfigMap is not watched)
	f.label(g, 1, true)
	// (Ready may be True for a moment while the namespace is unlabelled: two namespaces, none failed.)
	g.Eventually(func() statsigv1alpha1.ClusterConfigSnapshotStatus { return h.getCCS(ccs.Name).Status }, wait, poll).Should(And(
		HaveField("Namespaces", BeEquivalentTo(3)), HaveField("FailedNamespaces", BeEmpty())))
	g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal("True"))
	g.Expect(meta.IsStatusConditionFalse(h.getCCS(ccs.Name).Status.Conditions, statsigv1alpha1.ConditionStale)).To(BeTrue())
	g.Expect(flags(g, f.names[1]).Data).To(HaveKeyWithValue("gate.new_checkout", "true"))
	g.Expect(h.fake.Count(statsigtest.AllEndpoints)).To(Equal(calls))
}

func TestClusterConfigSnapshotUsesDefaultSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sysNS := fmt.Sprintf("sys-%d", nsCounter.Add(1))
	g.Expect(k8s.Create(ctx, testenv.Namespace(sysNS, nil))).To(Succeed())
	f := newFleet(1)
	f.create(t, 0, true)
	// No namespace is trusted: that limits namespaced kinds only, never cluster-scoped ones.
	h := newHarness(t, withNamespaces(f.names...), withDefaultSecret(types.NamespacedName{Namespace: sysNS, Name: "statsig-default"}, labels.Nothing()))
	setFlagState(h.fake)
	def := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sysNS, Name: "statsig-default"},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: h.fake.ServerKey}}
	g.Expect(k8s.Create(ctx, def)).To(Succeed())
	ccs := h.clusterSnapshot(f, snapGates("new_checkout"))
	patch := client.MergeFrom(ccs.DeepCopy())
	ccs.Spec.SecretRef = nil
	g.Expect(k8s.Patch(ctx, ccs, patch)).To(Succeed())
	g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal("True"))
	g.Expect(flags(g, f.names[0]).Data).To(HaveKeyWithValue("gate.new_checkout", "true"))
}

// TestSnapshotFailuresLeaveEveryOutputByteIdentical runs a ConfigSnapshot with a rollout target and
// a ClusterConfigSnapshot over two namespaces into Statsig failures: no ConfigMap and no Deployment
// may change, and Ready says which failure it is.
func TestSnapshotFailuresLeaveEveryOutputByteIdentical(t *testing.T) {
	for name, c := range map[string]struct {
		fault  statsigtest.Fault
		reason string
	}{
		"401":       {statsigtest.Fault{Status: 401}, statsigv1alpha1.ReasonStatsigUnauthorized},
		"503":       {statsigtest.Fault{Status: 503}, statsigv1alpha1.ReasonStatsigUnavailable},
		"429":       {statsigtest.Fault{Status: 429, RetryAfter: "1"}, statsigv1alpha1.ReasonStatsigRateLimited},
		"malformed": {statsigtest.Fault{Malformed: true}, statsigv1alpha1.ReasonInvalidResponse},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFleet(2)
			f.create(t, 0, true)
			f.create(t, 1, true)
			h := newHarness(t, withNamespaces(f.names...))
			setFlagState(h.fake)
			h.serverSecret("statsig")
			h.deployment("checkout-api")
			h.configSnapshot("checkout", append(flagOptions(), snapRollout("Deployment", "checkout-api"))...)
			ccs := h.clusterSnapshot(f, flagOptions()...)
			g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
			g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal("True"))
			g.Eventually(func() []string { return holders(g, f) }, wait, poll).Should(Equal(f.names))

			before := map[string]*corev1.ConfigMap{}
			cm, err := h.configMap("checkout-statsig")()
			g.Expect(err).NotTo(HaveOccurred())
			before[h.ns] = cm
			for _, ns := range f.names {
				before[ns] = flags(g, ns)
			}
			deploy := h.getDeployment("checkout-api")

			// A good sync now would change every output and roll the Deployment.
			setFlagState(h.fake)
			h.fake.SetGate("new_checkout", false)
			h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
			h.fake.Fault(statsigtest.AllEndpoints, c.fault)
			h.requestCS(g, "checkout")
			h.requestCCS(g, ccs.Name)
			g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal(c.reason))
			g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal(c.reason))

			after := map[string]*corev1.ConfigMap{}
			cm, err = h.configMap("checkout-statsig")()
			g.Expect(err).NotTo(HaveOccurred())
			after[h.ns] = cm
			for _, ns := range f.names {
				after[ns] = flags(g, ns)
			}
			for ns, b := range before {
				g.Expect(after[ns].ResourceVersion).To(Equal(b.ResourceVersion), ns)
				g.Expect(after[ns].Data).To(Equal(b.Data), ns)
				g.Expect(after[ns].Annotations).To(Equal(b.Annotations), ns)
			}
			g.Expect(h.getDeployment("checkout-api").ResourceVersion).To(Equal(deploy.ResourceVersion))
			for _, conds := range [][]metav1.Condition{h.getCS("checkout").Status.Conditions, h.getCCS(ccs.Name).Status.Conditions} {
				g.Expect(meta.FindStatusCondition(conds, statsigv1alpha1.ConditionStale)).To(And(
					HaveField("Status", metav1.ConditionTrue), HaveField("Reason", statsigv1alpha1.ReasonSyncFailing)))
				for _, cond := range conds {
					g.Expect(cond.Message).NotTo(ContainSubstring(h.fake.ServerKey))
				}
			}
			g.Expect(h.getCCS(ccs.Name).Status.Namespaces).To(BeEquivalentTo(2), "the namespaces still hold the last good content")

			// When Statsig recovers, both sync again and the Deployment rolls once.
			h.fake.ClearFaults()
			h.requestCS(g, "checkout")
			h.requestCCS(g, ccs.Name)
			g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
			g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal("True"))
			g.Eventually(func() map[string]string { return flags(g, f.names[0]).Data }, wait, poll).Should(HaveKeyWithValue("gate.new_checkout", "false"))
			g.Eventually(func() int64 { return h.getDeployment("checkout-api").Generation }, wait, poll).Should(Equal(deploy.Generation + 1))
		})
	}
}

// TestSnapshotsSurviveARestartWithoutCallingStatsig restarts the operator (a new manager: empty
// tracker and memory): nothing is fetched or rolled again, a namespace that starts matching gets a
// copy of the content already written, and the rollout state kept in status still holds.
func TestSnapshotsSurviveARestartWithoutCallingStatsig(t *testing.T) {
	g := NewWithT(t)
	f := newFleet(2)
	f.create(t, 0, true)
	f.create(t, 1, false)
	h := newHarness(t, withNamespaces(f.names...))
	setFlagState(h.fake)
	h.serverSecret("statsig")
	h.deployment("checkout-api")
	h.configSnapshot("checkout", append(flagOptions(), snapRollout("Deployment", "checkout-api"))...)
	ccs := h.clusterSnapshot(f, flagOptions()...)
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(h.ccsReady(ccs.Name), wait, poll).Should(Equal("True"))
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	deploy := h.getDeployment("checkout-api")
	cm, err := h.configMap("checkout-statsig")()
	g.Expect(err).NotTo(HaveOccurred())

	h.stop()
	h.fake.ResetCounts()
	h.startManager()
	f.label(g, 1, true)
	g.Eventually(func() []string { return holders(g, f) }, wait, poll).Should(Equal(f.names))
	g.Expect(flags(g, f.names[1]).Data).To(Equal(flags(g, f.names[0]).Data))
	g.Consistently(func() map[string]int { return callSet(h.fake) }, time.Second, 50*time.Millisecond).Should(BeEmpty())
	g.Expect(h.configMap("checkout-statsig")()).To(HaveField("ResourceVersion", cm.ResourceVersion))
	g.Expect(h.getDeployment("checkout-api").ResourceVersion).To(Equal(deploy.ResourceVersion))

	// A change after the restart rolls the Deployment once, as before it.
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 9})
	h.requestCS(g, "checkout")
	g.Eventually(func() int64 { return h.getDeployment("checkout-api").Generation }, wait, poll).Should(Equal(deploy.Generation + 1))
	g.Consistently(func() int64 { return h.getDeployment("checkout-api").Generation }, 500*time.Millisecond, 50*time.Millisecond).Should(Equal(deploy.Generation + 1))
}
