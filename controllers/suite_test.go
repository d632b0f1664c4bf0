package controllers

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/refresh"
	"github.com/statsig-operator/statsig-operator/internal/secretwatch"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
	"github.com/statsig-operator/statsig-operator/internal/trigger"
)

var (
	restConfig *rest.Config
	k8s        client.Client // direct, uncached: what a user sees
	nsCounter  atomic.Int32
)

// timeScale shrinks refresh periods in tests: 30 s of spec become 300 ms.
const timeScale = 10 * time.Millisecond

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.Level(zapLevel()))))
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restConfig = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		panic(err)
	}
	metrics.Register()
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// harness is one test's world: its own namespace, Statsig fake and manager, so that tests never
// see each other's objects.
type harness struct {
	t      *testing.T
	ns     string
	fake   *statsigtest.Server
	writes *writeCounter
	// defaultSecret/trusted configure the default Secret for this harness's manager.
	defaultSecret types.NamespacedName
	trusted       labels.Selector
	deps          *testDeps
	// cached is the manager's own (cache-backed) client.
	cached client.Client
	// extraNamespaces are cached besides ns, for kinds that write outside the test's namespace.
	extraNamespaces []string
	// stop stops the manager that startManager started last, as a crash or a rollout would.
	stop func()
	// statsigOptions adjust the Statsig client options; progress how a long sync shows.
	statsigOptions []func(*statsig.Options)
	progress       ProgressOptions
	// controllers are the reconcilers the harness's manager runs; every kind unless a test asks
	// for fewer (withControllers).
	controllers []func(ctrl.Manager, *harness) error
	// export is the DailyReportExport environment; rolloutClock the snapshot rollouts' clock of the
	// manager started last.
	export       *dreEnv
	rolloutClock *clocktesting.FakeClock
}

// withControllers runs only the given reconcilers (setupGateChecks, setupSnapshots, setupExports).
func withControllers(setups ...func(ctrl.Manager, *harness) error) harnessOption {
	return func(h *harness) { h.controllers = setups }
}

type harnessOption func(*harness)

// withNamespaces adds namespaces to the manager's cache (a ClusterConfigSnapshot writes into them).
func withNamespaces(ns ...string) harnessOption {
	return func(h *harness) { h.extraNamespaces = append(h.extraNamespaces, ns...) }
}

// withStatsigOptions adjusts the Statsig client the controllers use (timeouts, say).
func withStatsigOptions(f func(*statsig.Options)) harnessOption {
	return func(h *harness) { h.statsigOptions = append(h.statsigOptions, f) }
}

func withDefaultSecret(nn types.NamespacedName, trusted labels.Selector) harnessOption {
	return func(h *harness) { h.defaultSecret, h.trusted = nn, trusted }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		ns:     fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))),
		fake:   statsigtest.New(t),
		writes: &writeCounter{},
		// Every kind, as the operator runs them.
		controllers: []func(ctrl.Manager, *harness) error{setupGateChecks, setupSnapshots, setupExports, setupWebhookReceivers},
		export:      &dreEnv{clock: clocktesting.NewFakeClock(dreStart), allowFile: true},
	}
	if len(h.ns) > 63 {
		h.ns = strings.TrimRight(h.ns[:63], "-")
	}
	h.trusted = labels.Nothing()
	for _, o := range opts {
		o(h)
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, testenv.Namespace(h.ns, nil)); err != nil {
		t.Fatal(err)
	}
	h.startManager()
	return h
}

