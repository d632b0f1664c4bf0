package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// setupGateChecks runs the GateCheck reconciler in a test's manager.
func setupGateChecks(mgr ctrl.Manager, h *harness) error {
	return (&GateCheckReconciler{
		Client:                  mgr.GetClient(),
		Credentials:             h.deps.Credentials,
		Secrets:                 h.deps.Secrets,
		Gates:                   GateCheckerFor(h.deps.Clients),
		ConfigMaps:              h.deps.ConfigMaps,
		Outputs:                 &configmap.Outputs{},
		Tracker:                 fastTracker(),
		Events:                  h.deps.Events,
		Clock:                   clock.RealClock{},
		Interval:                h.deps.Interval,
		Progress:                h.deps.Progress,
		Triggers:                h.deps.Triggers,
		MaxConcurrentReconciles: 16,
	}).SetupWithManager(mgr, h.defaultSecret)
}

const wait = 15 * time.Second
const poll = 20 * time.Millisecond

func TestGateCheckWritesStatusAndConfigMap(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.fake.SetGate("dark_mode", false)
	h.serverSecret("statsig")
	gc := h.gateCheck("checkout", []string{"new_checkout", "dark_mode"}, withTarget("checkout-gates"))

	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(h.configMap("checkout-gates"), wait, poll).Should(HaveField("Data", Equal(map[string]string{"new_checkout": "true", "dark_mode": "false"})))

	got := h.get("checkout")
	g.Expect(got.Status.Results).To(Equal([]statsigv1alpha1.GateResult{
		{Name: "new_checkout", Value: true, RuleID: "fake_pass_rule", GroupName: "Everyone"},
		{Name: "dark_mode", Value: false, RuleID: "default"},
	}))
	g.Expect(got.Status.Passing).To(Equal("1/2"))
	g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	g.Expect(got.Status.LastSyncTime).NotTo(BeNil())
	g.Expect(got.Status.Conditions).To(ContainElement(And(HaveField("Type", statsigv1alpha1.ConditionStale), HaveField("Status", metav1.ConditionFalse))))

	cm, err := h.configMap("checkout-gates")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Labels).To(Equal(map[string]string{
		"app.kubernetes.io/managed-by":   "statsig-operator",
		"statsig-operator.io/owner-kind": "GateCheck",
		"statsig-operator.io/owner-uid":  string(gc.UID),
	}))
	g.Expect(cm.Annotations).To(HaveKeyWithValue("statsig-operator.io/owner", "GateCheck/"+h.ns+"/checkout"))
	// sha256 over the data in sorted key order, computed here independently of the writer.
	sum := sha256.Sum256([]byte("dark_mode\x00false\x00new_checkout\x00true\x00"))
	g.Expect(cm.Annotations).To(HaveKeyWithValue("statsig-operator.io/content-hash", hex.EncodeToString(sum[:])))
	g.Expect(cm.OwnerReferences).To(ConsistOf(And(HaveField("UID", gc.UID), HaveField("Controller", HaveValue(BeTrue())))))

	// Exposure logging is off unless asked for.
	reqs := h.fake.Requests(statsig.EndpointCheckGate)
	g.Expect(reqs).NotTo(BeEmpty())
	g.Expect(reqs[0].JSON).To(HaveKeyWithValue("statsigMetadata", HaveKeyWithValue("exposureLoggingDisabled", true)))
	g.Eventually(func() int { return len(h.events("Synced")) }, wait, poll).Should(Equal(1))
}

