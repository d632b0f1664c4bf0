package main

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// TestCacheHoldsOnlyWhatTheOperatorReads: unrelated ConfigMaps are not cached at all, and Secrets
// are not cached in any form (the Secret watcher follows their metadata, only where resources read
// them), so that neither grows the operator with the size of the cluster.
func TestCacheHoldsOnlyWhatTheOperatorReads(t *testing.T) {
	g := NewWithT(t)
	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	co := cacheOptions(&options.Options{})
	for obj := range co.ByObject {
		_, isSecret := obj.(*corev1.Secret)
		g.Expect(isSecret).To(BeFalse(), "the manager's cache has no Secret informer of its own")
	}
	co.Scheme = testenv.Scheme
	c, err := cache.New(cfg, co)
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = c.Start(ctx) }()
	direct, err := client.New(cfg, client.Options{Scheme: testenv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	big := map[string]string{corev1.LastAppliedConfigAnnotation: string(make([]byte, 4096)), "team": "shop"}
	g.Expect(direct.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: "default"}})).To(Succeed())
	g.Expect(direct.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ours", Namespace: "default",
		Labels:      map[string]string{statsigv1alpha1.LabelManagedBy: statsigv1alpha1.ManagedByValue},
		Annotations: big}})).To(Succeed())

	var cms corev1.ConfigMapList
	g.Eventually(func() []corev1.ConfigMap {
		g.Expect(c.List(ctx, &cms, client.InNamespace("default"))).To(Succeed())
		return cms.Items
	}).Should(HaveLen(1))
	g.Expect(cms.Items[0].Name).To(Equal("ours"))
	g.Expect(cms.Items[0].Annotations).To(Equal(map[string]string{"team": "shop"}))
	g.Expect(cms.Items[0].ManagedFields).To(BeEmpty())
}
