package credentials

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
)

// countingReader counts the Secret reads that reach the API server.
type countingReader struct {
	client.Reader
	secretGets atomic.Int32
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		c.secretGets.Add(1)
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

// versions answers SecretVersion from a client, as a watch that has listed would; a namespace in
// unwatched is one the watch cannot say about.
type versions struct {
	client.Reader
	unwatched map[string]bool
}

func (v versions) SecretVersion(name types.NamespacedName) (string, bool) {
	if v.unwatched[name.Namespace] {
		return "", false
	}
	s := &corev1.Secret{}
	if err := v.Get(context.Background(), name, s); err != nil {
		return "", apierrors.IsNotFound(err)
	}
	return s.ResourceVersion, true
}

func secret(data string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "statsig"},
		Data: map[string][]byte{statsigv1alpha1.SecretKeyServer: []byte(data)}}
}

var ref = &types.NamespacedName{Namespace: "shop", Name: "statsig"}

func key(g Gomega, c *Credentials) string {
	k, err := c.Key(statsigv1alpha1.SecretKeyServer)
	g.Expect(err).NotTo(HaveOccurred())
	return k
}

// With the watch's Secret versions, an unchanged Secret is read from the API server once; a
// change, a deletion and a recreation are each seen at the next resolve.
func TestResolveReadsAgainOnlyWhenTheSecretChanged(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	store := fake.NewClientBuilder().WithObjects(secret("secret-one")).Build()
	live := &countingReader{Reader: store}
	r := &Resolver{Reader: live, Versions: versions{Reader: store}}

	for range 5 {
		c, err := r.ResolveFor(ctx, "GateCheck/shop/a", "shop", ref)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(key(g, c)).To(Equal("secret-one"))
	}
	g.Expect(live.secretGets.Load()).To(Equal(int32(1)))

	s := &corev1.Secret{}
	g.Expect(store.Get(ctx, *ref, s)).To(Succeed())
	s.Data[statsigv1alpha1.SecretKeyServer] = []byte("secret-two")
	g.Expect(store.Update(ctx, s)).To(Succeed())
	c, err := r.ResolveFor(ctx, "GateCheck/shop/a", "shop", ref)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key(g, c)).To(Equal("secret-two"))
	g.Expect(c.Version).To(Equal(s.ResourceVersion), "a rotation changes the version the refresh tracker sees")
	g.Expect(live.secretGets.Load()).To(Equal(int32(2)))

	g.Expect(store.Delete(ctx, s)).To(Succeed())
	_, err = r.ResolveFor(ctx, "GateCheck/shop/a", "shop", ref)
	g.Expect(conditions.Classify(err).Reason).To(Equal(statsigv1alpha1.ReasonSecretNotFound))

	g.Expect(store.Create(ctx, secret("secret-three"))).To(Succeed())
	c, err = r.ResolveFor(ctx, "GateCheck/shop/a", "shop", ref)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key(g, c)).To(Equal("secret-three"))
}

// Without a watch, or where the watch cannot say (its namespace is not watched), every resolve
// reads the Secret.
func TestResolveWithoutVersionsReadsEveryTime(t *testing.T) {
	for name, v := range map[string]SecretVersions{
		"no watch":       nil,
		"not watched ns": versions{unwatched: map[string]bool{"shop": true}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			store := fake.NewClientBuilder().WithObjects(secret("secret-one")).Build()
			live := &countingReader{Reader: store}
			if vs, ok := v.(versions); ok {
				vs.Reader = store
				v = vs
			}
			r := &Resolver{Reader: live, Versions: v}
			for range 3 {
				_, err := r.ResolveFor(context.Background(), "GateCheck/shop/a", "shop", ref)
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(live.secretGets.Load()).To(Equal(int32(3)))
		})
	}
}