// TestGateCheckRetargetDeletesTheOldConfigMap: a renamed target moves the data to the new ConfigMap
// and deletes the old one, and a removed target deletes the last; another GateCheck's ConfigMap in
// the namespace stays. The writer finds the owner's ConfigMaps through the cache's owner index.
func TestGateCheckRetargetDeletesTheOldConfigMap(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-a"))
	h.gateCheck("search", []string{"new_checkout"}, withTarget("search-gates"))
	g.Eventually(h.configMap("checkout-a"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("new_checkout", "true")))
	g.Eventually(h.configMap("search-gates"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("new_checkout", "true")))
	gone := func(name string) func() bool {
		return func() bool {
			_, err := h.configMap(name)()
			return apierrors.IsNotFound(err)
		}
	}

	// Merge patches, as kubectl sends: the operator's status writes never conflict with them.
	gc := h.get("checkout")
	before := gc.DeepCopy()
	gc.Spec.Target.ConfigMapName = "checkout-b"
	g.Expect(k8s.Patch(context.Background(), gc, client.MergeFrom(before))).To(Succeed())
	g.Eventually(h.configMap("checkout-b"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("new_checkout", "true")))
	g.Eventually(gone("checkout-a"), wait, poll).Should(BeTrue(), "the old target is deleted")

	gc = h.get("checkout")
	before = gc.DeepCopy()
	gc.Spec.Target = nil
	g.Expect(k8s.Patch(context.Background(), gc, client.MergeFrom(before))).To(Succeed())
	g.Eventually(gone("checkout-b"), wait, poll).Should(BeTrue(), "a removed target is deleted")
	_, err := h.configMap("search-gates")()
	g.Expect(err).NotTo(HaveOccurred(), "another GateCheck's ConfigMap stays")
}

func TestGateCheckFollowsFlipsOnRequestAndOnRefresh(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", false)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	g.Eventually(h.configMap("checkout-gates"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("new_checkout", "false")))

	// requested-at: an immediate sync.
	h.fake.SetGate("new_checkout", true)
	h.requestSync(g, "checkout")
	g.Expect(h.configMap("checkout-gates")()).To(HaveField("Data", HaveKeyWithValue("new_checkout", "true")))
	g.Expect(h.get("checkout").Status.Results[0].Value).To(BeTrue())
	g.Eventually(func() int { return len(h.events("GateChanged")) }, wait, poll).Should(Equal(1))

	// The refresh period: shorten it to 30 (s, scaled) and flip again without asking.
	gc := h.get("checkout")
	gc.Spec.RefreshIntervalSeconds = 30
	g.Expect(k8s.Update(context.Background(), gc)).To(Succeed())
	h.fake.SetGate("new_checkout", false)
	g.Eventually(h.configMap("checkout-gates"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("new_checkout", "false")))
	g.Eventually(func() bool { return h.get("checkout").Status.Results[0].Value }, wait, poll).Should(BeFalse())
}

// failureCase drives a Statsig failure and checks that the ConfigMap stays byte-for-byte as it was.
func failureCase(t *testing.T, fault statsigtest.Fault, wantReason string) (*harness, Gomega) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	before, err := h.configMap("checkout-gates")()
	g.Expect(err).NotTo(HaveOccurred())

	h.fake.SetGate("new_checkout", false) // a good sync would change the ConfigMap
	h.fake.Fault(statsig.EndpointCheckGate, fault)
	h.requestSync(g, "checkout")
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(wantReason))

	gc := h.get("checkout")
	stale := findCondition(gc, statsigv1alpha1.ConditionStale)
	g.Expect(stale).NotTo(BeNil())
	g.Expect(stale.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(stale.Reason).To(Equal(statsigv1alpha1.ReasonSyncFailing))
	g.Expect(stale.Message).To(ContainSubstring("failing since"))
	g.Expect(gc.Status.Results[0].Value).To(BeTrue(), "status keeps the last good results")
	after, err := h.configMap("checkout-gates")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the ConfigMap was written during a failure")
	g.Expect(after.Data).To(Equal(before.Data))
	// The key never reaches status or Events.
	for _, c := range gc.Status.Conditions {
		g.Expect(c.Message).NotTo(ContainSubstring(h.fake.ServerKey))
	}
	for _, e := range h.events(wantReason) {
		g.Expect(e.Note).NotTo(ContainSubstring(h.fake.ServerKey))
	}
	return h, g
}

