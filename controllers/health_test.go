package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// health is what a GitOps tool reads of an object: kstatus's verdict, and the reasons of Ready,
// Reconciling and Stalled ("" when absent) that explain it.
type health struct {
	Status      status.Status
	Ready       string
	Reconciling string
	Stalled     string
}

// healthOf reads the object as a GitOps tool does (unstructured, from the API server) and runs
// kstatus on it.
func healthOf(kind string, key types.NamespacedName) func(Gomega) health {
	return func(g Gomega) health {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(statsigv1alpha1.GroupVersion.WithKind(kind))
		g.Expect(k8s.Get(context.Background(), key, u)).To(Succeed())
		res, err := status.Compute(u)
		g.Expect(err).NotTo(HaveOccurred())
		typed := &struct {
			Status statsigv1alpha1.CommonStatus `json:"status"`
		}{}
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed)).To(Succeed())
		reason := func(t string) string {
			if c := meta.FindStatusCondition(typed.Status.Conditions, t); c != nil {
				if t == statsigv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
					return "True"
				}
				return c.Reason
			}
			return ""
		}
		return health{Status: res.Status, Ready: reason(statsigv1alpha1.ConditionReady),
			Reconciling: reason(statsigv1alpha1.ConditionReconciling), Stalled: reason(statsigv1alpha1.ConditionStalled)}
	}
}

var (
	current  = health{Status: status.CurrentStatus, Ready: "True"}
	retrying = func(reason string) health {
		return health{Status: status.InProgressStatus, Ready: reason, Reconciling: statsigv1alpha1.ReasonProgressingWithRetry}
	}
	stalled = func(reason string) health {
		return health{Status: status.FailedStatus, Ready: reason, Stalled: reason}
	}
)

// TestKstatusGateCheck: Current when Ready, InProgress while Statsig fails in a way a retry can fix,
// Current again once it answers, Failed when the Secret is gone (only a change can fix that).
func TestKstatusGateCheck(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, withControllers(setupGateChecks))
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	key := types.NamespacedName{Namespace: h.ns, Name: "checkout"}
	health := healthOf("GateCheck", key)
	request := func() { h.requestSync(g, "checkout") }

	expectHealthCycle(t, g, h, health, request, func() { deleteSecret(g, h, "statsig") }, statsigv1alpha1.ReasonSecretNotFound)
}

func TestKstatusConfigSnapshot(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	setFlagState(h.fake)
	h.serverSecret("statsig")
	h.configSnapshot("checkout", snapGates("new_checkout"))
	key := types.NamespacedName{Namespace: h.ns, Name: "checkout"}
	request := func() { h.requestCS(g, "checkout") }

	expectHealthCycle(t, g, h, healthOf("ConfigSnapshot", key), request, func() {
		// A ConfigMap of the target's name that the operator did not write: TargetConflict.
		cs := h.getCS("checkout")
		cs.Spec.Target.ConfigMapName = "foreign"
		g.Expect(k8s.Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "foreign"}})).To(Succeed())
		g.Expect(k8s.Update(context.Background(), cs)).To(Succeed())
	}, statsigv1alpha1.ReasonTargetConflict)
}

func TestKstatusClusterConfigSnapshot(t *testing.T) {
	g := NewWithT(t)
	f := newFleet(1)
	h := newHarness(t, withNamespaces(f.names...))
	f.create(t, 0, true)
	setFlagState(h.fake)
	h.serverSecret("statsig")
	ccs := h.clusterSnapshot(f, snapGates("new_checkout"))
	key := client.ObjectKeyFromObject(ccs)
	request := func() { h.requestCCS(g, ccs.Name) }

	expectHealthCycle(t, g, h, healthOf("ClusterConfigSnapshot", key), request, func() { deleteSecret(g, h, "statsig") },
		statsigv1alpha1.ReasonSecretNotFound)
}