// The default Secret: always for cluster-scoped resources, for a namespace only while its labels
// match the trusted selector, never when the operator has none.
func TestResolveDefaultSecretNeedsTrust(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	def := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "statsig-system", Name: "default"},
		Data: map[string][]byte{statsigv1alpha1.SecretKeyServer: []byte("secret-default")}}
	trusted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"statsig": "trusted"}}}
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}}
	store := fake.NewClientBuilder().WithObjects(def, trusted, other).Build()
	r := &Resolver{Reader: store, Versions: versions{Reader: store}, Namespaces: store, DefaultSecret: client.ObjectKeyFromObject(def),
		TrustedNamespaces: labels.SelectorFromSet(labels.Set{"statsig": "trusted"})}

	for _, ns := range []string{"", "team-a"} {
		c, err := r.Resolve(ctx, ns, nil)
		g.Expect(err).NotTo(HaveOccurred(), ns)
		g.Expect(c.Secret).To(Equal(client.ObjectKeyFromObject(def)))
	}
	_, err := r.Resolve(ctx, "team-b", nil)
	g.Expect(conditions.Classify(err).Reason).To(Equal(statsigv1alpha1.ReasonCredentialsNotAllowed))

	none := &Resolver{Reader: store, Versions: versions{Reader: store}}
	_, err = none.Resolve(ctx, "", nil)
	g.Expect(conditions.Classify(err).Reason).To(Equal(statsigv1alpha1.ReasonCredentialsNotAllowed))
}

// The copies hold only Secrets that some resource reads: a Secret leaves memory once the last
// resource reading it is forgotten or moves to another Secret; Resolve without a resource keeps none.
func TestResolverDropsSecretsNoResourceReads(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	other := secret("secret-other")
	other.Name = "other"
	store := fake.NewClientBuilder().WithObjects(secret("secret-one"), other).Build()
	r := &Resolver{Reader: store, Versions: versions{Reader: store}}
	otherRef := &types.NamespacedName{Namespace: "shop", Name: "other"}
	kept := func() []types.NamespacedName {
		r.mu.Lock()
		defer r.mu.Unlock()
		out := []types.NamespacedName{}
		for k := range r.copies {
			out = append(out, k)
		}
		return out
	}

	_, err := r.Resolve(ctx, "shop", ref)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kept()).To(BeEmpty(), "no resource reads it")

	for _, user := range []string{"GateCheck/shop/a", "ConfigSnapshot/shop/b"} {
		_, err := r.ResolveFor(ctx, user, "shop", ref)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(kept()).To(ConsistOf(*ref))

	r.Forget("GateCheck/shop/a")
	g.Expect(kept()).To(ConsistOf(*ref), "b still reads it")

	_, err = r.ResolveFor(ctx, "ConfigSnapshot/shop/b", "shop", otherRef)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kept()).To(ConsistOf(*otherRef), "b moved to another Secret")

	r.Forget("ConfigSnapshot/shop/b")
	g.Expect(kept()).To(BeEmpty())
}

func TestTransformSecretMetadataKeepsOnlyWhatTheOperatorReads(t *testing.T) {
	g := NewWithT(t)
	in := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "statsig", Namespace: "shop", UID: "u-1", ResourceVersion: "42",
			Labels:          map[string]string{"app": "shop"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 2048)},
			OwnerReferences: []metav1.OwnerReference{{Name: "owner"}},
			Finalizers:      []string{"f"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
	}
	out, err := TransformSecretMetadata()(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).ObjectMeta).To(Equal(metav1.ObjectMeta{
		Name: "statsig", Namespace: "shop", UID: "u-1", ResourceVersion: "42"}))
	g.Expect(out.(*metav1.PartialObjectMetadata).TypeMeta.Kind).To(Equal("Secret"))

	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Labels: map[string]string{"a": "b"}},
		Data: map[string][]byte{"serverSecretKey": []byte("secret-x")}}
	out, err = TransformSecretMetadata()(s)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*corev1.Secret).Data).To(BeNil())
	g.Expect(out.(*corev1.Secret).Labels).To(BeNil())
}