func TestGateCheckUnauthorized(t *testing.T) {
	h, g := failureCase(t, statsigtest.Fault{Status: 401}, statsigv1alpha1.ReasonStatsigUnauthorized)
	g.Eventually(func() int { return len(h.events(statsigv1alpha1.ReasonStatsigUnauthorized)) }, wait, poll).Should(Equal(1))
}

func TestGateCheckUnavailableRecovers(t *testing.T) {
	for name, fault := range map[string]statsigtest.Fault{
		"500":     {Status: 500},
		"503":     {Status: 503},
		"timeout": {Latency: 3 * time.Second},
		"reset":   {ResetMidBody: true},
	} {
		t.Run(name, func(t *testing.T) {
			h, g := failureCase(t, fault, statsigv1alpha1.ReasonStatsigUnavailable)
			calls := h.fake.Count(statsig.EndpointCheckGate)
			// Retried with backoff while failing...
			g.Eventually(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, wait, poll).Should(BeNumerically(">", calls))
			// ...and recovers when Statsig does, with the new value.
			h.fake.ClearFaults()
			g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
			g.Eventually(h.configMap("checkout-gates"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("new_checkout", "false")))
			g.Expect(findCondition(h.get("checkout"), statsigv1alpha1.ConditionStale).Status).To(Equal(metav1.ConditionFalse))
		})
	}
}

func TestGateCheckInvalidResponse(t *testing.T) {
	failureCase(t, statsigtest.Fault{Malformed: true}, statsigv1alpha1.ReasonInvalidResponse)
}

func TestGateCheckRateLimitedHonoursRetryAfter(t *testing.T) {
	h, g := failureCase(t, statsigtest.Fault{Status: 429, RetryAfter: "7", Times: 1}, statsigv1alpha1.ReasonStatsigRateLimited)
	calls := h.fake.Count(statsig.EndpointCheckGate)
	// Even when asked to sync again, nothing reaches Statsig before Retry-After runs out.
	h.requestSync(g, "checkout")
	g.Consistently(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, 5*time.Second, 100*time.Millisecond).Should(Equal(calls))
	// Afterwards it syncs again and recovers.
	g.Eventually(h.readyOf("checkout"), 15*time.Second, poll).Should(Equal("True"))
	g.Expect(h.fake.Count(statsig.EndpointCheckGate)).To(BeNumerically(">", calls))
}

func TestGateCheckSecretNotFoundThenCreated(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"), withRefresh(86400))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonSecretNotFound))
	g.Expect(h.fake.Count(statsig.EndpointCheckGate)).To(BeZero())
	// Never synced, yet its output's age is exported (counted from creation), so the staleness
	// alert sees a resource that fails from the start.
	g.Expect(seriesIn(metrics.LastSuccess, h.ns)).To(Equal(1))
	// Creating the Secret syncs within seconds, not at the next (day-long) refresh.
	h.serverSecret("statsig")
	g.Eventually(h.readyOf("checkout"), 10*time.Second, poll).Should(Equal("True"))
	g.Expect(h.configMap("checkout-gates")()).To(HaveField("Data", HaveKeyWithValue("new_checkout", "true")))

	// A Secret without the key is SecretNotFound too, naming the key.
	h.secret("nokey", map[string]string{"other": "x"})
	gc := h.get("checkout")
	gc.Spec.SecretRef.Name = "nokey"
	g.Expect(k8s.Update(context.Background(), gc)).To(Succeed())
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonSecretNotFound))
	g.Expect(findCondition(h.get("checkout"), statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("serverSecretKey"))
}

func TestGateCheckSecretRotationResyncs(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	s := h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"})
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	// Revoke the key and rotate the Secret to a bad one: the change is noticed at once.
	s.StringData = map[string]string{statsigv1alpha1.SecretKeyServer: "secret-revoked"}
	g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	g.Eventually(h.readyOf("checkout"), 10*time.Second, poll).Should(Equal(statsigv1alpha1.ReasonStatsigUnauthorized))
}

