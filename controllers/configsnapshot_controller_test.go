package controllers

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/rollout"
	"github.com/statsig-operator/statsig-operator/internal/rolloutevents"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden files under testdata/")

// setupSnapshots runs the ConfigSnapshot and ClusterConfigSnapshot reconcilers in a test's manager.
// Their rollouts run on a fake clock (h.rolloutClock); everything else runs on real (scaled) time.
func setupSnapshots(mgr ctrl.Manager, h *harness) error {
	clk := clocktesting.NewFakeClock(time.Now())
	h.rolloutClock = clk
	roller := &rollout.Roller{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Clock: clk}
	if d, ok := rolloutIntervals.Load(h); ok {
		roller.Clock, roller.MinInterval = clock.RealClock{}, d.(time.Duration)
	}
	c := mgr.GetClient()
	if _, ok := laggingCaches.Load(h); ok {
		c = newLaggingClient(c)
	}
	deps := func() SnapshotDeps {
		return SnapshotDeps{
			Client:                  c,
			Credentials:             h.deps.Credentials,
			Secrets:                 h.deps.Secrets,
			Statsig:                 SnapshotClientFor(h.deps.Clients),
			ConfigMaps:              h.deps.ConfigMaps,
			Outputs:                 &configmap.Outputs{},
			Rollouts:                roller,
			Tracker:                 fastTracker(),
			Events:                  h.deps.Events,
			Clock:                   clock.RealClock{},
			Interval:                h.deps.Interval,
			MaxConcurrentReconciles: 4,
			Triggers:                h.deps.Triggers,
			Progress:                h.deps.Progress,
			Reporter: &rolloutevents.Reporter{
				Client: func(key string) rolloutevents.Client { return h.deps.Clients.ForKey(key) },
				Events: h.deps.Events,
				Clock:  clock.RealClock{},
			},
		}
	}
	if err := (&ConfigSnapshotReconciler{SnapshotDeps: deps()}).SetupWithManager(mgr, h.defaultSecret); err != nil {
		return err
	}
	return (&ClusterConfigSnapshotReconciler{SnapshotDeps: deps()}).SetupWithManager(mgr, h.defaultSecret)
}

// Builders.

type snapOption func(*statsigv1alpha1.SnapshotEntities, *statsigv1alpha1.SnapshotTarget)

func snapGates(n ...string) snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) { e.Gates = entityNames(n) }
}

func snapConfigs(n ...string) snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) {
		e.DynamicConfigs = entityNames(n)
	}
}

func snapExperiments(n ...string) snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) {
		e.Experiments = entityNames(n)
	}
}

func snapLayers(n ...string) snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) {
		e.Layers = entityNames(n)
	}
}

func snapDiscover(d statsigv1alpha1.Discover) snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) { e.Discover = &d }
}

func snapFormat(f statsigv1alpha1.SnapshotFormat) snapOption {
	return func(_ *statsigv1alpha1.SnapshotEntities, t *statsigv1alpha1.SnapshotTarget) { t.Format = f }
}

func snapRefresh(seconds int32) snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) {
		e.RefreshIntervalSeconds = seconds
	}
}

func snapRollout(kind, name string) snapOption {
	return func(e *statsigv1alpha1.SnapshotEntities, _ *statsigv1alpha1.SnapshotTarget) {
		e.RolloutTargets = append(e.RolloutTargets, statsigv1alpha1.RolloutTarget{Kind: kind, Name: name})
	}
}

func entityNames(in []string) []statsigv1alpha1.EntityName {
	out := make([]statsigv1alpha1.EntityName, len(in))
	for i, n := range in {
		out[i] = statsigv1alpha1.EntityName(n)
	}
	return out
}

func snapSpec(configMap string, opts []snapOption) (statsigv1alpha1.SnapshotEntities, statsigv1alpha1.SnapshotTarget) {
	e := statsigv1alpha1.SnapshotEntities{
		User: statsigv1alpha1.User{UserID: "shop-prod"},
		// A long period by default: tests that want refreshes ask for them.
		RefreshPolicy: statsigv1alpha1.RefreshPolicy{RefreshIntervalSeconds: 86400},
	}
	t := statsigv1alpha1.SnapshotTarget{ConfigMapName: statsigv1alpha1.ConfigMapName(configMap), Format: statsigv1alpha1.FormatFiles}
	for _, o := range opts {
		o(&e, &t)
	}
	return e, t
}

