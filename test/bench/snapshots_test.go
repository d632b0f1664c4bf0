package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
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

// snapshotScenario is P1's snapshot part: ConfigSnapshots sharing a Secret and user, each with
// gates of a universe, configs of 20 and experiments of 10.
type snapshotScenario struct {
	Snapshots                   int
	Gates, Configs, Experiments int
	Latency                     time.Duration
	Seed                        uint64
}

// snapshotResult: get_config calls per round against the distinct (config or experiment) reads.
type snapshotResult struct {
	DistinctReads                int
	TriggeredReads, NaturalReads int
}

var gvkConfigSnapshot = statsigv1alpha1.GroupVersion.WithKind("ConfigSnapshot")

func measureSnapshots(t testing.TB, sc snapshotScenario) snapshotResult {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	k8s := cluster.get(t).k8s
	fake := gateFake(t)
	for i := range 20 {
		fake.SetConfig(fmt.Sprintf("config_%02d", i), map[string]any{"n": i})
	}
	for i := range 10 {
		fake.SetExperiment(fmt.Sprintf("experiment_%02d", i), "Test", map[string]any{"variant": i})
	}
	if sc.Latency > 0 {
		fake.Fault(statsigtest.AllEndpoints, statsigtest.Fault{Latency: sc.Latency})
	}
	ns := newNamespace(t, "snapshots")
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "statsig", Namespace: ns},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: fake.ServerKey}})).To(Succeed())
	startOperator(t, fake)

	rng := rand.New(rand.NewPCG(sc.Seed, 13))
	pick := func(prefix string, universe, n int, into map[string]bool) []any {
		seen := map[string]bool{}
		var out []any
		for len(out) < n {
			name := fmt.Sprintf("%s_%0*d", prefix, map[bool]int{true: 4, false: 2}[prefix == "gate"], rng.IntN(universe))
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
				if into != nil {
					into[name] = true
				}
			}
		}
		return out
	}
	reads := map[string]bool{}
	objs := make([]*unstructured.Unstructured, sc.Snapshots)
	for i := range objs {
		u := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": fmt.Sprintf("cs-%03d", i), "namespace": ns},
			"spec": map[string]any{
				"secretRef":              map[string]any{"name": "statsig"},
				"user":                   map[string]any{"userID": "bench-service"},
				"gates":                  pick("gate", 300, sc.Gates, nil),
				"dynamicConfigs":         pick("config", 20, sc.Configs, reads),
				"experiments":            pick("experiment", 10, sc.Experiments, reads),
				"refreshIntervalSeconds": int64(30),
				"target":                 map[string]any{"configMapName": fmt.Sprintf("cs-%03d", i), "format": "Files"},
			},
		}}
		u.SetGroupVersionKind(gvkConfigSnapshot)
		objs[i] = u
	}
	res := snapshotResult{DistinctReads: len(reads)}
	parallel(objs, func(o *unstructured.Unstructured) { g.Expect(k8s.Create(ctx, o)).To(Succeed()) })
	waitAll(t, "ConfigSnapshotList", ns, sc.Snapshots, ready, 10*time.Minute)

	// Natural first, while every snapshot is on its group's grid; then a requested-at round.
	before := fake.Count(statsig.EndpointGetConfig)
	mark := latestSyncOf(t, "ConfigSnapshotList", ns)
	waitAll(t, "ConfigSnapshotList", ns, sc.Snapshots, syncedAfter(mark), 5*time.Minute)
	res.NaturalReads = fake.Count(statsig.EndpointGetConfig) - before

	before = fake.Count(statsig.EndpointGetConfig)
	value := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	parallel(objs, func(o *unstructured.Unstructured) {
		patch := client.RawPatch("application/merge-patch+json",
			[]byte(`{"metadata":{"annotations":{"`+statsigv1alpha1.AnnotationRequestedAt+`":"`+value+`"}}}`))
		g.Expect(k8s.Patch(ctx, o.DeepCopy(), patch)).To(Succeed())
	})
	waitAll(t, "ConfigSnapshotList", ns, sc.Snapshots, handled(value), 5*time.Minute)
	res.TriggeredReads = fake.Count(statsig.EndpointGetConfig) - before
	return res
}