func TestKstatusDailyReportExport(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	h.fake.SetReport(reportType, "2026-11-09", statsigtest.GeneratedReport("2026-11-09", 10, false))
	// Statsig fails at first: the first pass stops on a transient failure.
	h.fake.Fault(statsig.EndpointConsoleReports, statsigtest.Fault{Status: 503})
	h.reportExport("exposures", toStore(fileStore(t), "", "statsig"))
	health := healthOf("DailyReportExport", types.NamespacedName{Namespace: h.ns, Name: "exposures"})

	g.Eventually(health, wait, poll).Should(Equal(retrying(statsigv1alpha1.ReasonStatsigUnavailable)))

	h.fake.ClearFaults()
	// The date waits out its backoff on the injected clock.
	g.Eventually(func() map[string]statsigv1alpha1.DatePhase {
		h.export.clock.Step(10 * time.Minute)
		return h.phases("exposures")()
	}, wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
	g.Eventually(health, wait, poll).Should(Equal(current))

	// A schedule the API server accepts (five fields) but no cron reads: InvalidSpec.
	d := h.getExport("exposures")
	d.Spec.Schedule = "99 99 * * *"
	g.Expect(k8s.Update(context.Background(), d)).To(Succeed())
	g.Eventually(health, wait, poll).Should(Equal(stalled(statsigv1alpha1.ReasonInvalidSpec)))
}

// expectHealthCycle walks a synced object through the three kstatus verdicts: Current, then
// InProgress while Statsig answers 503, Current once it recovers, and Failed after breakIt.
func expectHealthCycle(t *testing.T, g *WithT, h *harness, health func(Gomega) health, request, breakIt func(), stalledReason string) {
	t.Helper()
	g.Eventually(health, wait, poll).Should(Equal(current))

	h.fake.Fault(statsigtest.AllEndpoints, statsigtest.Fault{Status: 503})
	request()
	g.Eventually(health, wait, poll).Should(Equal(retrying(statsigv1alpha1.ReasonStatsigUnavailable)))

	h.fake.ClearFaults()
	request()
	g.Eventually(health, wait, poll).Should(Equal(current))

	breakIt()
	request()
	g.Eventually(health, wait, poll).Should(Equal(stalled(stalledReason)))
}

func deleteSecret(g *WithT, h *harness, name string) {
	g.Expect(k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}})).To(Succeed())
}

// TestHungStatsigShowsReconciling: while a Statsig call hangs, Reconciling says so within seconds
// (Ready still shows the last good sync); once the call's time is spent the request is echoed and
// Ready=False says why. A healthy, fast sync writes status once: the watch costs it nothing.
func TestHungStatsigShowsReconciling(t *testing.T) {
	g := NewWithT(t)
	// The operator's defaults: 3 s per attempt, 10 s per call, Reconciling after 2 s.
	h := newHarness(t, withStatsigOptions(func(o *statsig.Options) {
		o.RequestTimeout, o.CallTimeout = 3*time.Second, 10*time.Second
	}))
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.gateCheck("checkout", []string{"new_checkout"})
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))

	patches := h.writes.Get("GateCheck/status-patch")
	h.requestSync(g, "checkout")
	g.Expect(h.writes.Get("GateCheck/status-patch")).To(Equal(patches+1), "a fast sync patches status once")

	h.fake.Fault(statsig.EndpointCheckGate, statsigtest.Fault{Latency: time.Minute})
	gc := h.get("checkout")
	before := gc.DeepCopy()
	gc.Annotations = map[string]string{statsigv1alpha1.AnnotationRequestedAt: "hung"}
	start := time.Now()
	g.Expect(k8s.Patch(context.Background(), gc, client.MergeFrom(before))).To(Succeed())

	g.Eventually(func(g Gomega) {
		gc := h.get("checkout")
		c := meta.FindStatusCondition(gc.Status.Conditions, statsigv1alpha1.ConditionReconciling)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(statsigv1alpha1.ReasonProgressing))
		g.Expect(c.Message).To(HavePrefix("Waiting for Statsig to answer since "))
		g.Expect(readyReason(gc)).To(Equal("True"), "Ready keeps the last good sync while the call runs")
		g.Expect(gc.Status.LastHandledRequestedAt).NotTo(Equal("hung"))
	}, 10*time.Second, poll).Should(Succeed())
	t.Logf("Reconciling=True (Progressing) seen %s after the requested sync of a hung call", time.Since(start).Round(10*time.Millisecond))
	g.Expect(healthOf("GateCheck", types.NamespacedName{Namespace: h.ns, Name: "checkout"})(g).Status).To(Equal(status.InProgressStatus))

	g.Eventually(func(g Gomega) {
		gc := h.get("checkout")
		g.Expect(gc.Status.LastHandledRequestedAt).To(Equal("hung"))
		g.Expect(readyReason(gc)).To(Equal(statsigv1alpha1.ReasonStatsigUnavailable))
		c := meta.FindStatusCondition(gc.Status.Conditions, statsigv1alpha1.ConditionReconciling)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(statsigv1alpha1.ReasonProgressingWithRetry))
	}, 20*time.Second, poll).Should(Succeed())
	t.Logf("requested-at echoed, Ready=False StatsigUnavailable %s after the requested sync of a hung call", time.Since(start).Round(10*time.Millisecond))
}

// TestKstatusWebhookReceiver: Current while listening, Failed when its Secret has no signing secret.
func TestKstatusWebhookReceiver(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, withControllers(setupWebhookReceivers))
	h.projectSecret("statsig", signingSecret)
	h.webhookReceiver("listening", "statsig")
	g.Eventually(healthOf("WebhookReceiver", types.NamespacedName{Namespace: h.ns, Name: "listening"}), wait, poll).Should(Equal(current))

	h.serverSecret("plain")
	h.webhookReceiver("unsigned", "plain")
	g.Eventually(healthOf("WebhookReceiver", types.NamespacedName{Namespace: h.ns, Name: "unsigned"}), wait, poll).Should(
		Equal(stalled(statsigv1alpha1.ReasonSecretNotFound)))
}
