package controllers

// The promise of rolloutTargets (api.md, "The promise is about pods"): whatever the order in which
// a snapshot, its ConfigMap and its targets appear, every target ends up running pods started from
// the current content, within seconds of the change or of the one-minute limit passing.

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// rolloutIntervals holds, per harness, a real-clock rollout limit shorter than the contract's
// minute, for the tests that need the limit to pass on its own (the requeue that ends a wait runs
// on real time, so a fake clock cannot end it).
var rolloutIntervals sync.Map

// withRealRolloutInterval runs the harness's rollouts on the real clock with limit d.
func withRealRolloutInterval(d time.Duration) harnessOption {
	return func(h *harness) { rolloutIntervals.Store(h, d) }
}

// laggingCaches holds, per harness, the client whose reads of snapshots lag behind their own status
// writes.
var laggingCaches sync.Map

// withLaggingCache makes the snapshot reconcilers' cache-backed reads lag behind their own status
// writes, as an informer does for a few milliseconds after each write: the first read of a snapshot
// after its status was patched returns the object as it was before that patch, as long as nothing
// else changed it since. This is the race measured in a real cluster, made certain.
func withLaggingCache() harnessOption {
	return func(h *harness) { laggingCaches.Store(h, true) }
}

type laggingClient struct {
	client.Client
	mu sync.Mutex
	// read is the last object read per key; lagging the RV the status patch produced, for keys
	// whose next read lags.
	read    map[types.NamespacedName]client.Object
	lagging map[types.NamespacedName]string
}

func newLaggingClient(c client.Client) *laggingClient {
	return &laggingClient{Client: c, read: map[types.NamespacedName]client.Object{}, lagging: map[types.NamespacedName]string{}}
}

func lags(obj client.Object) bool {
	switch obj.(type) {
	case *statsigv1alpha1.ConfigSnapshot, *statsigv1alpha1.ClusterConfigSnapshot:
		return true
	}
	return false
}

func (c *laggingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil || !lags(obj) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rv, ok := c.lagging[key]; ok {
		delete(c.lagging, key)
		// Only while the cache holds nothing newer than the patch: an event of the object itself
		// brings the cache up to that event, own writes included.
		if old := c.read[key]; old != nil && obj.GetResourceVersion() == rv {
			copyInto(old, obj)
			return nil
		}
	}
	c.read[key] = obj.DeepCopyObject().(client.Object)
	return nil
}

func copyInto(from, to client.Object) {
	switch t := to.(type) {
	case *statsigv1alpha1.ConfigSnapshot:
		from.(*statsigv1alpha1.ConfigSnapshot).DeepCopyInto(t)
	case *statsigv1alpha1.ClusterConfigSnapshot:
		from.(*statsigv1alpha1.ClusterConfigSnapshot).DeepCopyInto(t)
	}
}

func (c *laggingClient) Status() client.SubResourceWriter {
	return &laggingStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type laggingStatus struct {
	client.SubResourceWriter
	c *laggingClient
}

func (s *laggingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := s.SubResourceWriter.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.lagging[client.ObjectKeyFromObject(obj)] = obj.GetResourceVersion()
	return nil
}

// completeRollout sets a Deployment's status as its controller would once every replica runs the
// current template (envtest runs no controllers).
// completeRollout marks the Deployment's rollout complete, as its controller would once the new
// pods are available. It first waits until a snapshot has decided about the target (its
// status.rollouts names it with a hash): pods made ready before the snapshot's first content would
// have started without it, and such a target is rolled once.
func (h *harness) completeRollout(g Gomega, name string) {
	ns := h.getDeployment(name).Namespace
	g.Eventually(func() bool {
		var cs statsigv1alpha1.ConfigSnapshotList
		var ccs statsigv1alpha1.ClusterConfigSnapshotList
		if k8s.List(context.Background(), &cs) != nil || k8s.List(context.Background(), &ccs) != nil {
			return false
		}
		var rollouts []statsigv1alpha1.RolloutStatus
		for _, o := range cs.Items {
			rollouts = append(rollouts, o.Status.Rollouts...)
		}
		for _, o := range ccs.Items {
			rollouts = append(rollouts, o.Status.Rollouts...)
		}
		for _, r := range rollouts {
			if r.Kind == "Deployment" && r.Namespace == ns && r.Name == name && r.Hash != "" {
				return true
			}
		}
		return false
	}, wait, poll).Should(BeTrue(), "a snapshot decided about Deployment %s/%s", ns, name)
	g.Eventually(func() error {
		d := h.getDeployment(name)
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n,
			ReadyReplicas: n, AvailableReplicas: n}
		return k8s.Status().Update(context.Background(), d)
	}, wait, poll).Should(Succeed())
}

