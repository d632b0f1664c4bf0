// Package configmap writes the ConfigMaps the operator owns: labelled, owned, hashed, never taken
// over from someone else, and never written when nothing changed.
package configmap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
)

// MaxSize is the most data (keys plus values) a ConfigMap holds.
const MaxSize = 1 << 20

// Desired is the content of one ConfigMap.
type Desired struct {
	Namespace, Name string
	Data            map[string]string
	BinaryData      map[string][]byte
}

// Hash is the hex sha256 over the data in sorted key order: each entry contributes its key, a NUL,
// its value and a NUL; binaryData entries follow the same way after a "binaryData" NUL marker.
func Hash(data map[string]string, binaryData map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(data[k]))
		h.Write([]byte{0})
	}
	if len(binaryData) > 0 {
		h.Write([]byte("binaryData\x00"))
		for _, k := range slices.Sorted(maps.Keys(binaryData)) {
			h.Write([]byte(k))
			h.Write([]byte{0})
			h.Write(binaryData[k])
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Size is what the API server counts against MaxSize.
func Size(data map[string]string, binaryData map[string][]byte) int {
	n := 0
	for k, v := range data {
		n += len(k) + len(v)
	}
	for k, v := range binaryData {
		n += len(k) + len(v)
	}
	return n
}

// OwnerIndex is the field index of cached ConfigMaps by the UID of the resource that wrote them
// (their owner-uid label). DeleteOthers lists through it, so that a sync reads its own ConfigMaps
// rather than filtering every ConfigMap in the namespace (or, for a cluster-scoped owner, in the
// cluster): without it, n resources in a namespace cost O(n²) per round of syncs.
const OwnerIndex = ".statsig.owner-uid"

// NewWriter returns a Writer over the manager's cache and API reader, and registers OwnerIndex on
// the cache's ConfigMaps. Call it before the manager starts.
func NewWriter(ctx context.Context, mgr manager.Manager) (*Writer, error) {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.ConfigMap{}, OwnerIndex, ownerUID); err != nil {
		return nil, fmt.Errorf("index ConfigMaps by owner: %w", err)
	}
	return &Writer{Client: mgr.GetClient(), Live: mgr.GetAPIReader(), Scheme: mgr.GetScheme()}, nil
}

// ownerUID is the OwnerIndex value of a ConfigMap.
func ownerUID(o client.Object) []string {
	if uid := o.GetLabels()[statsigv1alpha1.LabelOwnerUID]; uid != "" {
		return []string{uid}
	}
	return nil
}

// Writer creates and updates owned ConfigMaps. Client should read from the manager's cache, which
// holds only ConfigMaps labelled as managed by the operator; DeleteOthers needs OwnerIndex on it
// (NewWriter registers it). Live, when set, reads from the API server: Apply falls back to it when
// the cache lags behind a write (a create that finds the ConfigMap already there, an update that
// hits a conflict), so that the operator's own recent write is never mistaken for someone else's
// ConfigMap.
type Writer struct {
	Client client.Client
	Live   client.Reader
	Scheme *runtime.Scheme
}

// Result says what Apply did.
type Result struct {
	Hash    string
	Created bool
	Updated bool
}

// staleAttempts bounds how often Apply re-reads live after a write lost a race.
const staleAttempts = 3

// Apply makes the ConfigMap hold exactly d's data, owned by owner (of the given kind). It returns
// a TargetConflict failure for a ConfigMap it did not create, ConfigMapTooLarge when the data does
// not fit, and writes nothing when the stored data already matches.
func (w *Writer) Apply(ctx context.Context, owner client.Object, kind string, d Desired) (Result, error) {
	res := Result{Hash: Hash(d.Data, d.BinaryData)}
	if size := Size(d.Data, d.BinaryData); size > MaxSize {
		return res, conditions.Permanent(statsigv1alpha1.ReasonConfigMapTooLarge,
			fmt.Sprintf("ConfigMap %s/%s would hold %d bytes, more than the %d a ConfigMap can; the previous content is kept", d.Namespace, d.Name, size, MaxSize))
	}
	var reader client.Reader = w.Client
	for attempt := 1; ; attempt++ {
		err := w.apply(ctx, reader, owner, kind, d, &res)
		switch {
		case !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err):
			return res, err
		case w.Live == nil && apierrors.IsAlreadyExists(err):
			// Not in our label-selected cache, yet it exists: someone else's ConfigMap.
			return res, conflict(d, kind)
		case w.Live == nil || attempt == staleAttempts:
			// Still losing after live reads: another writer is at it right now. Transient; the
			// owner check on a later read decides whose ConfigMap it is.
			return res, fmt.Errorf("write ConfigMap %s/%s: %w", d.Namespace, d.Name, err)
		}
		reader = w.Live
	}
}