// configSnapshot creates a ConfigSnapshot writing to the ConfigMap <name>-statsig.
func (h *harness) configSnapshot(name string, opts ...snapOption) *statsigv1alpha1.ConfigSnapshot {
	e, t := snapSpec(name+"-statsig", opts)
	cs := &statsigv1alpha1.ConfigSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: statsigv1alpha1.ConfigSnapshotSpec{
			SecretRef:        &statsigv1alpha1.LocalSecretReference{Name: "statsig"},
			SnapshotEntities: e, Target: t,
		},
	}
	if err := k8s.Create(context.Background(), cs); err != nil {
		h.t.Fatal(err)
	}
	return cs
}

func (h *harness) deployment(name string) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: map[string]string{"team": "shop"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "api", Image: "checkout-api:1.2.3",
					EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "checkout-statsig"}}}},
				}}},
			},
		},
	}
	if err := k8s.Create(context.Background(), d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// Observers.

func (h *harness) getCS(name string) *statsigv1alpha1.ConfigSnapshot {
	cs := &statsigv1alpha1.ConfigSnapshot{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, cs); err != nil {
		h.t.Fatal(err)
	}
	return cs
}

func conditionReason(conds []metav1.Condition, t string) string {
	c := meta.FindStatusCondition(conds, t)
	switch {
	case c == nil:
		return ""
	case c.Status == metav1.ConditionTrue:
		return "True"
	}
	return c.Reason
}

// csReady polls a ConfigSnapshot's Ready: "True", or the reason when it is False.
func (h *harness) csReady(name string) func() string {
	return func() string { return conditionReason(h.getCS(name).Status.Conditions, statsigv1alpha1.ConditionReady) }
}

func (h *harness) getDeployment(name string) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// request bumps obj's requested-at annotation and waits until status says it was handled.
func (h *harness) request(g Gomega, obj client.Object, handled func() string) {
	v := fmt.Sprintf("%d", time.Now().UnixNano())
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, statsigv1alpha1.AnnotationRequestedAt, v))
	g.Expect(k8s.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
	g.Eventually(handled, wait, poll).Should(Equal(v))
}

func (h *harness) requestCS(g Gomega, name string) {
	h.request(g, h.getCS(name), func() string { return h.getCS(name).Status.LastHandledRequestedAt })
}

// callSet counts the Statsig calls a snapshot makes, per endpoint.
func callSet(f *statsigtest.Server) map[string]int {
	out := map[string]int{}
	for _, e := range statsig.Endpoints {
		if n := f.Count(e); n > 0 {
			out[e] = n
		}
	}
	return out
}

// setGoldenState puts the fake in a fixed state whose names need mapping: a space, a leading
// digit, dots and dashes, and a field name with a dash.
func setGoldenState(f *statsigtest.Server) {
	f.SetGate("new checkout", true)
	f.SetGate("dark_mode", false)
	f.SetGate("2fa-required", true)
	f.SetConfig("checkout_settings", map[string]any{"max_items": 5, "theme": "dark", "regions": []string{"eu", "us"},
		"banner": "<b>Sale</b> & more", "limits": map[string]any{"z": 1, "a": 2.5}, "note": nil})
	f.SetConfig("pricing.v2-beta", map[string]any{"max-discount": 0.25})
	f.SetExperiment("button color test", "Test Group", map[string]any{"color": "blue", "size": 12})
	f.SetLayer("checkout_layer", map[string]any{"cta_text": "Pay now", "steps": 2}, "button color test")
}

func goldenSnapshot(h *harness, name string, format statsigv1alpha1.SnapshotFormat) *statsigv1alpha1.ConfigSnapshot {
	return h.configSnapshot(name, snapFormat(format),
		snapGates("new checkout", "dark_mode", "2fa-required"), snapConfigs("checkout_settings", "pricing.v2-beta"),
		snapExperiments("button color test", "not_in_statsig"), snapLayers("checkout_layer"))
}

