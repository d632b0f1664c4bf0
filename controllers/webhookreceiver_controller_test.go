package controllers

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/webhook"
)

// listeners holds each harness's webhook listener URL (the root; receivers' paths go after it).
var listeners sync.Map

// setupWebhookReceivers runs the WebhookReceiver reconciler and its listener in a test's manager.
func setupWebhookReceivers(mgr ctrl.Manager, h *harness) error {
	table := &webhook.Table{}
	r := &WebhookReceiverReconciler{
		Client:      mgr.GetClient(),
		Credentials: h.deps.Credentials,
		Secrets:     h.deps.Secrets,
		Table:       table,
		Triggers:    h.deps.Triggers,
		AuditLog:    AuditLogReaderFor(h.deps.Clients),
		Events:      h.deps.Events,
		Clock:       clock.RealClock{},
		Interval:    h.deps.Interval,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	// The listener as the operator runs it, on loopback.
	srv := httptest.NewServer(&webhook.Server{Table: table, Sink: r, Log: ctrl.Log.WithName("webhook")})
	h.t.Cleanup(srv.Close)
	listeners.Store(h, srv.URL)
	return nil
}

const signingSecret = "webhook-k3yF0rT3sts0nly9f2c41b7e5a8d6"

type whrOption func(*statsigv1alpha1.WebhookReceiver)

func withCatchUp(seconds int32) whrOption {
	return func(wr *statsigv1alpha1.WebhookReceiver) {
		wr.Spec.CatchUp = &statsigv1alpha1.CatchUp{IntervalSeconds: seconds}
	}
}

func (h *harness) webhookReceiver(name, secret string, opts ...whrOption) {
	wr := &statsigv1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec:       statsigv1alpha1.WebhookReceiverSpec{SecretRef: statsigv1alpha1.LocalSecretReference{Name: secret}},
	}
	for _, o := range opts {
		o(wr)
	}
	if err := k8s.Create(context.Background(), wr); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) getWHR(name string) *statsigv1alpha1.WebhookReceiver {
	wr := &statsigv1alpha1.WebhookReceiver{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, wr); err != nil {
		h.t.Fatal(err)
	}
	return wr
}

// receiverURL waits for the receiver to be Ready and returns the URL to send its webhooks to.
func (h *harness) receiverURL(g Gomega, name string) string {
	g.Eventually(func() string {
		return conditionReason(h.getWHR(name).Status.Conditions, statsigv1alpha1.ConditionReady)
	}, wait, poll).Should(Equal("True"))
	root, _ := listeners.Load(h)
	return root.(string) + h.getWHR(name).Status.WebhookPath
}

// projectSecret is the Statsig project's Secret with all three keys.
func (h *harness) projectSecret(name string, signing string) *corev1.Secret {
	return h.secret(name, map[string]string{statsigv1alpha1.SecretKeyServer: h.fake.ServerKey,
		statsigv1alpha1.SecretKeyConsole: h.fake.ConsoleKey, statsigv1alpha1.SecretKeyWebhookSigning: signing})
}

func (w *writeCounter) snapshot() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.n)
}

// settle waits until count stays the same for a while: the syncs of setting up are over.
func settle(g Gomega, count func() int) {
	g.Eventually(func(g Gomega) {
		n := count()
		g.Consistently(count, 300*time.Millisecond, poll).Should(Equal(n))
	}, wait, poll).Should(Succeed())
}

// gateCalls counts check_gate requests that asked for gate.
func gateCalls(f *statsigtest.Server, gate string) int {
	n := 0
	for _, r := range f.Requests(statsig.EndpointCheckGate) {
		for _, g := range r.GateNames() {
			if g == gate {
				n++
			}
		}
	}
	return n
}