// apply is one read-compare-write pass, reading the current ConfigMap from reader. It returns the
// API server's AlreadyExists and Conflict errors unwrapped, for Apply to retry on a live read.
func (w *Writer) apply(ctx context.Context, reader client.Reader, owner client.Object, kind string, d Desired, res *Result) error {
	cm := &corev1.ConfigMap{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Name}, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{}
		cm.Namespace, cm.Name = d.Namespace, d.Name
		if err := w.stamp(cm, owner, kind, d, res.Hash); err != nil {
			return err
		}
		if err := w.Client.Create(ctx, cm); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return err
			}
			return fmt.Errorf("create ConfigMap %s/%s: %w", d.Namespace, d.Name, err)
		}
		res.Created = true
		return nil
	case err != nil:
		return fmt.Errorf("get ConfigMap %s/%s: %w", d.Namespace, d.Name, err)
	}
	if err := CheckOwner(cm, owner, kind); err != nil {
		return err
	}
	if cm.Annotations[statsigv1alpha1.AnnotationContentHash] == res.Hash &&
		maps.Equal(cm.Data, d.Data) && maps.EqualFunc(cm.BinaryData, d.BinaryData, func(a, b []byte) bool { return string(a) == string(b) }) &&
		cm.Annotations[statsigv1alpha1.AnnotationOwner] == ownerAnnotation(owner, kind) {
		return nil
	}
	if err := w.stamp(cm, owner, kind, d, res.Hash); err != nil {
		return err
	}
	if err := w.Client.Update(ctx, cm); err != nil {
		if apierrors.IsConflict(err) {
			return err
		}
		return fmt.Errorf("update ConfigMap %s/%s: %w", d.Namespace, d.Name, err)
	}
	res.Updated = true
	return nil
}

// DeleteOthers deletes ConfigMaps this owner wrote in namespace (all namespaces when "") except
// those named in keep (namespace/name), for example after the target was renamed.
func (w *Writer) DeleteOthers(ctx context.Context, owner client.Object, namespace string, keep map[client.ObjectKey]bool) error {
	list := &corev1.ConfigMapList{}
	opts := []client.ListOption{
		client.MatchingFields{OwnerIndex: string(owner.GetUID())},
		client.MatchingLabels{statsigv1alpha1.LabelManagedBy: statsigv1alpha1.ManagedByValue},
	}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := w.Client.List(ctx, list, opts...); err != nil {
		return fmt.Errorf("list owned ConfigMaps: %w", err)
	}
	for i := range list.Items {
		cm := &list.Items[i]
		if keep[client.ObjectKeyFromObject(cm)] {
			continue
		}
		if err := w.Client.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
	}
	return nil
}

func (w *Writer) stamp(cm *corev1.ConfigMap, owner client.Object, kind string, d Desired, hash string) error {
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[statsigv1alpha1.LabelManagedBy] = statsigv1alpha1.ManagedByValue
	cm.Labels[statsigv1alpha1.LabelOwnerKind] = kind
	cm.Labels[statsigv1alpha1.LabelOwnerUID] = string(owner.GetUID())
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[statsigv1alpha1.AnnotationOwner] = ownerAnnotation(owner, kind)
	cm.Annotations[statsigv1alpha1.AnnotationContentHash] = hash
	cm.Data = d.Data
	cm.BinaryData = d.BinaryData
	if err := controllerutil.SetControllerReference(owner, cm, w.Scheme); err != nil {
		return fmt.Errorf("set owner of ConfigMap %s/%s: %w", d.Namespace, d.Name, err)
	}
	return nil
}

func ownerAnnotation(owner client.Object, kind string) string {
	if owner.GetNamespace() == "" {
		return kind + "/" + owner.GetName()
	}
	return kind + "/" + owner.GetNamespace() + "/" + owner.GetName()
}

// CheckOwner returns a TargetConflict failure unless owner (of the given kind) wrote cm.
func CheckOwner(cm *corev1.ConfigMap, owner client.Object, kind string) error {
	if cm.Labels[statsigv1alpha1.LabelOwnerUID] == string(owner.GetUID()) {
		return nil
	}
	return conflict(Desired{Namespace: cm.Namespace, Name: cm.Name}, kind)
}

func conflict(d Desired, kind string) error {
	return conditions.Permanent(statsigv1alpha1.ReasonTargetConflict,
		fmt.Sprintf("ConfigMap %s/%s exists and was not created by this %s; it is left untouched", d.Namespace, d.Name, kind))
}