func TestGateCheckTargetConflict(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "theirs"}, Data: map[string]string{"keep": "me"}}
	g.Expect(k8s.Create(context.Background(), theirs)).To(Succeed())
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("theirs"))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonTargetConflict))
	got, err := h.configMap("theirs")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.ResourceVersion).To(Equal(theirs.ResourceVersion))
	g.Expect(got.Data).To(Equal(map[string]string{"keep": "me"}))
	g.Expect(got.OwnerReferences).To(BeEmpty())
}

func TestGateCheckKeyCollision(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new checkout", true)
	h.fake.SetGate("new_checkout", false)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new checkout", "new_checkout"}, withTarget("checkout-gates"))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonKeyCollision))
	g.Expect(findCondition(h.get("checkout"), statsigv1alpha1.ConditionReady).Message).To(ContainSubstring(`"new_checkout"`))
	// Only a change of the spec can fix it: kstatus reads Failed.
	g.Expect(findCondition(h.get("checkout"), statsigv1alpha1.ConditionStalled)).To(And(
		HaveField("Status", metav1.ConditionTrue), HaveField("Reason", statsigv1alpha1.ReasonKeyCollision)))
	_, err := h.configMap("checkout-gates")()
	g.Expect(err).To(HaveOccurred(), "nothing is written when keys collide")
	g.Expect(h.fake.Count(statsig.EndpointCheckGate)).To(BeZero(), "a collision is refused before calling Statsig")
}

// A custom attribute of a type Statsig does not take passes the schemaless field in the CRD; it is
// InvalidSpec for that GateCheck alone, and the others of the kind keep syncing (a decoder that
// refused it would fail the informer's whole list).
func TestGateCheckInvalidAttributeIsInvalidSpecAlone(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	bad := h.gateCheck("bad", []string{"new_checkout"}, func(gc *statsigv1alpha1.GateCheck) {
		gc.Spec.User.Custom = map[string]statsigv1alpha1.AttributeValue{"region": {Raw: []byte(`{"nested":1}`)}}
	})
	h.gateCheck("good", []string{"new_checkout"})
	g.Eventually(h.readyOf("bad"), wait, poll).Should(Equal(statsigv1alpha1.ReasonInvalidSpec))
	g.Eventually(h.readyOf("good"), wait, poll).Should(Equal("True"))
	got := h.get("bad")
	g.Expect(findCondition(got, statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("spec.user.custom.region"))
	g.Expect(got.Status.ObservedGeneration).To(Equal(bad.Generation), "a failed sync still acted on the spec")

	// Fixing the value syncs at once.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.User.Custom = map[string]statsigv1alpha1.AttributeValue{"region": {Raw: []byte(`"eu-west-1"`)}}
	g.Expect(k8s.Patch(context.Background(), got, patch)).To(Succeed())
	g.Eventually(h.readyOf("bad"), wait, poll).Should(Equal("True"))
	g.Expect(h.get("bad").Status.ObservedGeneration).To(Equal(got.Generation))
}

func TestGateCheckDefaultSecretNeedsTrust(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sysNS := fmt.Sprintf("sys-%d", nsCounter.Add(1))
	g.Expect(k8s.Create(ctx, testenv.Namespace(sysNS, nil))).To(Succeed())
	h := newHarness(t, withDefaultSecret(types.NamespacedName{Namespace: sysNS, Name: "statsig-default"},
		labels.SelectorFromSet(labels.Set{"statsig-trusted": "true"})))
	h.fake.SetGate("new_checkout", true)
	def := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sysNS, Name: "statsig-default"},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: h.fake.ServerKey}}
	g.Expect(k8s.Create(ctx, def)).To(Succeed())

	h.gateCheck("checkout", []string{"new_checkout"}, withSecret(""))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonCredentialsNotAllowed))
	g.Expect(h.fake.Count(statsig.EndpointCheckGate)).To(BeZero())

	// Trusting the namespace lets it use the default Secret, at once: the label change wakes the
	// GateCheck (its refresh period is a day).
	ns := &corev1.Namespace{}
	g.Expect(k8s.Get(ctx, types.NamespacedName{Name: h.ns}, ns)).To(Succeed())
	ns.Labels = map[string]string{"statsig-trusted": "true"}
	g.Expect(k8s.Update(ctx, ns)).To(Succeed())
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))

	// And taking the trust away stops it at once.
	g.Expect(k8s.Get(ctx, types.NamespacedName{Name: h.ns}, ns)).To(Succeed())
	ns.Labels = nil
	g.Expect(k8s.Update(ctx, ns)).To(Succeed())
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonCredentialsNotAllowed))
}

