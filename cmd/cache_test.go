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

// TestCacheHoldsOnlyWhatTheOperatorReads: unrelated ConfigMaps are not cached at all, and Secret
// metadata is cached without labels, annotations or managed fields, so that neither grows the
// operator with the size of the cluster.
func TestCacheHoldsOnlyWhatTheOperatorReads(t *testing.T) {
	g := NewWithT(t)
	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	co := cacheOptions(&options.Options{})
	co.Scheme = testenv.Scheme
	c, err := cache.New(cfg, co)
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = c.Start(ctx) }()
	direct, err := client.New(cfg, client.Options{Scheme: testenv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	big := map[string]string{corev1.LastAppliedConfigAnnotation: string(make([]byte, 4096)), "team": "shop"}
	g.Expect(direct.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "statsig", Namespace: "default", Labels: map[string]string{"app": "shop"}, Annotations: big},
		StringData: map[string]string{"serverSecretKey": "secret-x"},
	})).To(Succeed())
	g.Expect(direct.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: "default"}})).To(Succeed())
	g.Expect(direct.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ours", Namespace: "default",
		Labels:      map[string]string{statsigv1alpha1.LabelManagedBy: statsigv1alpha1.ManagedByValue},
		Annotations: big}})).To(Succeed())

	secret := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
	g.Eventually(func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "statsig"}, secret)
	}).Should(Succeed())
	g.Expect(secret.ResourceVersion).NotTo(BeEmpty())
	g.Expect(secret.Labels).To(BeEmpty())
	g.Expect(secret.Annotations).To(BeEmpty())
	g.Expect(secret.ManagedFields).To(BeEmpty())

	var cms corev1.ConfigMapList
	g.Eventually(func() []corev1.ConfigMap {
		g.Expect(c.List(ctx, &cms, client.InNamespace("default"))).To(Succeed())
		return cms.Items
	}).Should(HaveLen(1))
	g.Expect(cms.Items[0].Name).To(Equal("ours"))
	g.Expect(cms.Items[0].Annotations).To(Equal(map[string]string{"team": "shop"}))
	g.Expect(cms.Items[0].ManagedFields).To(BeEmpty())
}