func TestConfigSnapshotFormatsGolden(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	setGoldenState(h.fake)
	h.serverSecret("statsig")
	files := goldenSnapshot(h, "files", statsigv1alpha1.FormatFiles)
	env := goldenSnapshot(h, "env", statsigv1alpha1.FormatEnv)

	for _, cs := range []*statsigv1alpha1.ConfigSnapshot{files, env} {
		g.Eventually(h.csReady(cs.Name), wait, poll).Should(Equal("True"))
		cm, err := h.configMap(cs.Name + "-statsig")()
		g.Expect(err).NotTo(HaveOccurred())
		testenv.ExpectGolden(t, "configsnapshot-"+strings.ToLower(string(cs.Spec.Target.Format)), testenv.DumpData(cm.Data), *updateGolden, "update-golden")

		got := h.getCS(cs.Name)
		g.Expect(got.Status.Entities).To(BeEquivalentTo(8))
		g.Expect(got.Status.ContentHash).To(Equal(configmap.Hash(cm.Data, nil)))
		g.Expect(cm.Annotations).To(HaveKeyWithValue(statsigv1alpha1.AnnotationContentHash, got.Status.ContentHash))
		g.Expect(cm.Annotations).To(HaveKeyWithValue(statsigv1alpha1.AnnotationOwner, "ConfigSnapshot/"+h.ns+"/"+cs.Name))
		g.Expect(cm.Labels).To(Equal(map[string]string{
			statsigv1alpha1.LabelManagedBy: statsigv1alpha1.ManagedByValue,
			statsigv1alpha1.LabelOwnerKind: "ConfigSnapshot",
			statsigv1alpha1.LabelOwnerUID:  string(cs.UID),
		}))
		g.Expect(cm.OwnerReferences).To(ConsistOf(And(HaveField("UID", cs.UID), HaveField("Controller", HaveValue(BeTrue())))))
		g.Expect(conditionReason(got.Status.Conditions, statsigv1alpha1.ConditionRolledOut)).To(BeEmpty(), "no rollout targets, no RolledOut")
	}

	// One batched check_gate per snapshot; one get_config per config and experiment and one
	// get_layer per layer, for each snapshot or shared by the two when they read at the same time
	// (same key, user and entity); exposure logging off on every one of them.
	g.Expect(h.fake.Count(statsig.EndpointCheckGate)).To(BeNumerically("<=", 2))
	g.Expect(h.fake.Count(statsig.EndpointGetConfig)).To(And(BeNumerically(">=", 4), BeNumerically("<=", 2*4)))
	g.Expect(h.fake.Count(statsig.EndpointGetLayer)).To(And(BeNumerically(">=", 1), BeNumerically("<=", 2*1)))
	for _, e := range []string{statsig.EndpointCheckGate, statsig.EndpointGetConfig, statsig.EndpointGetLayer} {
		for _, r := range h.fake.Requests(e) {
			g.Expect(r.ExposureLoggingDisabled()).To(BeTrue(), e)
		}
	}
	g.Expect(h.fake.Violations()).To(BeEmpty())

	// Syncing the same values again writes nothing: byte-identical data, same hash.
	cm, _ := h.configMap("files-statsig")()
	h.requestCS(g, "files")
	g.Expect(h.configMap("files-statsig")()).To(HaveField("ResourceVersion", cm.ResourceVersion))
}

func TestConfigSnapshotLogExposuresWhenAsked(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	cs := &statsigv1alpha1.ConfigSnapshot{}
	cs.Namespace, cs.Name = h.ns, "exposed"
	e, tgt := snapSpec("exposed-statsig", []snapOption{snapConfigs("checkout_settings")})
	e.LogExposures = true
	cs.Spec = statsigv1alpha1.ConfigSnapshotSpec{SecretRef: &statsigv1alpha1.LocalSecretReference{Name: "statsig"}, SnapshotEntities: e, Target: tgt}
	g.Expect(k8s.Create(context.Background(), cs)).To(Succeed())
	g.Eventually(h.csReady("exposed"), wait, poll).Should(Equal("True"))
	reqs := h.fake.Requests(statsig.EndpointGetConfig)
	g.Expect(reqs).NotTo(BeEmpty())
	for _, r := range reqs {
		g.Expect(r.ExposureLoggingDisabled()).To(BeFalse())
	}
}