func TestGateCheckSuspendStopsCallsAndWrites(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"), withRefresh(30))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	gc := h.get("checkout")
	gc.Spec.Suspend = true
	g.Expect(k8s.Update(context.Background(), gc)).To(Succeed())
	h.eventuallyCached(g, gc, func() bool { return gc.Spec.Suspend })
	calls := h.fake.Count(statsig.EndpointCheckGate)
	cm, _ := h.configMap("checkout-gates")()
	h.fake.SetGate("new_checkout", false)
	// Several (scaled) refresh periods pass without a call or a write.
	g.Consistently(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, 2*time.Second, 100*time.Millisecond).Should(Equal(calls))
	g.Expect(h.configMap("checkout-gates")()).To(HaveField("ResourceVersion", cm.ResourceVersion))
	// Nothing is expected of a suspended resource: it leaves the staleness metric.
	g.Expect(seriesIn(metrics.LastSuccess, h.ns)).To(BeZero())
}

func TestGateCheckSteadyStateWritesNothing(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"), withRefresh(30))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	// Let the first sync's writes settle, then count over many refresh periods (30 s → 300 ms).
	g.Eventually(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, wait, poll).Should(BeNumerically(">=", 2))
	cm, _ := h.configMap("checkout-gates")()
	cmWrites := h.writes.Get("ConfigMap/update") + h.writes.Get("ConfigMap/create")
	calls := h.fake.Count(statsig.EndpointCheckGate)
	// Ten refreshes (of 300 ms each).
	g.Eventually(func() int { return h.fake.Count(statsig.EndpointCheckGate) - calls }, wait, poll).Should(BeNumerically(">=", 10), "refreshes kept happening")
	// Reconciles that are no refresh (an unrelated annotation changes) write nothing at all: the
	// status patch is skipped when status did not change.
	statusWrites := h.writes.Get("GateCheck/status-patch")
	calls = h.fake.Count(statsig.EndpointCheckGate)
	reconciled := reconcileCount("gatecheck")
	for i := range 3 {
		gc := h.get("checkout")
		patch := client.MergeFrom(gc.DeepCopy())
		gc.Annotations = map[string]string{"example.com/touched": fmt.Sprint(i)}
		g.Expect(k8s.Patch(context.Background(), gc, patch)).To(Succeed())
		g.Eventually(func() float64 { return reconcileCount("gatecheck") }, wait, poll).Should(BeNumerically(">", reconciled))
		reconciled = reconcileCount("gatecheck")
	}
	// (A refresh whose call came before the counts were taken may patch after: one at most.)
	g.Expect(h.writes.Get("GateCheck/status-patch")).To(BeNumerically("<=", statusWrites+h.fake.Count(statsig.EndpointCheckGate)-calls+1),
		"status is patched only by refreshes, never by a reconcile that changed nothing")
	g.Expect(h.writes.Get("ConfigMap/update")+h.writes.Get("ConfigMap/create")).To(Equal(cmWrites), "ConfigMap writes in steady state")
	g.Expect(h.configMap("checkout-gates")()).To(HaveField("ResourceVersion", cm.ResourceVersion))
	t.Logf("three no-op reconciles, with refreshes going on: %d check_gate calls, %d ConfigMap writes in all, %d status patches",
		h.fake.Count(statsig.EndpointCheckGate)-calls, h.writes.Get("ConfigMap/update")+h.writes.Get("ConfigMap/create")-cmWrites,
		h.writes.Get("GateCheck/status-patch")-statusWrites)
}

