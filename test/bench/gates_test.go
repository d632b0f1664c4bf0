package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// gateScenario is P1/P3's setup: GateChecks sharing one Secret and user, each checking gatesEach
// gates drawn from a universe of gate names, against a fake Statsig answering after latency.
type gateScenario struct {
	GateChecks int
	GatesEach  int
	Universe   int
	Latency    time.Duration
	// Rounds is how many requested-at rounds and natural refresh rounds to measure (0: none).
	Rounds int
	// Seed picks the gates, so that every run checks the same ones.
	Seed uint64
}

// gateResult is what one run of a gateScenario measured.
type gateResult struct {
	// Distinct is the number of distinct gate names; Limit is ceil(Distinct/100), the fewest calls
	// a round can make.
	Distinct, Limit int
	// ReadyAfter: from the last create until every GateCheck was Ready (P3).
	ReadyAfter time.Duration
	// FirstSyncCalls: check_gate calls until every GateCheck was Ready.
	FirstSyncCalls int
	// TriggeredCalls and NaturalCalls: check_gate calls per requested-at round and per natural
	// refresh round.
	TriggeredCalls, NaturalCalls []int
	// MaxNames is the most names any call carried; Status429 the 429 answers from Statsig.
	MaxNames, Status429 int
}

var gvkGateCheck = statsigv1alpha1.GroupVersion.WithKind("GateCheck")

func measureGateChecks(t testing.TB, sc gateScenario) gateResult {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	k8s := cluster.get(t).k8s
	fake := statsigtest.New(t)
	universe := make([]string, sc.Universe)
	for i := range universe {
		universe[i] = fmt.Sprintf("gate_%04d", i)
		fake.SetGate(universe[i], i%3 == 0)
	}
	if sc.Latency > 0 {
		fake.Fault(statsigtest.AllEndpoints, statsigtest.Fault{Latency: sc.Latency})
	}
	ns := newNamespace(t, "gates")
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "statsig", Namespace: ns},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: fake.ServerKey}})).To(Succeed())
	startOperator(t, fake)

	rng := rand.New(rand.NewPCG(sc.Seed, 11))
	distinct := map[string]bool{}
	objs := make([]*unstructured.Unstructured, sc.GateChecks)
	for i := range objs {
		gates := make([]any, 0, sc.GatesEach)
		seen := map[string]bool{}
		for len(gates) < sc.GatesEach {
			n := universe[rng.IntN(len(universe))]
			if !seen[n] {
				seen[n] = true
				distinct[n] = true
				gates = append(gates, n)
			}
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": fmt.Sprintf("gc-%04d", i), "namespace": ns},
			"spec": map[string]any{
				"secretRef":              map[string]any{"name": "statsig"},
				"user":                   map[string]any{"userID": "bench-service"},
				"gates":                  gates,
				"refreshIntervalSeconds": int64(30),
				"target":                 map[string]any{"configMapName": fmt.Sprintf("gc-%04d", i)},
			},
		}}
		u.SetGroupVersionKind(gvkGateCheck)
		objs[i] = u
	}
	res := gateResult{Distinct: len(distinct), Limit: (len(distinct) + 99) / 100}

	parallel(objs, func(o *unstructured.Unstructured) { g.Expect(k8s.Create(ctx, o)).To(Succeed()) })
	created := time.Now()
	res.ReadyAfter = waitAll(t, "GateCheckList", ns, sc.GateChecks, ready, 10*time.Minute).Sub(created)
	res.FirstSyncCalls = fake.Count(statsig.EndpointCheckGate)

	for r := range sc.Rounds {
		// Natural: the next refresh of every GateCheck after the last sync seen now. It comes first,
		// while every GateCheck sits on its group's refresh grid.
		before := fake.Count(statsig.EndpointCheckGate)
		mark := latestSync(t, ns)
		waitAll(t, "GateCheckList", ns, sc.GateChecks, syncedAfter(mark), 5*time.Minute)
		res.NaturalCalls = append(res.NaturalCalls, fake.Count(statsig.EndpointCheckGate)-before)

		// Triggered: every GateCheck's requested-at bumped at once.
		before = fake.Count(statsig.EndpointCheckGate)
		value := "bench-" + strconv.Itoa(r) + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
		parallel(objs, func(o *unstructured.Unstructured) {
			patch := client.RawPatch("application/merge-patch+json",
				[]byte(`{"metadata":{"annotations":{"`+statsigv1alpha1.AnnotationRequestedAt+`":"`+value+`"}}}`))
			g.Expect(k8s.Patch(ctx, o.DeepCopy(), patch)).To(Succeed())
		})
		waitAll(t, "GateCheckList", ns, sc.GateChecks, handled(value), 5*time.Minute)
		res.TriggeredCalls = append(res.TriggeredCalls, fake.Count(statsig.EndpointCheckGate)-before)
	}
	for _, req := range fake.Requests(statsig.EndpointCheckGate) {
		res.MaxNames = max(res.MaxNames, len(req.GateNames()))
	}
	for _, ep := range []string{statsig.EndpointCheckGate, statsig.EndpointGetConfig, statsig.EndpointGetLayer} {
		for _, req := range fake.Requests(ep) {
			if req.Status == 429 {
				res.Status429++
			}
		}
	}
	return res
}