func TestConfigSnapshotKeyCollision(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	setGoldenState(h.fake)
	h.fake.SetGate("new_checkout", false)
	h.fake.SetConfig("checkout", map[string]any{"settings_theme": "light"})
	h.serverSecret("statsig")

	// Names that collide are refused before any call.
	h.configSnapshot("names", snapGates("new checkout", "new_checkout"))
	g.Eventually(h.csReady("names"), wait, poll).Should(Equal(statsigv1alpha1.ReasonKeyCollision))
	g.Expect(meta.FindStatusCondition(h.getCS("names").Status.Conditions, statsigv1alpha1.ConditionReady).Message).
		To(Equal(`gate "new checkout" and gate "new_checkout" both map to the key "gate.new_checkout"`))
	g.Expect(h.fake.Count(statsigtest.AllEndpoints)).To(BeZero())

	// A field of one config lands on another config's variable: found once the values are in.
	h.configSnapshot("fields", snapFormat(statsigv1alpha1.FormatEnv), snapConfigs("checkout", "checkout_settings"))
	g.Eventually(h.csReady("fields"), wait, poll).Should(Equal(statsigv1alpha1.ReasonKeyCollision))
	g.Expect(meta.FindStatusCondition(h.getCS("fields").Status.Conditions, statsigv1alpha1.ConditionReady).Message).
		To(ContainSubstring(`"STATSIG_CONFIG_CHECKOUT_SETTINGS_THEME"`))
	for _, name := range []string{"names-statsig", "fields-statsig"} {
		_, err := h.configMap(name)()
		g.Expect(err).To(HaveOccurred(), "nothing is written when keys collide")
	}
}