func (h *harness) startManager() {
	t := h.t
	namespaces := map[string]cache.Config{h.ns: {}}
	if h.defaultSecret.Namespace != "" {
		namespaces[h.defaultSecret.Namespace] = cache.Config{}
	}
	for _, ns := range h.extraNamespaces {
		namespaces[ns] = cache.Config{}
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 testenv.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{
			DefaultNamespaces: namespaces,
			ByObject: map[client.Object]cache.ByObject{
				&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{statsigv1alpha1.LabelManagedBy: statsigv1alpha1.ManagedByValue})},
			},
		},
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(noWatch{c}, h.writes.funcs()), nil
		},
		Controller: ctrlConfigSkipNameValidation(),
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := h.fake.Options()
	opts.BaseBackoff, opts.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	opts.RequestTimeout = 2 * time.Second
	for _, f := range h.statsigOptions {
		f(&opts)
	}
	clients, err := statsig.NewClients(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.cached = mgr.GetClient()
	// The Secret watcher as the operator runs it, kept to the namespaces this manager caches as
	// --watch-namespaces keeps it to those.
	meta, err := metadata.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	watched := slices.Sorted(maps.Keys(namespaces))
	secrets := secretwatch.New(meta, watched, credentials.TransformSecretMetadata())
	if err := mgr.Add(secrets); err != nil {
		t.Fatal(err)
	}
	writer, err := configmap.NewWriter(context.Background(), mgr)
	if err != nil {
		t.Fatal(err)
	}
	h.deps = &testDeps{
		Clients: clients,
		Credentials: &credentials.Resolver{Reader: mgr.GetAPIReader(), Versions: secrets, Namespaces: mgr.GetClient(),
			DefaultSecret: h.defaultSecret, TrustedNamespaces: h.trusted},
		Secrets:    secrets,
		ConfigMaps: writer,
		Events:     mgr.GetEventRecorder("statsig-operator"),
		Interval:   func(s int32) time.Duration { return time.Duration(s) * timeScale },
		Progress:   h.progress,
		Triggers:   &trigger.Hub{},
	}
	for _, setup := range h.controllers {
		if err := setup(mgr, h); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	h.stop = func() { cancel(); <-done }
	t.Cleanup(h.stop)
}

// testDeps are what every controller under test is built from.
type testDeps struct {
	Clients     *statsig.Clients
	Credentials *credentials.Resolver
	// Secrets is the manager's Secret watcher.
	Secrets    *secretwatch.Watcher
	ConfigMaps *configmap.Writer
	Events     eventRecorder
	Interval   func(int32) time.Duration
	Progress   ProgressOptions
	// Triggers is shared by the controllers a WebhookReceiver triggers.
	Triggers *trigger.Hub
}

// fastTracker is a refresh tracker with test-sized backoff.
func fastTracker() *refresh.Tracker {
	t := refresh.NewTracker(clock.RealClock{})
	t.BaseBackoff, t.MaxBackoff = 100*time.Millisecond, time.Second
	return t
}

// writeCounter counts the manager's writes to the API server by kind and verb.
type writeCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *writeCounter) add(kind, verb string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == nil {
		w.n = map[string]int{}
	}
	w.n[kind+"/"+verb]++
}

// Get returns the count for e.g. "ConfigMap/update".
func (w *writeCounter) Get(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[key]
}

func kindOf(o client.Object) string {
	switch o.(type) {
	case *corev1.ConfigMap:
		return "ConfigMap"
	case *statsigv1alpha1.GateCheck:
		return "GateCheck"
	}
	return fmt.Sprintf("%T", o)
}

func (w *writeCounter) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			w.add(kindOf(o), "create")
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			w.add(kindOf(o), "update")
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.add(kindOf(o), "patch")
			return c.Patch(ctx, o, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			w.add(kindOf(o), "delete")
			return c.Delete(ctx, o, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			w.add(kindOf(o), sub+"-patch")
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	}
}

// Builders.

func (h *harness) secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}, StringData: data}
	if err := k8s.Create(context.Background(), s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) serverSecret(name string) *corev1.Secret {
	return h.secret(name, map[string]string{statsigv1alpha1.SecretKeyServer: h.fake.ServerKey, statsigv1alpha1.SecretKeyConsole: h.fake.ConsoleKey})
}

type gcOption func(*statsigv1alpha1.GateCheck)

func withTarget(name string) gcOption {
	return func(gc *statsigv1alpha1.GateCheck) {
		gc.Spec.Target = &statsigv1alpha1.GateCheckTarget{ConfigMapName: statsigv1alpha1.ConfigMapName(name)}
	}
}

func withSecret(name string) gcOption {
	return func(gc *statsigv1alpha1.GateCheck) {
		if name == "" {
			gc.Spec.SecretRef = nil
			return
		}
		gc.Spec.SecretRef = &statsigv1alpha1.LocalSecretReference{Name: name}
	}
}

func withRefresh(seconds int32) gcOption {
	return func(gc *statsigv1alpha1.GateCheck) { gc.Spec.RefreshIntervalSeconds = seconds }
}