func TestWebhookSyncsAffectedResourcesAtOnce(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", false)
	h.fake.SetGate("dark_mode", false)
	h.projectSecret("statsig", signingSecret)
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	h.gateCheck("theme", []string{"dark_mode"}, withTarget("theme-gates"))
	h.deployment("checkout-api")
	h.configSnapshot("checkout", snapGates("new_checkout"), snapRollout("Deployment", "checkout-api"))
	h.webhookReceiver("statsig-prod", "statsig")
	url := h.receiverURL(g, "statsig-prod")
	g.Expect(url).To(MatchRegexp(`/hook/[0-9a-f]{64}$`))
	rolledTo := func() string {
		return h.getDeployment("checkout-api").Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash]
	}
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(h.readyOf("theme"), wait, poll).Should(Equal("True"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	settle(g, func() int { return h.fake.Count(statsig.EndpointCheckGate) })

	h.fake.ResetCounts()
	h.fake.SetGate("new_checkout", true)
	start := time.Now()
	// A burst: five signed requests for the same change within a second.
	for i := range 5 {
		body := statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "new_checkout", Action: "updated"})
		code, _, err := statsigtest.SendWebhook(context.Background(), nil, statsigtest.Webhook{URL: url, Secret: signingSecret,
			Body: body, At: start.Add(time.Duration(i) * time.Millisecond)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(http.StatusOK))
	}
	g.Eventually(func() string {
		cm, err := h.configMap("checkout-gates")()
		if err != nil {
			return ""
		}
		return cm.Data["new_checkout"]
	}, wait, 5*time.Millisecond).Should(Equal("true"))
	toGateCheck := time.Since(start)
	g.Eventually(func() string {
		cm, err := h.configMap("checkout-statsig")()
		if err != nil {
			return ""
		}
		return cm.Data["gate.new_checkout"]
	}, wait, 5*time.Millisecond).Should(Equal("true"))
	toSnapshot := time.Since(start)
	// The snapshot's rollout target rolls to the new content.
	cm, err := h.configMap("checkout-statsig")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(rolledTo, wait, 5*time.Millisecond).Should(Equal(cm.Annotations[statsigv1alpha1.AnnotationContentHash]))
	toRollout := time.Since(start)
	t.Logf("request -> GateCheck ConfigMap %.3fs, -> ConfigSnapshot ConfigMap %.3fs, -> Deployment template rolled %.3fs",
		toGateCheck.Seconds(), toSnapshot.Seconds(), toRollout.Seconds())

	g.Eventually(func() int64 { return h.getWHR("statsig-prod").Status.AcceptedRequests }, wait, poll).Should(BeEquivalentTo(5))
	g.Expect(h.getWHR("statsig-prod").Status.LastEventTime).NotTo(BeNil())
	// One sync per affected resource for the burst, none for the unaffected one.
	g.Consistently(func() int { return gateCalls(h.fake, "dark_mode") }, 500*time.Millisecond, poll).Should(BeZero())
	g.Expect(gateCalls(h.fake, "new_checkout")).To(BeNumerically("<=", 2), "GateCheck and ConfigSnapshot, once each")
	g.Expect(h.get("theme").Status.LastSyncTime).NotTo(BeNil())
	g.Expect(h.fake.Violations()).To(BeEmpty())
}