func TestConfigSnapshotDiscoversAcrossPages(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	var gates []statsig.Entity
	for i := range 7 {
		id := fmt.Sprintf("gate_%d", i)
		h.fake.SetGate(id, i%2 == 0)
		// The display name differs from the id: the id is what the SDK API takes.
		gates = append(gates, statsig.Entity{ID: id, Name: fmt.Sprintf("Gate %d", i)})
	}
	h.fake.SetEntities(statsig.EntityGates, gates)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.fake.SetEntities(statsig.EntityDynamicConfigs, []statsig.Entity{{ID: "checkout_settings", Name: "Checkout settings"}})
	h.fake.SetPageSize(3)
	h.configSnapshot("all", snapDiscover(statsigv1alpha1.Discover{Gates: true, DynamicConfigs: true}))

	gateKeys := func() []string {
		cm, err := h.configMap("all-statsig")()
		if err != nil {
			return nil
		}
		var out []string
		for k := range cm.Data {
			if strings.HasPrefix(k, "gate.") {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	g.Eventually(gateKeys, wait, poll).Should(Equal([]string{"gate.gate_0", "gate.gate_1", "gate.gate_2", "gate.gate_3", "gate.gate_4", "gate.gate_5", "gate.gate_6"}))
	g.Expect(h.configMap("all-statsig")()).To(HaveField("Data", HaveKeyWithValue("config.checkout_settings.json", `{"max_items":5}`)))
	var pages []string
	for _, r := range h.fake.Requests(statsig.EndpointListGates) {
		pages = append(pages, r.Query.Get("page"))
		g.Expect(r.Key()).To(Equal(h.fake.ConsoleKey), "discovery lists with the console key")
	}
	g.Expect(pages).To(Equal([]string{"1", "2", "3"}))
	g.Expect(h.fake.Count(statsig.EndpointListExperiments)).To(BeZero())

	// A gate added and one deleted in Statsig show up and leave at the next refresh.
	h.fake.SetGate("gate_new", true)
	h.fake.SetEntities(statsig.EntityGates, append(slices.Clone(gates[1:]), statsig.Entity{ID: "gate_new", Name: "New"}))
	h.fake.DeleteGate("gate_0")
	h.requestCS(g, "all")
	g.Expect(gateKeys()).To(Equal([]string{"gate.gate_1", "gate.gate_2", "gate.gate_3", "gate.gate_4", "gate.gate_5", "gate.gate_6", "gate.gate_new"}))
	cm, _ := h.configMap("all-statsig")()
	g.Expect(cm.Data["gates.json"]).To(Equal(`{"gate_1":false,"gate_2":true,"gate_3":false,"gate_4":true,"gate_5":false,"gate_6":true,"gate_new":true}`))
	g.Expect(h.getCS("all").Status.Entities).To(BeEquivalentTo(8))
}

func TestConfigSnapshotNeedsConsoleKeyToDiscover(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.secret("statsig", map[string]string{statsigv1alpha1.SecretKeyServer: h.fake.ServerKey})
	h.configSnapshot("all", snapDiscover(statsigv1alpha1.Discover{Gates: true}))
	g.Eventually(h.csReady("all"), wait, poll).Should(Equal(statsigv1alpha1.ReasonSecretNotFound))
	g.Expect(meta.FindStatusCondition(h.getCS("all").Status.Conditions, statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("consoleKey"))
	g.Expect(h.fake.Count(statsigtest.AllEndpoints)).To(BeZero())
}

// templateWithout returns a Deployment's spec with the snapshot-hash annotation taken out, to show
// that a rollout changed nothing else.
func templateWithout(d *appsv1.Deployment) appsv1.DeploymentSpec {
	s := d.Spec.DeepCopy()
	delete(s.Template.Annotations, statsigv1alpha1.AnnotationSnapshotHash)
	return *s
}

func TestConfigSnapshotRollsTargetOnlyOnChange(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.deployment("checkout-api")
	// Refreshes every 30 s (scaled: 300 ms), so unchanged refreshes keep coming.
	h.configSnapshot("checkout", snapConfigs("checkout_settings"), snapRefresh(30), snapRollout("Deployment", "checkout-api"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutInProgress), "RolledOut waits for the pods")
	h.completeRollout(g, "checkout-api")
	before := h.getDeployment("checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))

	// The first sync and unchanged refreshes roll nothing.
	calls := h.fake.Count(statsig.EndpointGetConfig)
	g.Eventually(func() int { return h.fake.Count(statsig.EndpointGetConfig) }, wait, poll).Should(BeNumerically(">=", calls+3))
	g.Expect(h.getDeployment("checkout-api").Generation).To(Equal(before.Generation))
	g.Expect(h.getDeployment("checkout-api").Spec).To(Equal(before.Spec))
	first := h.getCS("checkout").Status.ContentHash

	// A value change rolls it once: the pod template annotation, and nothing else.
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 6})
	g.Eventually(func() string { return h.getCS("checkout").Status.ContentHash }, wait, poll).ShouldNot(Equal(first))
	second := h.getCS("checkout").Status.ContentHash
	g.Eventually(func() string {
		return h.getDeployment("checkout-api").Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash]
	}, wait, poll).Should(Equal(second))
	rolled := h.getDeployment("checkout-api")
	g.Expect(rolled.Generation).To(Equal(before.Generation + 1))
	g.Expect(templateWithout(rolled)).To(Equal(before.Spec))
	g.Expect(rolled.Labels).To(Equal(before.Labels))
	g.Eventually(func() int { return len(h.events(statsigv1alpha1.ReasonRolledOut)) }, wait, poll).Should(Equal(1))
	g.Eventually(func() int { return len(h.events("ContentChanged")) }, wait, poll).Should(Equal(1))

	// Two more changes within the minute: the ConfigMap follows, the Deployment waits.
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 7})
	g.Eventually(h.configMap("checkout-statsig"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("config.checkout_settings.json", `{"max_items":7}`)))
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 8})
	g.Eventually(h.configMap("checkout-statsig"), wait, poll).Should(HaveField("Data", HaveKeyWithValue("config.checkout_settings.json", `{"max_items":8}`)))
	g.Eventually(func() string {
		return conditionReason(h.getCS("checkout").Status.Conditions, statsigv1alpha1.ConditionRolledOut)
	}, wait, poll).Should(Equal(statsigv1alpha1.ReasonRolloutPending))
	g.Consistently(func() int64 { return h.getDeployment("checkout-api").Generation }, time.Second, 50*time.Millisecond).Should(Equal(rolled.Generation))
	g.Expect(conditionReason(h.getCS("checkout").Status.Conditions, statsigv1alpha1.ConditionReady)).To(Equal("True"))

	// Once the minute since the last rollout has passed, the latest content rolls, once more.
	cm, err := h.configMap("checkout-statsig")()
	g.Expect(err).NotTo(HaveOccurred())
	latest := cm.Annotations[statsigv1alpha1.AnnotationContentHash]
	g.Eventually(func() string { return h.getCS("checkout").Status.ContentHash }, wait, poll).Should(Equal(latest))
	h.rolloutClock.Step(61 * time.Second)
	g.Eventually(func() string {
		return h.getDeployment("checkout-api").Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash]
	}, wait, poll).Should(Equal(latest))
	g.Consistently(func() int64 { return h.getDeployment("checkout-api").Generation }, time.Second, 50*time.Millisecond).Should(Equal(before.Generation + 2))
	g.Expect(templateWithout(h.getDeployment("checkout-api"))).To(Equal(before.Spec))
	g.Expect(len(h.events(statsigv1alpha1.ReasonRolledOut))).To(Equal(2))
	g.Expect(h.rolledOut("checkout")()).To(Equal(statsigv1alpha1.ReasonRolloutInProgress))
	h.completeRollout(g, "checkout-api")
	g.Eventually(h.rolledOut("checkout"), wait, poll).Should(Equal("True"))
	st := h.getCS("checkout").Status.Rollouts
	g.Expect(st).To(ConsistOf(And(HaveField("Kind", "Deployment"), HaveField("Name", "checkout-api"), HaveField("Hash", latest))))
}