func (h *harness) gateCheck(name string, gates []string, opts ...gcOption) *statsigv1alpha1.GateCheck {
	gc := &statsigv1alpha1.GateCheck{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: statsigv1alpha1.GateCheckSpec{
			SecretRef: &statsigv1alpha1.LocalSecretReference{Name: "statsig"},
			User:      statsigv1alpha1.User{UserID: "shop-prod"},
			// A long period by default: tests that want refreshes ask for them.
			RefreshPolicy: statsigv1alpha1.RefreshPolicy{RefreshIntervalSeconds: 86400},
		},
	}
	for _, g := range gates {
		gc.Spec.Gates = append(gc.Spec.Gates, statsigv1alpha1.EntityName(g))
	}
	for _, o := range opts {
		o(gc)
	}
	if err := k8s.Create(context.Background(), gc); err != nil {
		h.t.Fatal(err)
	}
	return gc
}

// Observers.

func (h *harness) get(name string) *statsigv1alpha1.GateCheck {
	gc := &statsigv1alpha1.GateCheck{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, gc); err != nil {
		h.t.Fatal(err)
	}
	return gc
}

func (h *harness) configMap(name string) func() (*corev1.ConfigMap, error) {
	return func() (*corev1.ConfigMap, error) {
		cm := &corev1.ConfigMap{}
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, cm)
		return cm, err
	}
}

func readyReason(gc *statsigv1alpha1.GateCheck) string {
	c := meta.FindStatusCondition(gc.Status.Conditions, statsigv1alpha1.ConditionReady)
	if c == nil {
		return ""
	}
	if c.Status == metav1.ConditionTrue {
		return "True"
	}
	return c.Reason
}

// readyOf polls a GateCheck's Ready: "True", or the reason when it is False.
func (h *harness) readyOf(name string) func() string {
	return func() string { return readyReason(h.get(name)) }
}

// requestSync bumps the requested-at annotation and waits until it was handled.
func (h *harness) requestSync(g Gomega, name string) {
	gc := h.get(name)
	v := fmt.Sprintf("%d", time.Now().UnixNano())
	patch := client.MergeFrom(gc.DeepCopy())
	if gc.Annotations == nil {
		gc.Annotations = map[string]string{}
	}
	gc.Annotations[statsigv1alpha1.AnnotationRequestedAt] = v
	g.Expect(k8s.Patch(context.Background(), gc, patch)).To(Succeed())
	g.Eventually(func() string { return h.get(name).Status.LastHandledRequestedAt }, 10*time.Second, 20*time.Millisecond).Should(Equal(v))
}

func (h *harness) events(reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func zapLevel() int8 {
	if os.Getenv("TEST_VERBOSE") != "" {
		return -2
	}
	return 4 // quiet: shutdown of per-test managers logs cancelled requests as errors
}

// noWatch lets the interceptor wrap the manager's cache-backed client, which has no Watch.
type noWatch struct{ client.Client }

func (noWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, fmt.Errorf("watch is not supported")
}

// eventuallyCached waits until the manager's cache holds a version of obj for which ok is true (ok
// reads obj, which is refreshed from the cache on each poll).
func (h *harness) eventuallyCached(g Gomega, obj client.Object, ok func() bool) {
	g.Eventually(func() bool {
		return h.cached.Get(context.Background(), client.ObjectKeyFromObject(obj), obj) == nil && ok()
	}, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
}

// eventuallySyncs waits until n more syncs of kind have run (whatever their result), and returns
// how many did.
func (h *harness) eventuallySyncs(g Gomega, kind string, n int) float64 {
	start := counterSum("statsig_operator_syncs_total", "kind", kind)
	var done float64
	g.Eventually(func() float64 {
		done = counterSum("statsig_operator_syncs_total", "kind", kind) - start
		return done
	}, 60*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", n))
	return done
}

// reconcileCount is controller-runtime's count of reconciles of a controller that did not fail
// (tests run one at a time, and each stops its manager when it ends).
func reconcileCount(controller string) float64 {
	return counterSum("controller_runtime_reconcile_total", "controller", controller) -
		counterSumWhere("controller_runtime_reconcile_total", map[string]string{"controller": controller, "result": "error"})
}

// counterSum adds up the series of a counter whose label has the value.
func counterSum(name, label, value string) float64 {
	return counterSumWhere(name, map[string]string{label: value})
}

func counterSumWhere(name string, match map[string]string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue series
				}
			}
			n += m.GetCounter().GetValue()
		}
	}
	return n
}
