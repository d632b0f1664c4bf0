package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// memScenario is P4: unrelated ConfigMaps and Secrets, then GateChecks.
type memScenario struct {
	ConfigMaps, Secrets, GateChecks int
}

// memResult is the operator's RSS (bytes): idle, and its growth for each step, held (after a GC,
// what the goals are about) and right after the step (its garbage included).
type memResult struct {
	Idle, UnrelatedGrowth, CRGrowth       int64
	UnrelatedGrowthAtOnce, CRGrowthAtOnce int64
	// UnrelatedLive and CRLive are the growth of the live Go heap after a GC.
	UnrelatedLive, CRLive int64
}

func measureMemory(t testing.TB, sc memScenario) memResult {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	k8s := cluster.get(t).k8s
	fake := gateFake(t)
	op := startOperator(t, fake)
	op.waitWorking(t)
	// Idle is an operator that has done its work once: one GateCheck synced, so that the code and
	// the buffers of a sync are already in; the growth below is the objects' alone.
	warm := newNamespace(t, "warm")
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "statsig", Namespace: warm},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: fake.ServerKey}})).To(Succeed())
	g.Expect(k8s.Create(ctx, memGateCheck(warm, 0))).To(Succeed())
	waitAll(t, "GateCheckList", warm, 1, ready, 2*time.Minute)
	var res memResult
	var idleLive int64
	res.Idle, idleLive = op.held(t)

	// Unrelated objects, sized like ordinary ones (a few labels and annotations, some data).
	other := newNamespace(t, "unrelated")
	meta := func(kind string, i int) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: fmt.Sprintf("%s-%05d", kind, i), Namespace: other,
			Labels:      map[string]string{"app.kubernetes.io/name": "shop", "app.kubernetes.io/part-of": "checkout"},
			Annotations: map[string]string{"example.com/owner": "team-checkout", "example.com/ticket": fmt.Sprintf("SHOP-%d", i)}}
	}
	idx := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	parallel(idx(sc.ConfigMaps), func(i int) {
		g.Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: meta("cm", i),
			Data: map[string]string{"settings.json": fmt.Sprintf(`{"replicas": %d, "feature": "on"}`, i)}})).To(Succeed())
	})
	parallel(idx(sc.Secrets), func(i int) {
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: meta("secret", i),
			StringData: map[string]string{"password": fmt.Sprintf("p-%08d", i)}})).To(Succeed())
	})
	res.UnrelatedGrowthAtOnce = op.settledRSS(t) - res.Idle
	rss, live := op.held(t)
	res.UnrelatedGrowth, res.UnrelatedLive = rss-res.Idle, live-idleLive

	ns := newNamespace(t, "mem")
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "statsig", Namespace: ns},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: fake.ServerKey}})).To(Succeed())
	before := res.Idle + res.UnrelatedGrowth
	parallel(idx(sc.GateChecks), func(i int) {
		g.Expect(k8s.Create(ctx, memGateCheck(ns, i))).To(Succeed())
	})
	waitAll(t, "GateCheckList", ns, sc.GateChecks, ready, 10*time.Minute)
	res.CRGrowthAtOnce = op.settledRSS(t) - before
	rss, liveCR := op.held(t)
	res.CRGrowth, res.CRLive = rss-before, liveCR-live
	return res
}

// memGateCheck is the i-th GateCheck of P4: five of 300 gates, its own ConfigMap.
func memGateCheck(ns string, i int) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": fmt.Sprintf("gc-%04d", i), "namespace": ns},
		"spec": map[string]any{
			"secretRef": map[string]any{"name": "statsig"},
			"user":      map[string]any{"userID": "bench-service"},
			"gates": []any{fmt.Sprintf("gate_%04d", i%300), fmt.Sprintf("gate_%04d", (i+1)%300),
				fmt.Sprintf("gate_%04d", (i+7)%300), fmt.Sprintf("gate_%04d", (i+31)%300), fmt.Sprintf("gate_%04d", (i+101)%300)},
			"target": map[string]any{"configMapName": fmt.Sprintf("gc-%04d", i)},
		},
	}}
	u.SetGroupVersionKind(gvkGateCheck)
	return u
}
