package configmap

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
)

// laggingCache serves Get from a snapshot taken before the latest writes, the way an informer cache
// lags behind the API server; writes go to the store.
type laggingCache struct {
	client.Client
	snapshot map[client.ObjectKey]*corev1.ConfigMap
}

func (l laggingCache) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	cm, ok := l.snapshot[key]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, key.Name)
	}
	cm.DeepCopyInto(obj.(*corev1.ConfigMap))
	return nil
}

func newOwner() *statsigv1alpha1.GateCheck {
	return &statsigv1alpha1.GateCheck{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "checkout", UID: "uid-1"}}
}

func newScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := statsigv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func get(g Gomega, c client.Reader, name string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: name}, cm)).To(Succeed())
	return cm
}

func TestApplyOwnWriteNotYetInCache(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	store := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	owner := newOwner()
	fresh := &Writer{Client: store, Scheme: store.Scheme()}
	_, err := fresh.Apply(ctx, owner, "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "false"}})
	g.Expect(err).NotTo(HaveOccurred())

	// The cache has not seen that create yet: Create answers AlreadyExists, and the live read shows
	// that the ConfigMap is this owner's own.
	w := &Writer{Client: laggingCache{Client: store}, Live: store, Scheme: store.Scheme()}
	res, err := w.Apply(ctx, owner, "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "true"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Updated).To(BeTrue())
	g.Expect(get(g, store, "gates").Data).To(Equal(map[string]string{"a": "true"}))

	// Without a live reader the same lag reads as someone else's ConfigMap.
	blind := &Writer{Client: laggingCache{Client: store}, Scheme: store.Scheme()}
	_, err = blind.Apply(ctx, owner, "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "false"}})
	g.Expect(conditions.Classify(err).Reason).To(Equal(statsigv1alpha1.ReasonTargetConflict))
}

func TestApplyStaleCachedVersion(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	store := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	owner := newOwner()
	w := &Writer{Client: store, Scheme: store.Scheme()}
	_, err := w.Apply(ctx, owner, "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "1"}})
	g.Expect(err).NotTo(HaveOccurred())
	old := get(g, store, "gates")
	_, err = w.Apply(ctx, owner, "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "2"}})
	g.Expect(err).NotTo(HaveOccurred())

	// The cache still holds the first version: its update conflicts, the live retry succeeds.
	lagging := laggingCache{Client: store, snapshot: map[client.ObjectKey]*corev1.ConfigMap{client.ObjectKeyFromObject(old): old}}
	w = &Writer{Client: lagging, Live: store, Scheme: store.Scheme()}
	res, err := w.Apply(ctx, owner, "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "3"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Updated).To(BeTrue())
	g.Expect(get(g, store, "gates").Data).To(Equal(map[string]string{"a": "3"}))

	// The live read also sees that the stored data already matches: nothing more is written.
	before := get(g, store, "gates").ResourceVersion
	res, err = w.Apply(ctx, owner, "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "3"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Created || res.Updated).To(BeFalse())
	g.Expect(get(g, store, "gates").ResourceVersion).To(Equal(before))
}

func TestApplyLeavesSomeoneElsesConfigMap(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "gates"}, Data: map[string]string{"mine": "yes"}}
	store := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(theirs).Build()
	before := get(g, store, "gates")

	// The label-selected cache never holds it; the live read shows it is not ours.
	w := &Writer{Client: laggingCache{Client: store}, Live: store, Scheme: store.Scheme()}
	_, err := w.Apply(ctx, newOwner(), "GateCheck", Desired{Namespace: "team", Name: "gates", Data: map[string]string{"a": "true"}})
	var f *conditions.Failure
	g.Expect(errors.As(err, &f)).To(BeTrue())
	g.Expect(f.Reason).To(Equal(statsigv1alpha1.ReasonTargetConflict))
	after := get(g, store, "gates")
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
	g.Expect(after.Data).To(Equal(map[string]string{"mine": "yes"}))
}

func TestApplyRefusesOversizedData(t *testing.T) {
	g := NewWithT(t)
	store := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	w := &Writer{Client: store, Live: store, Scheme: store.Scheme()}
	big := make([]byte, MaxSize)
	_, err := w.Apply(context.Background(), newOwner(), "GateCheck", Desired{Namespace: "team", Name: "gates", BinaryData: map[string][]byte{"x": big}})
	g.Expect(conditions.Classify(err).Reason).To(Equal(statsigv1alpha1.ReasonConfigMapTooLarge))
	g.Expect(apierrors.IsNotFound(store.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: "gates"}, &corev1.ConfigMap{}))).To(BeTrue())
}

// indexedOnly is a cache that answers a ConfigMap List only through OwnerIndex, as a scan of a
// namespace of thousands would cost every sync.
type indexedOnly struct{ client.Client }

func (c indexedOnly) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	if o.FieldSelector == nil {
		return errors.New("a List without the OwnerIndex field selector scans every ConfigMap")
	}
	if _, ok := o.FieldSelector.RequiresExactMatch(OwnerIndex); !ok {
		return errors.New("a List not through OwnerIndex scans every ConfigMap")
	}
	return c.Client.List(ctx, list, opts...)
}

// TestDeleteOthersReadsOnlyItsOwnersConfigMaps: DeleteOthers finds the owner's other ConfigMaps
// through OwnerIndex (in one namespace, or all for a cluster-scoped owner), deletes them, and leaves
// the kept one and every other owner's alone.
func TestDeleteOthersReadsOnlyItsOwnersConfigMaps(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s := newScheme(t)
	store := fake.NewClientBuilder().WithScheme(s).WithIndex(&corev1.ConfigMap{}, OwnerIndex, ownerUID).Build()
	w := &Writer{Client: indexedOnly{store}, Scheme: s}
	// A cluster-scoped owner writes into several namespaces; a GateCheck shares one of them.
	owner := &statsigv1alpha1.ClusterConfigSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "flags", UID: "uid-1"}}
	other := newOwner()
	other.UID = "uid-2"
	for _, d := range []struct {
		owner    client.Object
		kind     string
		ns, name string
	}{{owner, "ClusterConfigSnapshot", "team", "current"}, {owner, "ClusterConfigSnapshot", "team", "renamed-away"},
		{owner, "ClusterConfigSnapshot", "elsewhere", "current"}, {other, "GateCheck", "team", "checkout"}} {
		_, err := w.Apply(ctx, d.owner, d.kind, Desired{Namespace: d.ns, Name: d.name, Data: map[string]string{"k": "v"}})
		g.Expect(err).NotTo(HaveOccurred())
	}

	g.Expect(w.DeleteOthers(ctx, owner, "team", map[client.ObjectKey]bool{{Namespace: "team", Name: "current"}: true})).To(Succeed())
	names := func() []string {
		list := &corev1.ConfigMapList{}
		g.Expect(store.List(ctx, list)).To(Succeed())
		var out []string
		for _, cm := range list.Items {
			out = append(out, cm.Namespace+"/"+cm.Name)
		}
		return out
	}
	g.Expect(names()).To(ConsistOf("team/current", "elsewhere/current", "team/checkout"))

	// All namespaces, as a ClusterConfigSnapshot asks: only the owner's, everywhere.
	g.Expect(w.DeleteOthers(ctx, owner, "", map[client.ObjectKey]bool{{Namespace: "elsewhere", Name: "current"}: true})).To(Succeed())
	g.Expect(names()).To(ConsistOf("elsewhere/current", "team/checkout"))
}
