// Package controllers holds one reconciler per kind.
package controllers

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/secretwatch"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// eventRecorder is the part of the events/v1 recorder the controllers use.
type eventRecorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// secretIndex indexes resources by the Secret (namespace/name) they read, so that a Secret event
// finds the resources to sync.
const secretIndex = ".statsig.secret"

// watchSecrets indexes a kind by the Secrets its resources read (secretIndex), and tells the Secret
// watcher, from the kind's informer, in which namespaces each resource reads them: a namespace's
// Secrets are watched only while some resource reads one there. Both come from secretsOf (a
// resource's Secrets), so that what is watched and what a Secret event finds never disagree.
// References with no namespace or name (no default Secret configured) are left out.
func watchSecrets(mgr ctrl.Manager, w *secretwatch.Watcher, kind string, obj client.Object, secretsOf func(client.Object) []types.NamespacedName) error {
	if w == nil {
		return fmt.Errorf("%s: no Secret watcher", kind)
	}
	refs := func(o client.Object) []types.NamespacedName {
		return slices.DeleteFunc(secretsOf(o), func(ref types.NamespacedName) bool {
			return ref.Namespace == "" || ref.Name == ""
		})
	}
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, obj, secretIndex, func(o client.Object) []string {
		var out []string
		for _, ref := range refs(o) {
			out = append(out, ref.String())
		}
		return out
	}); err != nil {
		return fmt.Errorf("index %ss by Secret: %w", kind, err)
	}
	inf, err := mgr.GetCache().GetInformer(ctx, obj)
	if err != nil {
		return fmt.Errorf("informer of %ss: %w", kind, err)
	}
	use := func(in any) {
		o, ok := in.(client.Object)
		if !ok {
			return
		}
		var namespaces []string
		for _, ref := range refs(o) {
			namespaces = append(namespaces, ref.Namespace)
		}
		w.Use(credentialsUser(kind, client.ObjectKeyFromObject(o)), namespaces)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    use,
		UpdateFunc: func(_, in any) { use(in) },
		DeleteFunc: func(in any) {
			if t, ok := in.(toolscache.DeletedFinalStateUnknown); ok {
				in = t.Obj
			}
			if o, ok := in.(client.Object); ok {
				w.Release(credentialsUser(kind, client.ObjectKeyFromObject(o)))
			}
		},
	}); err != nil {
		return fmt.Errorf("follow the Secrets %ss read: %w", kind, err)
	}
	return nil
}

// secretOrDefault is the Secret a resource reads: its own reference, or else the default Secret.
func secretOrDefault(ref *types.NamespacedName, defaultSecret types.NamespacedName) []types.NamespacedName {
	if ref != nil {
		return []types.NamespacedName{*ref}
	}
	return []types.NamespacedName{defaultSecret}
}

// patchStatus writes status once, only when it changed.
func patchStatus(ctx context.Context, c client.Client, before, after client.Object, beforeStatus, afterStatus any) error {
	if equality.Semantic.DeepEqual(beforeStatus, afterStatus) {
		return nil
	}
	if err := c.Status().Patch(ctx, after, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("patch status: %w", err))
	}
	return nil
}

// readyEvent emits an Event when Ready changes status or reason, not on every refresh.
func readyEvent(rec eventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	b := meta.FindStatusCondition(before, statsigv1alpha1.ConditionReady)
	a := meta.FindStatusCondition(after, statsigv1alpha1.ConditionReady)
	if a == nil || (b != nil && b.Status == a.Status && b.Reason == a.Reason) {
		return
	}
	if a.Status == metav1.ConditionTrue {
		rec.Eventf(obj, nil, "Normal", a.Reason, "Sync", "%s", a.Message)
		return
	}
	rec.Eventf(obj, nil, "Warning", a.Reason, "Sync", "%s", a.Message)
}

// toStatsigUser converts the spec's user; an attribute of a type Statsig does not take is InvalidSpec.
func toStatsigUser(u statsigv1alpha1.User) (statsig.User, error) {
	out := statsig.User{
		UserID: u.UserID, CustomIDs: u.CustomIDs, Email: u.Email, IP: u.IP, UserAgent: u.UserAgent,
		Country: u.Country, Locale: u.Locale, AppVersion: u.AppVersion,
	}
	if u.StatsigEnvironment != nil && u.StatsigEnvironment.Tier != "" {
		out.StatsigEnvironment = &statsig.Environment{Tier: u.StatsigEnvironment.Tier}
	}
	var err error
	if out.Custom, err = attributes("spec.user.custom", u.Custom); err != nil {
		return out, err
	}
	if out.PrivateAttributes, err = attributes("spec.user.privateAttributes", u.PrivateAttributes); err != nil {
		return out, err
	}
	return out, nil
}