func TestGateCheckRepairsDeletedConfigMapWithoutCallingStatsig(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	g.Eventually(h.configMap("checkout-gates"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("new_checkout", "true")))
	// The sync's own status patch has landed: nothing overwrites the one below.
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	calls := h.fake.Count(statsig.EndpointCheckGate)
	// The repair writes what it last wrote, from memory, not from status, which the cache may show
	// older than the last write: here status says otherwise (a status patch wakes no reconcile).
	gc := h.get("checkout")
	patch := client.MergeFrom(gc.DeepCopy())
	gc.Status.Results = []statsigv1alpha1.GateResult{{Name: "new_checkout", Value: false}}
	g.Expect(k8s.Status().Patch(context.Background(), gc, patch)).To(Succeed())
	h.eventuallyCached(g, gc, func() bool { return len(gc.Status.Results) == 1 && !gc.Status.Results[0].Value })
	cm, _ := h.configMap("checkout-gates")()
	g.Expect(k8s.Delete(context.Background(), cm)).To(Succeed())
	g.Eventually(h.configMap("checkout-gates"), wait, poll).Should(And(HaveField("Data", HaveKeyWithValue("new_checkout", "true")), HaveField("UID", Not(Equal(cm.UID)))))
	g.Expect(h.fake.Count(statsig.EndpointCheckGate)).To(Equal(calls))
}

func TestGateCheckManySharingAUserAreBatched(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	const n = 50
	for i := range n {
		h.fake.SetGate(fmt.Sprintf("gate_%02d", i), i%2 == 0)
	}
	h.fake.SetGate("gate_shared", true)
	for i := range n {
		// Each asks for its own gate plus one that every GateCheck shares.
		h.gateCheck(fmt.Sprintf("gc-%02d", i), []string{fmt.Sprintf("gate_%02d", i), "gate_shared"}, withRefresh(30))
	}
	allReady := func() int {
		list := &statsigv1alpha1.GateCheckList{}
		g.Expect(k8s.List(context.Background(), list, client.InNamespace(h.ns))).To(Succeed())
		ready := 0
		for i := range list.Items {
			if readyReason(&list.Items[i]) == "True" {
				ready++
			}
		}
		return ready
	}
	g.Eventually(allReady, 30*time.Second, 100*time.Millisecond).Should(Equal(n))
	first := h.fake.Count(statsig.EndpointCheckGate)

	// Steady state: all 50 refresh every 30 s (scaled to 300 ms) on one grid, so each refresh of
	// all of them is merged into a handful of calls. Created over a few periods, they reach the
	// grid within ten periods (each refresh moves by at most the 10% jitter).
	h.eventuallySyncs(g, gateCheckKind, 10*n)
	h.fake.ResetCounts()
	syncs := func() int64 {
		var n int64
		list := &statsigv1alpha1.GateCheckList{}
		g.Expect(k8s.List(context.Background(), list, client.InNamespace(h.ns))).To(Succeed())
		for i := range list.Items {
			n += list.Items[i].Status.LastSyncTime.UnixMilli()
		}
		return n
	}
	start := syncs()
	// About ten refreshes of all 50.
	synced := h.eventuallySyncs(g, gateCheckKind, 10*n)
	calls := h.fake.Count(statsig.EndpointCheckGate)
	g.Expect(syncs()).NotTo(Equal(start), "the GateChecks kept refreshing")
	// How many GateChecks each call served (each asks for its own gate_NN): the batching itself,
	// whatever lag a loaded machine adds between refreshes.
	served := 0
	for _, req := range h.fake.Requests(statsig.EndpointCheckGate) {
		names, _ := req.JSON["gateNames"].([]any)
		for _, name := range names {
			if name != "gate_shared" {
				served++
			}
		}
	}
	perRefresh := float64(n) * float64(calls) / float64(served)
	t.Logf("50 GateChecks sharing a user: %d check_gate calls on creation; steady state %d calls for %d GateCheck syncs (%.0f syncs counted) = %.1f calls per refresh of all 50",
		first, calls, served, synced, perRefresh)
	// Unbatched this is 50. Batched it is about ceil(50 / workers) = 4 (16 workers, each blocked
	// until its batch answers), plus stragglers that miss a batch window; on a test machine under
	// heavy load the stragglers measured (counted per sync, not per wall-clock period) reach about
	// 10. Every call must serve at least four GateChecks on average.
	g.Expect(perRefresh).To(BeNumerically("<=", 12.5), "calls per refresh of 50 GateChecks")
	for i := range n {
		gc := h.get(fmt.Sprintf("gc-%02d", i))
		g.Expect(gc.Status.Results[0].Value).To(Equal(i%2 == 0), gc.Name)
	}
}