// gateFake is a Statsig fake with gate_0000 … gate_0299, every other one passing.
func gateFake(t testing.TB) *statsigtest.Server {
	fake := statsigtest.New(t)
	for i := range 300 {
		fake.SetGate(fmt.Sprintf("gate_%04d", i), i%2 == 0)
	}
	return fake
}

// sequentialPeer is the peer of P3: one check_gate call per gate, one after another, against the
// same fake latency. It makes calls calls and returns how long they took; the caller scales that to
// the scenario's number of gate checks.
func sequentialPeer(t testing.TB, latency time.Duration, calls int) time.Duration {
	t.Helper()
	fake := statsigtest.New(t)
	fake.SetGate("gate_0000", true)
	fake.Fault(statsigtest.AllEndpoints, statsigtest.Fault{Latency: latency})
	o := fake.Options()
	o.QPS = 1e9 // the peer is not rate limited: it is only sequential
	o.BatchWindow = time.Nanosecond
	pool, err := statsig.NewClients(o)
	if err != nil {
		t.Fatal(err)
	}
	c := pool.ForKey(fake.ServerKey)
	start := time.Now()
	for range calls {
		if _, err := c.CheckGate(context.Background(), statsig.User{UserID: "bench-service"}, "gate_0000", statsig.ReadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start)
}

type gateCheckFilter func(u unstructured.Unstructured) bool

func countObjects(t testing.TB, listKind, ns string, keep gateCheckFilter) int {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(statsigv1alpha1.GroupVersion.WithKind(listKind))
	if err := cluster.get(t).k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		return -1
	}
	n := 0
	for _, u := range list.Items {
		if keep(u) {
			n++
		}
	}
	return n
}

func ready(u unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func handled(value string) gateCheckFilter {
	return func(u unstructured.Unstructured) bool {
		v, _, _ := unstructured.NestedString(u.Object, "status", "lastHandledRequestedAt")
		return v == value
	}
}

func lastSync(u unstructured.Unstructured) time.Time {
	v, _, _ := unstructured.NestedString(u.Object, "status", "lastSyncTime")
	ts, _ := time.Parse(time.RFC3339, v)
	return ts
}

func syncedAfter(mark time.Time) gateCheckFilter {
	return func(u unstructured.Unstructured) bool { return lastSync(u).After(mark) }
}

func latestSync(t testing.TB, ns string) time.Time {
	return latestSyncOf(t, "GateCheckList", ns)
}

func latestSyncOf(t testing.TB, listKind, ns string) time.Time {
	var latest time.Time
	countObjects(t, listKind, ns, func(u unstructured.Unstructured) bool {
		if ts := lastSync(u); ts.After(latest) {
			latest = ts
		}
		return false
	})
	return latest
}

var nsSeq struct {
	sync.Mutex
	n int
}

func newNamespace(t testing.TB, prefix string) string {
	nsSeq.Lock()
	nsSeq.n++
	name := fmt.Sprintf("%s-%d-%d", prefix, nsSeq.n, time.Now().UnixNano()%1e6)
	nsSeq.Unlock()
	k8s := cluster.get(t).k8s
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	// envtest runs no namespace controller, so deleting the namespace would leave its objects: they
	// are deleted one kind at a time instead, so that the next measurement's operator neither caches
	// nor lists them. Cleanups run last first, so the operator that used them has stopped by then.
	t.Cleanup(func() {
		for _, o := range []client.Object{&statsigv1alpha1.GateCheck{}, &statsigv1alpha1.ConfigSnapshot{}, &corev1.ConfigMap{}, &corev1.Secret{}} {
			if err := k8s.DeleteAllOf(context.Background(), o, client.InNamespace(name)); err != nil {
				t.Errorf("delete the %T objects of %s: %v", o, name, err)
			}
		}
	})
	return name
}

// parallel runs f over items on 32 goroutines.
func parallel[T any](items []T, f func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for it := range work {
				f(it)
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
}