func attributes(field string, in map[string]statsigv1alpha1.AttributeValue) (map[string]any, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		// Checks what the API server cannot: the value's type.
		if err := v.Validate(); err != nil {
			return nil, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, fmt.Sprintf("%s.%s: %v", field, k, err))
		}
		out[k] = v.Value()
	}
	return out, nil
}

func names(in []statsigv1alpha1.EntityName) []string {
	out := make([]string, len(in))
	for i, n := range in {
		out[i] = string(n)
	}
	return out
}

// freshness keeps statsig_operator_seconds_since_last_sync for a resource: counted from its last
// successful sync, or from its creation while it has never synced, so that a resource failing from
// the start shows up in the same alert. A suspended resource has no series: nothing is expected of
// it.
func freshness(kind string, obj client.Object, s *statsigv1alpha1.CommonStatus, suspended bool) {
	o := metrics.Object{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	if suspended {
		metrics.LastSuccess.Delete(o)
		return
	}
	since := obj.GetCreationTimestamp().Time
	if s.LastSyncTime != nil {
		since = s.LastSyncTime.Time
	}
	metrics.LastSuccess.SetIfAbsent(o, since)
}

// forSecret maps a Secret event (from the Secret watcher's source) to the resources of one kind
// that read that Secret, found through secretIndex. list is an empty list of the kind; it is copied
// for each event.
func forSecret(c client.Reader, list client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, s client.Object) []reconcile.Request {
		return bySecret(ctx, c, list, s.GetNamespace()+"/"+s.GetName())
	}
}

// forDefaultSecretUsers maps a Namespace event to the resources of one kind in that namespace that
// use the operator's default Secret: whether they may depends on the namespace's labels
// (--default-secret-namespaces), so a namespace that becomes trusted, or stops being trusted, is
// acted on at once rather than at the next refresh. The list is not restricted to the namespace in
// the query but filtered after it: with --watch-namespaces the cache refuses a query for a namespace
// it does not watch, while Namespace events come for every namespace.
func forDefaultSecretUsers(c client.Reader, list client.ObjectList, defaultSecret types.NamespacedName) handler.MapFunc {
	return func(ctx context.Context, ns client.Object) []reconcile.Request {
		if defaultSecret.Name == "" {
			return nil
		}
		var reqs []reconcile.Request
		for _, req := range bySecret(ctx, c, list, defaultSecret.String()) {
			if req.Namespace == ns.GetName() {
				reqs = append(reqs, req)
			}
		}
		return reqs
	}
}

// labelsChanged passes Namespace updates that change labels. Creations are left out: a new
// namespace holds no resources yet, and at startup every resource is reconciled anyway.
var labelsChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !labels.Equals(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	},
}

// bySecret lists the resources of one kind whose secretIndex is secret.
func bySecret(ctx context.Context, c client.Reader, list client.ObjectList, secret string) []reconcile.Request {
	l := list.DeepCopyObject().(client.ObjectList)
	if err := c.List(ctx, l, client.MatchingFields{secretIndex: secret}); err != nil {
		logf.FromContext(ctx).Error(err, "List resources for a Secret", "kind", fmt.Sprintf("%T", list))
		return nil
	}
	var reqs []reconcile.Request
	_ = meta.EachListItem(l, func(o runtime.Object) error {
		if obj, ok := o.(client.Object); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
		}
		return nil
	})
	return reqs
}

// ownedBy passes the events of ConfigMaps whose controller is one of the operator's resources of
// kind (on an update, before or after the change), as Owns maps them. Four kinds own ConfigMaps and
// every operator ConfigMap's event reaches all four; without it, each kind's handler looks the
// owner's kind up in the REST mapper only to find the ConfigMap is not its own.
func ownedBy(kind string) predicate.Predicate {
	is := func(o client.Object) bool {
		ref := metav1.GetControllerOfNoCopy(o)
		if ref == nil || ref.Kind != kind {
			return false
		}
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		return err == nil && gv.Group == statsigv1alpha1.GroupVersion.Group
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return is(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return is(e.ObjectOld) || is(e.ObjectNew) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return is(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return is(e.Object) },
	}
}