func TestConfigSnapshotReportsMissingTarget(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.configSnapshot("checkout", snapGates("new_checkout"), snapRefresh(30), snapRollout("Deployment", "checkout-api"), snapRollout("StatefulSet", "not-there"))
	h.deployment("checkout-api")
	g.Eventually(func() string {
		return conditionReason(h.getCS("checkout").Status.Conditions, statsigv1alpha1.ConditionRolledOut)
	}, wait, poll).Should(Equal(statsigv1alpha1.ReasonTargetNotFound))
	cs := h.getCS("checkout")
	g.Expect(conditionReason(cs.Status.Conditions, statsigv1alpha1.ConditionReady)).To(Equal("True"), "a missing target leaves Ready alone")
	g.Expect(meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionRolledOut).Message).To(ContainSubstring("StatefulSet " + h.ns + "/not-there"))
	g.Expect(cs.Status.Rollouts).To(ContainElement(And(HaveField("Name", "not-there"), HaveField("Message", ContainSubstring("not found")))))
	// One Event, however many refreshes see it missing.
	g.Eventually(func() int { return h.fake.Count(statsig.EndpointCheckGate) }, wait, poll).Should(BeNumerically(">=", 4))
	g.Expect(h.events(statsigv1alpha1.ReasonTargetNotFound)).To(HaveLen(1))
	g.Expect(h.events(statsigv1alpha1.ReasonTargetNotFound)[0].Note).To(ContainSubstring("not-there"))
}

func TestConfigSnapshotTooLargeKeepsOldOutput(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.configSnapshot("checkout", snapConfigs("checkout_settings"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	before, err := h.configMap("checkout-statsig")()
	g.Expect(err).NotTo(HaveOccurred())
	hash := h.getCS("checkout").Status.ContentHash

	h.fake.SetConfig("checkout_settings", map[string]any{"blob": strings.Repeat("x", 2<<20)})
	h.requestCS(g, "checkout")
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal(statsigv1alpha1.ReasonConfigMapTooLarge))
	cs := h.getCS("checkout")
	g.Expect(meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionStale)).To(And(
		HaveField("Status", metav1.ConditionTrue), HaveField("Reason", statsigv1alpha1.ReasonSyncFailing)))
	g.Expect(cs.Status.ContentHash).To(Equal(hash))
	after, err := h.configMap("checkout-statsig")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	g.Expect(after.Data).To(Equal(before.Data))
}

func TestConfigSnapshotSuspendStopsCallsAndWrites(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetGate("new_checkout", true)
	h.serverSecret("statsig")
	h.configSnapshot("checkout", snapGates("new_checkout"), snapRefresh(30))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	cs := h.getCS("checkout")
	patch := client.MergeFrom(cs.DeepCopy())
	cs.Spec.Suspend = true
	g.Expect(k8s.Patch(context.Background(), cs, patch)).To(Succeed())
	h.eventuallyCached(g, cs, func() bool { return cs.Spec.Suspend })
	calls := h.fake.Count(statsigtest.AllEndpoints)
	cm, _ := h.configMap("checkout-statsig")()
	h.fake.SetGate("new_checkout", false)
	g.Consistently(func() int { return h.fake.Count(statsigtest.AllEndpoints) }, 2*time.Second, 100*time.Millisecond).Should(Equal(calls))
	g.Expect(h.configMap("checkout-statsig")()).To(HaveField("ResourceVersion", cm.ResourceVersion))
}

func TestConfigSnapshotRepairsDeletedConfigMapWithoutCallingStatsig(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	h.serverSecret("statsig")
	h.configSnapshot("checkout", snapConfigs("checkout_settings"))
	g.Eventually(h.csReady("checkout"), wait, poll).Should(Equal("True"))
	cm, _ := h.configMap("checkout-statsig")()
	calls := h.fake.Count(statsigtest.AllEndpoints)
	g.Expect(k8s.Delete(context.Background(), cm)).To(Succeed())
	g.Eventually(h.configMap("checkout-statsig"), wait, poll).Should(And(HaveField("Data", Equal(cm.Data)), HaveField("UID", Not(Equal(cm.UID)))))
	g.Expect(h.fake.Count(statsigtest.AllEndpoints)).To(Equal(calls))
}