func findCondition(gc *statsigv1alpha1.GateCheck, t string) *metav1.Condition {
	for i := range gc.Status.Conditions {
		if gc.Status.Conditions[i].Type == t {
			return &gc.Status.Conditions[i]
		}
	}
	return nil
}

func TestManagerCachesOnlyItsOwnConfigMaps(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	for i := range 20 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: fmt.Sprintf("unrelated-%02d", i)}, Data: map[string]string{"k": "v"}}
		g.Expect(k8s.Create(context.Background(), cm)).To(Succeed())
	}
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	// The manager's cache holds the one ConfigMap it owns and none of the others.
	g.Eventually(func() ([]string, error) {
		list := &corev1.ConfigMapList{}
		err := h.cached.List(context.Background(), list, client.InNamespace(h.ns))
		var names []string
		for _, cm := range list.Items {
			names = append(names, cm.Name)
		}
		return names, err
	}, wait, poll).Should(Equal([]string{"checkout-gates"}))
	all := &corev1.ConfigMapList{}
	g.Expect(k8s.List(context.Background(), all, client.InNamespace(h.ns))).To(Succeed())
	g.Expect(len(all.Items)).To(BeNumerically(">=", 21))
}

// A gate taken out of the spec takes its gate_value series with it; deleting the GateCheck takes
// the rest. A replica that does not lead reports none.
func TestGateCheckMetricFollowsTheSpec(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.fake.SetGate("dark_mode", false)
	h.serverSecret("statsig")
	gc := h.gateCheck("checkout", []string{"new_checkout", "dark_mode"})
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	// The metric is served from the informer cache, which may trail the status just read.
	g.Eventually(func() int { return seriesIn(h.gateValues(), h.ns) }, wait, poll).Should(Equal(2))

	got := h.get("checkout")
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Gates = []statsigv1alpha1.EntityName{"new_checkout"}
	g.Expect(k8s.Patch(context.Background(), got, patch)).To(Succeed())
	g.Eventually(func() int { return len(h.get("checkout").Status.Results) }, wait, poll).Should(Equal(1))
	g.Eventually(func() int { return seriesIn(h.gateValues(), h.ns) }, wait, poll).Should(Equal(1))

	follower := &GateValueCollector{Reader: h.cached, Elected: make(chan struct{})}
	g.Expect(seriesIn(follower, h.ns)).To(BeZero(), "a replica that does not lead")

	g.Expect(k8s.Delete(context.Background(), gc)).To(Succeed())
	g.Eventually(func() int { return seriesIn(h.gateValues(), h.ns) }, wait, poll).Should(BeZero())
}

// gateValues is statsig_operator_gate_value as the leading operator serves it.
func (h *harness) gateValues() *GateValueCollector {
	elected := make(chan struct{})
	close(elected)
	return &GateValueCollector{Reader: h.cached, Elected: elected}
}