func (h *harness) rolledOut(name string) func() string {
	return func() string {
		return conditionReason(h.getCS(name).Status.Conditions, statsigv1alpha1.ConditionRolledOut)
	}
}

func (h *harness) snapshotHashOf(name string) func() string {
	return func() string {
		return h.getDeployment(name).Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash]
	}
}

// Defect 1 as measured: the snapshot first, then its Deployment, then a change. The Deployment's
// pods read the content of the moment they started; the change must roll them.
func TestConfigSnapshotRollsTargetCreatedAfterItThenChanged(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.configSnapshot("checkout", snapConfigs("checkout_settings"), snapRollout("Deployment", "checkout-api"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonTargetNotFound))

	h.deployment("checkout-api")
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCS(g, "checkout")
	changed := h.getCS("checkout").Status.ContentHash
	g.Eventually(h.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(changed),
		"a Deployment that existed before the change runs pods from older content: it must roll")
	g.Eventually(func() []statsigv1alpha1.RolloutStatus { return h.getCS("checkout").Status.Rollouts }, wait, poll).
		Should(ConsistOf(HaveField("Hash", changed)))
}

// Defect 2 as measured: a second change within the limit after a rollout rolls when the limit has
// passed, not at the next refresh, even though the reconcile that follows the change reads a
// cache that has not yet seen the status it wrote. The limit is 5 s of real time here, the refresh
// period 864 s.
func TestConfigSnapshotSecondChangeRollsWhenTheLimitPasses(t *testing.T) {
	const limit = 5 * time.Second
	g := NewWithT(t)
	h := newHarness(t, withRealRolloutInterval(limit), withLaggingCache())
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.deployment("checkout-api")
	h.configSnapshot("checkout", snapConfigs("checkout_settings"), snapRollout("Deployment", "checkout-api"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(func() []statsigv1alpha1.RolloutStatus { return h.getCS("checkout").Status.Rollouts }, wait, poll).Should(HaveLen(1))

	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCS(g, "checkout")
	first := h.getCS("checkout").Status.ContentHash
	g.Eventually(h.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(first))

	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 7})
	h.requestCS(g, "checkout")
	cs := h.getCS("checkout")
	second := cs.Status.ContentHash
	g.Expect(second).NotTo(Equal(first))
	c := meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionRolledOut)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Reason).To(Equal(statsigv1alpha1.ReasonRolloutPending), "the second change came within the limit (the test ran too slowly otherwise)")
	pending := c.Message

	g.Eventually(h.snapshotHashOf("checkout-api"), 3*limit, poll).Should(Equal(second),
		"the waiting rollout runs when the limit has passed, not at the next refresh")
	g.Eventually(func() []statsigv1alpha1.RolloutStatus { return h.getCS("checkout").Status.Rollouts }, wait, poll).
		Should(ConsistOf(HaveField("Hash", second)))
	g.Eventually(func() []eventsv1.Event { return h.events(statsigv1alpha1.ReasonRolledOut) }, wait, poll).Should(HaveLen(2))
	evs := h.events(statsigv1alpha1.ReasonRolledOut)
	gap := evs[1].EventTime.Sub(evs[0].EventTime.Time)
	if evs[0].EventTime.After(evs[1].EventTime.Time) {
		gap = -gap
	}
	g.Expect(gap).To(BeNumerically(">=", limit), "never two rollouts of a target within the limit")
	g.Expect(pending).To(MatchRegexp(`at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`), "while it waited, the message said when the rollout would happen")
}