func TestWebhookRejectionsCostNothing(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", false)
	h.projectSecret("statsig", signingSecret)
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	h.webhookReceiver("statsig-prod", "statsig")
	url := h.receiverURL(g, "statsig-prod")
	g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
	// Settle: no more writes or calls from setting up.
	g.Eventually(func() int64 { return h.getWHR("statsig-prod").Status.ObservedGeneration }, wait, poll).Should(BeEquivalentTo(1))
	writes := h.writes.snapshot()
	g.Consistently(h.writes.snapshot, 500*time.Millisecond, poll).Should(Equal(writes))
	h.fake.ResetCounts()

	change := statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "new_checkout"})
	valid := statsigtest.Webhook{URL: url, Secret: signingSecret, Body: change, At: time.Now()}
	code, _, err := statsigtest.SendWebhook(context.Background(), nil, valid)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusOK))
	g.Eventually(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, wait, poll).Should(Equal(1))
	g.Eventually(func() int64 { return h.getWHR("statsig-prod").Status.AcceptedRequests }, wait, poll).Should(BeEquivalentTo(1))
	g.Consistently(h.writes.snapshot, 300*time.Millisecond, poll).Should(Equal(h.writes.snapshot()))
	writes = h.writes.snapshot()
	h.fake.ResetCounts()

	root, _ := listeners.Load(h)
	big := append([]byte(`{"data":[],"pad":"`), strings.Repeat("x", webhook.MaxBodyBytes)...)
	big = append(big, '"', '}')
	cases := []struct {
		name string
		w    statsigtest.Webhook
		want int
	}{
		{"forged", statsigtest.Webhook{URL: url, Secret: "webhook-guessed", Body: change}, http.StatusUnauthorized},
		{"unsigned", statsigtest.Webhook{URL: url, Body: change}, http.StatusUnauthorized},
		{"stale", statsigtest.Webhook{URL: url, Secret: signingSecret, Body: change, At: time.Now().Add(-6 * time.Minute)}, http.StatusUnauthorized},
		{"oversized", statsigtest.Webhook{URL: url, Secret: signingSecret, Body: big}, http.StatusRequestEntityTooLarge},
		{"malformed", statsigtest.Webhook{URL: url, Secret: signingSecret, Body: []byte(`{"data":{"event":"other"}}`)}, http.StatusBadRequest},
		{"replayed", valid, http.StatusOK},
		{"wrong method", statsigtest.Webhook{URL: url, Secret: signingSecret, Body: change, Method: http.MethodGet}, http.StatusMethodNotAllowed},
		{"unknown path", statsigtest.Webhook{URL: root.(string) + "/hook/" + strings.Repeat("ab", 32), Secret: signingSecret, Body: change}, http.StatusNotFound},
	}
	for _, tc := range cases {
		code, body, err := statsigtest.SendWebhook(context.Background(), nil, tc.w)
		g.Expect(err).NotTo(HaveOccurred(), tc.name)
		g.Expect(code).To(Equal(tc.want), tc.name)
		g.Expect(string(body)).NotTo(ContainSubstring(signingSecret), tc.name)
	}
	// Over budget: the default budget's burst is spent by a flood of forged requests.
	codes := map[int]int{}
	for range 2 * webhook.DefaultBurst {
		code, _, err := statsigtest.SendWebhook(context.Background(), nil, statsigtest.Webhook{URL: url, Secret: "webhook-guessed", Body: change})
		g.Expect(err).NotTo(HaveOccurred())
		codes[code]++
	}
	g.Expect(codes[http.StatusTooManyRequests]).To(BeNumerically(">", 0))
	g.Expect(codes[http.StatusOK]).To(BeZero())

	g.Consistently(func() int { return h.fake.Count(statsigtest.AllEndpoints) }, time.Second, poll).Should(BeZero())
	g.Expect(h.writes.snapshot()).To(Equal(writes), "a rejected request wrote to the API server")
}

func TestWebhookReceiverRotation(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	s := h.projectSecret("statsig", "webhook-old")
	h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
	h.webhookReceiver("statsig-prod", "statsig")
	url := h.receiverURL(g, "statsig-prod")
	send := func(secret string) int {
		code, _, err := statsigtest.SendWebhook(context.Background(), nil, statsigtest.Webhook{URL: url, Secret: secret,
			Body: statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "new_checkout", Time: time.Now()})})
		g.Expect(err).NotTo(HaveOccurred())
		return code
	}
	g.Expect(send("webhook-new")).To(Equal(http.StatusUnauthorized))

	// Rotation: the new secret on a second line; the path stays, both are accepted.
	s.StringData = map[string]string{statsigv1alpha1.SecretKeyWebhookSigning: "webhook-old\nwebhook-new\n"}
	g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	g.Eventually(func() int { return send("webhook-new") }, wait, poll).Should(Equal(http.StatusOK))
	g.Expect(send("webhook-old")).To(Equal(http.StatusOK))
	g.Expect(h.getWHR("statsig-prod").Status.WebhookPath).To(Equal(strings.TrimPrefix(url, mustLoad(h))))

	// Dropping the old secret changes the path: the old one answers 404.
	s.StringData = map[string]string{statsigv1alpha1.SecretKeyWebhookSigning: "webhook-new"}
	g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	g.Eventually(func() string { return h.getWHR("statsig-prod").Status.WebhookPath }, wait, poll).ShouldNot(Equal(strings.TrimPrefix(url, mustLoad(h))))
	g.Expect(send("webhook-new")).To(Equal(http.StatusNotFound))
	g.Expect(h.getWHR("statsig-prod").Status.WebhookPath).NotTo(ContainSubstring("webhook-"))
}