// Secrets are watched only in the namespaces where some resource reads one: many Secrets in a
// namespace without resources are neither watched nor held, while a Secret a GateCheck waits for is
// noticed as soon as it appears, and a rotation as soon as it happens. The default Secret's
// namespace is watched while a resource falls back to it, and each namespace stops being watched
// when its last reader goes.
func TestSecretsAreWatchedOnlyWhereResourcesReadThem(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	unrelated := fmt.Sprintf("unrelated-%d", nsCounter.Add(1))
	sysNS := fmt.Sprintf("sys-%d", nsCounter.Add(1))
	for _, ns := range []string{unrelated, sysNS} {
		g.Expect(k8s.Create(ctx, testenv.Namespace(ns, nil))).To(Succeed())
	}
	for i := range 200 {
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: unrelated, Name: fmt.Sprintf("s-%03d", i)},
			StringData: map[string]string{"password": "x"}})).To(Succeed())
	}
	// Both namespaces are within the manager's --watch-namespaces: only the lack of readers keeps
	// the unrelated one unwatched.
	h := newHarness(t, withNamespaces(unrelated),
		withDefaultSecret(types.NamespacedName{Namespace: sysNS, Name: "statsig-default"}, labels.Nothing()))
	w := h.deps.Secrets
	h.fake.SetGate("new_checkout", true)
	g.Expect(w.Namespaces()).To(BeEmpty(), "no resource reads a Secret yet")

	// A GateCheck whose Secret does not exist yet: its namespace is watched from now on.
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"), withRefresh(86400))
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonSecretNotFound))
	g.Eventually(w.Namespaces, wait, poll).Should(Equal([]string{h.ns}))
	_, known := w.SecretVersion(types.NamespacedName{Namespace: unrelated, Name: "s-000"})
	g.Expect(known).To(BeFalse(), "the unrelated namespace's Secrets are not held")

	// The Secret appears: the GateCheck syncs without any other poke (its refresh is a day away).
	s := h.serverSecret("statsig")
	g.Eventually(h.readyOf("checkout"), 10*time.Second, poll).Should(Equal("True"))
	g.Eventually(func() bool {
		v, known := w.SecretVersion(client.ObjectKeyFromObject(s))
		return known && v != ""
	}, wait, poll).Should(BeTrue())

	// Rotated to a revoked key, then back: each change is acted on at once.
	s.StringData = map[string]string{statsigv1alpha1.SecretKeyServer: "secret-revoked"}
	g.Expect(k8s.Update(ctx, s)).To(Succeed())
	g.Eventually(h.readyOf("checkout"), 10*time.Second, poll).Should(Equal(statsigv1alpha1.ReasonStatsigUnauthorized))
	s.StringData = map[string]string{statsigv1alpha1.SecretKeyServer: h.fake.ServerKey}
	g.Expect(k8s.Update(ctx, s)).To(Succeed())
	g.Eventually(h.readyOf("checkout"), 10*time.Second, poll).Should(Equal("True"))

	// A GateCheck without secretRef may fall back to the default Secret: its namespace is watched
	// too, while that GateCheck exists.
	fallback := h.gateCheck("fallback", []string{"new_checkout"}, withSecret(""))
	g.Eventually(w.Namespaces, wait, poll).Should(ConsistOf(h.ns, sysNS))
	g.Expect(k8s.Delete(ctx, fallback)).To(Succeed())
	g.Eventually(w.Namespaces, wait, poll).Should(Equal([]string{h.ns}))

	// The last reader in the namespace goes: so does the watch.
	g.Expect(k8s.Delete(ctx, h.get("checkout"))).To(Succeed())
	g.Eventually(w.Namespaces, wait, poll).Should(BeEmpty())
	_, known = w.SecretVersion(client.ObjectKeyFromObject(s))
	g.Expect(known).To(BeFalse())
}
