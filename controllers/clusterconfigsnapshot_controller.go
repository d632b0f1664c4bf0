package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/ownwrites"
	"github.com/statsig-operator/statsig-operator/internal/rollout"
	"github.com/statsig-operator/statsig-operator/internal/rolloutevents"
)

const clusterConfigSnapshotKind = "ClusterConfigSnapshot"

// ClusterConfigSnapshotReconciler evaluates a ClusterConfigSnapshot once per refresh and writes the
// result into every namespace its selector picks.
type ClusterConfigSnapshotReconciler struct {
	SnapshotDeps
	// WatchNamespaces limits the namespaces written to those the operator watches (--watch-namespaces);
	// empty means all.
	WatchNamespaces []string

	reads *ownwrites.Reader
}

// +kubebuilder:rbac:groups=statsig-operator.io,resources=clusterconfigsnapshots,verbs=get;list;watch
// +kubebuilder:rbac:groups=statsig-operator.io,resources=clusterconfigsnapshots/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile syncs one ClusterConfigSnapshot.
func (r *ClusterConfigSnapshotReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return reconcileShape(ctx, kindShape[*statsigv1alpha1.ClusterConfigSnapshot]{
		kind: clusterConfigSnapshotKind, reader: r.reads.Get, wrote: r.reads.Wrote, writer: r.Client, events: r.Events, progress: r.Progress,
		newObj: func() *statsigv1alpha1.ClusterConfigSnapshot { return &statsigv1alpha1.ClusterConfigSnapshot{} },
		common: func(ccs *statsigv1alpha1.ClusterConfigSnapshot) *statsigv1alpha1.CommonStatus {
			return &ccs.Status.CommonStatus
		},
		suspend: func(ccs *statsigv1alpha1.ClusterConfigSnapshot) bool { return ccs.Spec.Suspend },
		forget: func(key types.NamespacedName) {
			r.reads.Forget(key)
			r.Tracker.Forget(key)
			r.Outputs.Forget(key)
			r.Credentials.Forget(credentialsUser(clusterConfigSnapshotKind, key))
			metrics.ForgetSnapshot(metrics.Object{Kind: clusterConfigSnapshotKind, Name: key.Name})
		},
	}, req, r.reconcile)
}

func (r *ClusterConfigSnapshotReconciler) reconcile(ctx context.Context, ccs *statsigv1alpha1.ClusterConfigSnapshot, w *progressWatch) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(ccs)
	st := &ccs.Status
	creds, credErr := r.Credentials.ResolveFor(ctx, credentialsUser(clusterConfigSnapshotKind, key), "", secretRef(ccs.Spec.SecretRef))
	in := refreshInput(ccs.Generation, ccs.Annotations, &st.CommonStatus, creds, interval(r.Interval, ccs.Spec.RefreshIntervalSeconds))
	in.Group = batchGroup(creds, ccs.Spec.User, ccs.Spec.LogExposures)
	in.Triggered = r.triggered.Take(key)
	due, wait := r.Tracker.Due(key, in)
	if !due {
		// Namespaces come and go between refreshes: write the last good content to those that
		// start matching and remove it from those that stop, from memory and without Statsig.
		ok, f, err := r.keepOutput(ctx, ccs)
		if err != nil {
			return ctrl.Result{}, err
		}
		if ok && !r.Tracker.Failing(key) {
			markNamespaces(st, ccs.Generation, ccs.Spec.Target.ConfigMapName, f, r.Clock.Now(), conditionsOf(st))
		}
		// Content that cannot be restored from memory (after a restart) is fetched again, but only
		// while Ready: a failing snapshot waits for its backoff.
		if ok || !conditions.IsReady(&st.CommonStatus) {
			rollWait, err := r.rollout(ctx, ccs)
			return requeue(sooner(sooner(wait, rollWait), retryAfter(f)), err)
		}
	}

	err := credErr
	var nsFailure *conditions.Failure
	if err == nil {
		w.begin(waitingForStatsig)
		nsFailure, err = r.sync(ctx, ccs, creds)
	}
	handleRequest(ccs, &st.CommonStatus)
	now := r.Clock.Now()
	prev := conditionsOf(st)
	var after time.Duration
	if f := markOutcome(ctx, clusterConfigSnapshotKind, ccs, &st.CommonStatus, now, err, nsFailure, ""); f != nil {
		after = r.Tracker.Failed(key, in, f.Transient, f.RetryAfter)
	} else {
		markNamespaces(st, ccs.Generation, ccs.Spec.Target.ConfigMapName, nsFailure, now, prev)
		after = sooner(r.Tracker.Succeeded(key, in), retryAfter(nsFailure))
	}
	rollWait, rollErr := r.rollout(ctx, ccs)
	return requeue(sooner(after, rollWait), rollErr)
}