func mustLoad(h *harness) string {
	root, _ := listeners.Load(h)
	return root.(string)
}

func TestWebhookReceiverWithoutSigningSecret(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	h.webhookReceiver("statsig-prod", "statsig")
	g.Eventually(func() string {
		return conditionReason(h.getWHR("statsig-prod").Status.Conditions, statsigv1alpha1.ConditionReady)
	}, wait, poll).
		Should(Equal(statsigv1alpha1.ReasonSecretNotFound))
	wr := h.getWHR("statsig-prod")
	g.Expect(conditionReason(wr.Status.Conditions, statsigv1alpha1.ConditionStalled)).To(Equal("True"))
	g.Expect(wr.Status.WebhookPath).To(BeEmpty())
	g.Eventually(func() int { return len(h.events(statsigv1alpha1.ReasonSecretNotFound)) }, wait, poll).Should(BeNumerically(">", 0))

	// Adding the key makes it Ready without touching the receiver.
	s := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: "statsig"}, s)).To(Succeed())
	s.StringData = map[string]string{statsigv1alpha1.SecretKeyWebhookSigning: signingSecret}
	g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	g.Expect(h.receiverURL(g, "statsig-prod")).To(MatchRegexp(`/hook/[0-9a-f]{64}$`))
}

func TestCatchUpFindsUnannouncedChange(t *testing.T) {
	for _, shape := range []statsigtest.AuditShape{statsigtest.AuditDocumented, statsigtest.AuditBareArrayMillis} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t)
			h.fake.SetAuditShape(shape)
			h.fake.SetGate("new_checkout", false)
			h.fake.SetGate("dark_mode", false)
			h.fake.AddAuditEntry(statsigtest.AuditEntry{ID: "before", Name: "new_checkout", ActionType: "gate_create", Time: time.Now().Add(-time.Hour)})
			h.projectSecret("statsig", signingSecret)
			h.gateCheck("checkout", []string{"new_checkout"}, withTarget("checkout-gates"))
			h.gateCheck("theme", []string{"dark_mode"}, withTarget("theme-gates"))
			// 30 s of spec is 300 ms in tests.
			h.webhookReceiver("statsig-prod", "statsig", withCatchUp(30))
			g.Eventually(func() string { return h.getWHR("statsig-prod").Status.LastAuditLogID }, wait, poll).Should(Equal("before"))
			g.Eventually(h.readyOf("checkout"), wait, poll).Should(Equal("True"))
			g.Eventually(h.readyOf("theme"), wait, poll).Should(Equal("True"))
			settle(g, func() int { return h.fake.Count(statsig.EndpointCheckGate) })
			h.fake.ResetCounts()

			// A change no webhook announced, and an entry that changes nothing.
			h.fake.SetGate("new_checkout", true)
			h.fake.AddAuditEntry(statsigtest.AuditEntry{ID: "change", Name: "new_checkout", ActionType: "gate_update", Time: time.Now()})
			h.fake.AddAuditEntry(statsigtest.AuditEntry{ID: "login", Name: "Ada Example", ActionType: "user_login", Time: time.Now()})
			start := time.Now()
			g.Eventually(func() string {
				cm, err := h.configMap("checkout-gates")()
				if err != nil {
					return ""
				}
				return cm.Data["new_checkout"]
			}, wait, 5*time.Millisecond).Should(Equal("true"))
			t.Logf("audit entry -> ConfigMap %.3fs (catch-up interval 0.3s, coalescing window 1s)", time.Since(start).Seconds())
			g.Eventually(func() string { return h.getWHR("statsig-prod").Status.LastAuditLogID }, wait, poll).Should(Equal("login"))
			g.Expect(gateCalls(h.fake, "dark_mode")).To(BeZero())
			g.Expect(h.fake.Violations()).To(BeEmpty())
		})
	}
}