// A target created after the content it consumes was written is not rolled, and RolledOut waits
// for its pods before turning True.
func TestConfigSnapshotAdoptsTargetCreatedAfterContent(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.configSnapshot("checkout", snapConfigs("checkout_settings"), snapRollout("Deployment", "checkout-api"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCS(g, "checkout")
	cs := h.getCS("checkout")
	g.Expect(cs.Status.ContentChangedTime).NotTo(BeNil())
	// creationTimestamp has whole seconds: a Deployment created in the second the content changed
	// may have started before it, and is rolled. Create this one in a later second.
	g.Eventually(func() bool { return time.Now().Truncate(time.Second).After(cs.Status.ContentChangedTime.Time) }, wait, poll).Should(BeTrue())

	h.deployment("checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress),
		"the new Deployment is noticed at once, and is not rolled out until its replicas are available")
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	g.Expect(h.snapshotHashOf("checkout-api")()).To(BeEmpty(), "its pods already read the current content")
	g.Expect(h.getDeployment("checkout-api").Generation).To(BeEquivalentTo(1))
	g.Expect(h.getCS("checkout").Status.Rollouts).To(ConsistOf(HaveField("Hash", cs.Status.ContentHash)))
	g.Expect(h.events(statsigv1alpha1.ReasonRolledOut)).To(BeEmpty())
}

// Restarting the operator rolls nothing, whatever the targets' state: rolled, adopted, or waiting
// to be created.
func TestConfigSnapshotRestartRollsNothing(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.deployment("rolled")
	h.configSnapshot("checkout", snapConfigs("checkout_settings"),
		snapRollout("Deployment", "rolled"), snapRollout("Deployment", "adopted"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCS(g, "checkout")
	g.Eventually(h.snapshotHashOf("rolled"), wait, poll).Should(Equal(h.getCS("checkout").Status.ContentHash))
	cs := h.getCS("checkout")
	g.Eventually(func() bool { return time.Now().Truncate(time.Second).After(cs.Status.ContentChangedTime.Time) }, wait, poll).Should(BeTrue())
	h.deployment("adopted")
	h.completeRollout(g, "rolled")
	h.completeRollout(g, "adopted")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	rvs := map[string]string{"rolled": h.getDeployment("rolled").ResourceVersion, "adopted": h.getDeployment("adopted").ResourceVersion}

	h.stop()
	h.startManager()
	h.requestCS(g, "checkout") // a reconcile after the restart, to be sure one ran
	g.Consistently(func() map[string]string {
		return map[string]string{"rolled": h.getDeployment("rolled").ResourceVersion, "adopted": h.getDeployment("adopted").ResourceVersion}
	}, time.Second, 50*time.Millisecond).Should(Equal(rvs))
	g.Expect(h.rolledOut("checkout")()).To(Equal("True"))
}

// Defect 1 for a ClusterConfigSnapshot: its targets in a selected namespace, created after the
// snapshot and before a change, are rolled by the change.
func TestClusterConfigSnapshotRollsTargetCreatedAfterItThenChanged(t *testing.T) {
	g := NewWithT(t)
	f := newFleet(1)
	f.create(t, 0, true)
	h := newHarness(t, withNamespaces(f.names...))
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	ccs := h.clusterSnapshot(f, snapConfigs("checkout_settings"), snapRollout("Deployment", "checkout-api"))
	rolledOut := func() string {
		return conditionReason(h.getCCS(ccs.Name).Status.Conditions, statsigv1alpha1.ConditionRolledOut)
	}
	g.Eventually(rolledOut, wait, poll).Should(Equal(statsigv1alpha1.ReasonTargetNotFound))

	other := &harness{t: t, ns: f.names[0]}
	other.deployment("checkout-api")
	g.Eventually(rolledOut, wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress), "the new Deployment is noticed at once")
	other.completeRollout(g, "checkout-api")
	g.Eventually(rolledOut, wait, poll).Should(Equal("True"))

	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	h.requestCCS(g, ccs.Name)
	changed := h.getCCS(ccs.Name).Status.ContentHash
	g.Eventually(other.snapshotHashOf("checkout-api"), wait, poll).Should(Equal(changed))
	g.Eventually(rolledOut, wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress))
	other.completeRollout(g, "checkout-api")
	g.Eventually(rolledOut, wait, poll).Should(Equal("True"))
}