// sync calls Statsig once and writes the result into every selected namespace. A Statsig failure
// writes nothing anywhere. A namespace that cannot be written is listed in status.failedNamespaces
// and returned as a failure of its own, while the other namespaces are written.
func (r *ClusterConfigSnapshotReconciler) sync(ctx context.Context, ccs *statsigv1alpha1.ClusterConfigSnapshot, creds *credentials.Credentials) (*conditions.Failure, error) {
	namespaces, err := r.selected(ctx, ccs)
	if err != nil {
		return nil, err
	}
	data, values, err := evaluate(ctx, creds, r.Statsig, r.Fetcher, ccs.Spec.SnapshotEntities, ccs.Spec.Target.Format)
	if err != nil {
		return nil, err
	}
	count := values.Count()
	f, err := r.fanOut(ctx, ccs, namespaces, data)
	if err != nil {
		return nil, err
	}
	st := &ccs.Status
	hash := configmap.Hash(data, nil)
	// Kept for the namespaces that could not be written yet, whatever happened to the others.
	r.Outputs.Put(client.ObjectKeyFromObject(ccs), ccs.UID, hash, data)
	// The content counts as written unless it reached no namespace while some were selected.
	if st.Namespaces > 0 || len(namespaces) == 0 {
		contentEvent(r.Events, ccs, st.ContentHash, hash, count)
		setContent(&st.SnapshotStatus, hash, r.Clock.Now())
		rolloutevents.Observe(&st.StatsigEvents, statsigEventOptions(ccs.Spec.SnapshotEntities), hash, values)
		st.Entities = int32(count)
		metrics.SnapshotEntities.WithLabelValues(clusterConfigSnapshotKind, "", ccs.Name).Set(float64(count))
	}
	return f, nil
}

// keepOutput writes the last good content to the namespaces selected now and removes it from the
// others. ok is false when it has no copy of the content to write.
func (r *ClusterConfigSnapshotReconciler) keepOutput(ctx context.Context, ccs *statsigv1alpha1.ClusterConfigSnapshot) (ok bool, failed *conditions.Failure, err error) {
	key := client.ObjectKeyFromObject(ccs)
	_, data, ok := r.Outputs.Get(key, ccs.UID)
	if !ok {
		hash := ccs.Status.ContentHash
		if hash == "" {
			return false, nil, nil // nothing written yet (or no namespace took it): a sync decides
		}
		// After a restart any namespace's copy that still holds the content will do.
		if data, ok, err = r.copyOf(ctx, ccs, hash); err != nil || !ok {
			return false, nil, err
		}
		r.Outputs.Put(key, ccs.UID, hash, data)
	}
	namespaces, err := r.selected(ctx, ccs)
	if err != nil {
		if f := (*conditions.Failure)(nil); errors.As(err, &f) {
			return false, nil, nil // reported by the sync that follows
		}
		return false, nil, err
	}
	failed, err = r.fanOut(ctx, ccs, namespaces, data)
	return err == nil, failed, err
}

// copyOf finds a ConfigMap this snapshot wrote whose data still hashes to hash.
func (r *ClusterConfigSnapshotReconciler) copyOf(ctx context.Context, ccs *statsigv1alpha1.ClusterConfigSnapshot, hash string) (map[string]string, bool, error) {
	list := &corev1.ConfigMapList{}
	if err := r.List(ctx, list, client.MatchingLabels{
		statsigv1alpha1.LabelManagedBy: statsigv1alpha1.ManagedByValue,
		statsigv1alpha1.LabelOwnerUID:  string(ccs.UID),
	}); err != nil {
		return nil, false, fmt.Errorf("list ConfigMaps of %s: %w", ccs.Name, err)
	}
	for _, cm := range list.Items {
		if cm.Name == string(ccs.Spec.Target.ConfigMapName) && configmap.Hash(cm.Data, cm.BinaryData) == hash {
			return cm.Data, true, nil
		}
	}
	return nil, false, nil
}

// fanOut writes data into each namespace, removes this snapshot's ConfigMaps from every other
// namespace (and any left under an earlier target name), and records the counts in status. It
// returns one failure summing up the namespaces that could not be written, nil when none.
func (r *ClusterConfigSnapshotReconciler) fanOut(ctx context.Context, ccs *statsigv1alpha1.ClusterConfigSnapshot, namespaces []string, data map[string]string) (*conditions.Failure, error) {
	name := string(ccs.Spec.Target.ConfigMapName)
	keep := make(map[client.ObjectKey]bool, len(namespaces))
	var written int32
	var failed []statsigv1alpha1.NamespaceFailure
	var first *conditions.Failure
	transient := false
	for _, ns := range namespaces {
		// A namespace that failed keeps whatever it holds: the last good content, or nothing.
		keep[client.ObjectKey{Namespace: ns, Name: name}] = true
		res, err := r.ConfigMaps.Apply(ctx, ccs, clusterConfigSnapshotKind, configmap.Desired{Namespace: ns, Name: name, Data: data})
		if err != nil {
			f := conditions.Classify(err)
			failed = append(failed, statsigv1alpha1.NamespaceFailure{Name: ns, Message: f.Message})
			if first == nil {
				first = f
			}
			transient = transient || f.Transient
			continue
		}
		countWrite(clusterConfigSnapshotKind, res)
		written++
	}
	if err := r.ConfigMaps.DeleteOthers(ctx, ccs, "", keep); err != nil {
		return nil, err
	}
	ccs.Status.Namespaces, ccs.Status.FailedNamespaces = written, failed
	metrics.SnapshotNamespaces.WithLabelValues(ccs.Name, "written").Set(float64(written))
	metrics.SnapshotNamespaces.WithLabelValues(ccs.Name, "failed").Set(float64(len(failed)))
	if first == nil {
		return nil, nil
	}
	names := make([]string, 0, 5)
	for _, f := range failed[:min(len(failed), 5)] {
		names = append(names, f.Name)
	}
	if len(failed) > len(names) {
		names = append(names, fmt.Sprintf("and %d more", len(failed)-len(names)))
	}
	return &conditions.Failure{
		Reason: first.Reason,
		Message: fmt.Sprintf("%d of %d namespaces could not be written (%s; see status.failedNamespaces): %s",
			len(failed), len(namespaces), strings.Join(names, ", "), first.Message),
		Transient: transient,
	}, nil
}

// markNamespaces sets Ready and Stale from the namespace failures after a Statsig sync that
// succeeded (when it failed, Ready reports why, which matters more). A namespace that could not be
// written holds older output or none, so its failure makes the output Stale too.
func markNamespaces(st *statsigv1alpha1.ClusterConfigSnapshotStatus, generation int64, name statsigv1alpha1.ConfigMapName, f *conditions.Failure, now time.Time, prev []metav1.Condition) {
	ready := metav1.Condition{Type: statsigv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: statsigv1alpha1.ReasonSynced,
		ObservedGeneration: generation,
		Message:            fmt.Sprintf("%d entities written to ConfigMap %s in %d namespaces", st.Entities, name, st.Namespaces)}
	stale := metav1.Condition{Type: statsigv1alpha1.ConditionStale, Status: metav1.ConditionFalse, Reason: statsigv1alpha1.ReasonSynced,
		ObservedGeneration: generation, Message: "Output is from the last sync"}
	if f != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, f.Reason, f.Message
		since := conditions.FailingSince(prev, now)
		stale.Status, stale.Reason = metav1.ConditionTrue, statsigv1alpha1.ReasonSyncFailing
		stale.Message = fmt.Sprintf("Writing to namespaces failing since %s; the ConfigMaps in status.failedNamespaces hold older output, or none",
			since.UTC().Format(time.RFC3339))
	}
	for _, c := range []*metav1.Condition{&ready, &stale} {
		// A condition whose status is what it was before this sync keeps its transition time (the
		// sync may have set it the other way in between).
		if p := meta.FindStatusCondition(prev, c.Type); p != nil && p.Status == c.Status {
			c.LastTransitionTime = p.LastTransitionTime
		}
		meta.SetStatusCondition(&st.Conditions, *c)
	}
	conditions.SetHealth(&st.Conditions, generation, f, conditions.FailingSince(prev, now))
}

// conditionsOf copies the conditions as they are now, before a sync rewrites them.
func conditionsOf(st *statsigv1alpha1.ClusterConfigSnapshotStatus) []metav1.Condition {
	out := make([]metav1.Condition, len(st.Conditions))
	for i := range st.Conditions {
		st.Conditions[i].DeepCopyInto(&out[i])
	}
	return out
}

// namespaceRetry is how soon namespaces that failed for a transient reason are written again
// (from memory, without calling Statsig).
const namespaceRetry = 10 * time.Second

func retryAfter(f *conditions.Failure) time.Duration {
	if f != nil && f.Transient {
		return namespaceRetry
	}
	return 0
}

// selected lists the namespaces the selector picks now, sorted; terminating namespaces are left
// out, as nothing can be created in them.
func (r *ClusterConfigSnapshotReconciler) selected(ctx context.Context, ccs *statsigv1alpha1.ClusterConfigSnapshot) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(&ccs.Spec.Target.NamespaceSelector)
	if err != nil {
		return nil, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, "spec.target.namespaceSelector: "+err.Error())
	}
	list := &corev1.NamespaceList{}
	if err := r.List(ctx, list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	out := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		if len(r.WatchNamespaces) > 0 && !slices.Contains(r.WatchNamespaces, ns.Name) {
			continue
		}
		out = append(out, ns.Name)
	}
	slices.Sort(out)
	return out, nil
}

// rollout rolls the spec's targets in every namespace the content was written to.
func (r *ClusterConfigSnapshotReconciler) rollout(ctx context.Context, ccs *statsigv1alpha1.ClusterConfigSnapshot) (time.Duration, error) {
	var targets []rollout.Target
	if len(ccs.Spec.RolloutTargets) > 0 && ccs.Status.ContentHash != "" {
		namespaces, err := r.selected(ctx, ccs)
		if err != nil {
			return 0, nil // reported by the sync
		}
		for _, ns := range namespaces {
			if slices.ContainsFunc(ccs.Status.FailedNamespaces, func(f statsigv1alpha1.NamespaceFailure) bool { return f.Name == ns }) {
				continue // its ConfigMap does not hold the current content
			}
			for _, t := range ccs.Spec.RolloutTargets {
				targets = append(targets, rollout.Target{Kind: t.Kind, Namespace: ns, Name: t.Name})
			}
		}
	}
	out, wait, err := rolloutTargets(ctx, r.Rollouts, r.Events, ccs, ccs.Generation, &ccs.Status.SnapshotStatus, targets)
	if err != nil || len(targets) == 0 {
		return wait, err
	}
	key := func() (string, error) {
		creds, err := r.Credentials.ResolveFor(ctx, credentialsUser(clusterConfigSnapshotKind, client.ObjectKeyFromObject(ccs)), "",
			secretRef(ccs.Spec.SecretRef))
		if err != nil {
			return "", err
		}
		return creds.Key(statsigv1alpha1.SecretKeyServer)
	}
	name := clusterConfigSnapshotKind + "/" + ccs.Name
	return sooner(wait, reportRollout(ctx, r.Reporter, ccs, name, key, ccs.Spec.SnapshotEntities, &ccs.Status.SnapshotStatus, out)), nil
}

func secretRef(ref *statsigv1alpha1.SecretReference) *types.NamespacedName {
	if ref == nil {
		return nil
	}
	return &types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
}

// SetupWithManager registers the controller: ClusterConfigSnapshots (spec and annotation changes
// only), the ConfigMaps they own in any namespace, the Secrets they read, and Namespaces, whose
// creation and label changes move the ConfigMap in or out.
func (r *ClusterConfigSnapshotReconciler) SetupWithManager(mgr ctrl.Manager, defaultSecret types.NamespacedName) error {
	r.reads = &ownwrites.Reader{Cache: r.Client, Live: mgr.GetAPIReader()}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &statsigv1alpha1.ClusterConfigSnapshot{}, rolloutTargetIndex,
		func(o client.Object) []string {
			return rolloutTargetKeys(o.(*statsigv1alpha1.ClusterConfigSnapshot).Spec.RolloutTargets)
		}); err != nil {
		return fmt.Errorf("index ClusterConfigSnapshots by rollout target: %w", err)
	}
	if err := watchSecrets(mgr, r.Secrets, clusterConfigSnapshotKind, &statsigv1alpha1.ClusterConfigSnapshot{}, func(o client.Object) []types.NamespacedName {
		return secretOrDefault(secretRef(o.(*statsigv1alpha1.ClusterConfigSnapshot).Spec.SecretRef), defaultSecret)
	}); err != nil {
		return err
	}
	namespaceChanged := predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !labels.Equals(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) ||
				(e.ObjectOld.GetDeletionTimestamp() == nil) != (e.ObjectNew.GetDeletionTimestamp() == nil)
		},
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&statsigv1alpha1.ClusterConfigSnapshot{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(ownedBy(clusterConfigSnapshotKind))).
		WatchesRawSource(r.Secrets.Source(handler.EnqueueRequestsFromMapFunc(forSecret(r.Client, &statsigv1alpha1.ClusterConfigSnapshotList{})))).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.all), builder.WithPredicates(namespaceChanged))
	watchRolloutTargets(b, r.Client, &statsigv1alpha1.ClusterConfigSnapshotList{}, false)
	if r.Triggers != nil {
		r.triggered = r.Triggers.Subscribe(clusterConfigSnapshotKind, clusterConfigSnapshotUses(r.Client))
		b = b.WatchesRawSource(r.triggered.Source())
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("clusterconfigsnapshot").
		Complete(r)
}

// all enqueues every ClusterConfigSnapshot: a namespace event can move any of them.
func (r *ClusterConfigSnapshotReconciler) all(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.list(ctx)
}

func (r *ClusterConfigSnapshotReconciler) list(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &statsigv1alpha1.ClusterConfigSnapshotList{}
	if err := r.List(ctx, list, opts...); err != nil {
		logf.FromContext(ctx).Error(err, "List ClusterConfigSnapshots")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ccs := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ccs)})
	}
	return reqs
}
