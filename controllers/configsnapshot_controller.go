package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
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
	"github.com/statsig-operator/statsig-operator/internal/refresh"
	"github.com/statsig-operator/statsig-operator/internal/rollout"
	"github.com/statsig-operator/statsig-operator/internal/rolloutevents"
	"github.com/statsig-operator/statsig-operator/internal/secretwatch"
	"github.com/statsig-operator/statsig-operator/internal/snapshot"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/trigger"
)

const configSnapshotKind = "ConfigSnapshot"

// snapshotClient evaluates (server secret key) and lists (console key) for snapshots.
type snapshotClient interface {
	snapshot.Evaluator
	snapshot.Lister
}

// SnapshotClientFor adapts the client pool to the snapshot controllers' interface.
func SnapshotClientFor(c *statsig.Clients) func(key string) snapshotClient {
	return func(key string) snapshotClient { return c.ForKey(key) }
}

// SnapshotDeps is what the two snapshot reconcilers are made of. Each reconciler needs its own
// Outputs and Tracker.
type SnapshotDeps struct {
	client.Client
	Credentials *credentials.Resolver
	// Secrets watches the Secrets snapshots read, in their namespaces only.
	Secrets *secretwatch.Watcher
	// Statsig returns the client for a key: the server secret key evaluates, the console key lists.
	Statsig    func(key string) snapshotClient
	Fetcher    snapshot.Fetcher
	ConfigMaps *configmap.Writer
	// Outputs holds the last written data: for repairs, and for namespaces that start matching a
	// ClusterConfigSnapshot, without a Statsig call.
	Outputs  *configmap.Outputs
	Rollouts *rollout.Roller
	Tracker  *refresh.Tracker
	Events   eventRecorder
	Clock    clock.PassiveClock
	// MaxConcurrentReconciles bounds parallel syncs.
	MaxConcurrentReconciles int
	// Interval turns spec.refreshIntervalSeconds into a period; nil means seconds. Tests shrink it.
	Interval func(seconds int32) time.Duration
	// Reporter, when set, sends exposures and rollout events to Statsig once rollouts complete.
	Reporter *rolloutevents.Reporter
	// Progress sizes how a long sync shows in Reconciling.
	Progress ProgressOptions
	// Triggers, when set, lets WebhookReceivers sync snapshots at once.
	Triggers  *trigger.Hub
	triggered *trigger.Subscription
}

// ConfigSnapshotReconciler writes a ConfigSnapshot's values into its ConfigMap and rolls its
// rollout targets when the content changes.
type ConfigSnapshotReconciler struct {
	SnapshotDeps
	reads *ownwrites.Reader
}

// +kubebuilder:rbac:groups=statsig-operator.io,resources=configsnapshots,verbs=get;list;watch
// +kubebuilder:rbac:groups=statsig-operator.io,resources=configsnapshots/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile syncs one ConfigSnapshot.
func (r *ConfigSnapshotReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return reconcileShape(ctx, kindShape[*statsigv1alpha1.ConfigSnapshot]{
		kind: configSnapshotKind, reader: r.reads.Get, wrote: r.reads.Wrote, writer: r.Client, events: r.Events, progress: r.Progress,
		newObj:  func() *statsigv1alpha1.ConfigSnapshot { return &statsigv1alpha1.ConfigSnapshot{} },
		common:  func(cs *statsigv1alpha1.ConfigSnapshot) *statsigv1alpha1.CommonStatus { return &cs.Status.CommonStatus },
		suspend: func(cs *statsigv1alpha1.ConfigSnapshot) bool { return cs.Spec.Suspend },
		forget: func(key types.NamespacedName) {
			r.reads.Forget(key)
			r.Tracker.Forget(key)
			r.Outputs.Forget(key)
			r.Credentials.Forget(credentialsUser(configSnapshotKind, key))
			metrics.ForgetSnapshot(metrics.Object{Kind: configSnapshotKind, Namespace: key.Namespace, Name: key.Name})
		},
	}, req, r.reconcile)
}

func (r *ConfigSnapshotReconciler) reconcile(ctx context.Context, cs *statsigv1alpha1.ConfigSnapshot, w *progressWatch) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(cs)
	creds, credErr := r.Credentials.ResolveFor(ctx, credentialsUser(configSnapshotKind, key), cs.Namespace, credentials.LocalRef(cs.Namespace, cs.Spec.SecretRef))
	in := refreshInput(cs.Generation, cs.Annotations, &cs.Status.CommonStatus, creds, interval(r.Interval, cs.Spec.RefreshIntervalSeconds))
	// Gates of snapshots and GateChecks that share a key and a user refresh together and share calls.
	in.Group = batchGroup(creds, cs.Spec.User, cs.Spec.LogExposures)
	in.Triggered = r.triggered.Take(key)
	due, wait := r.Tracker.Due(key, in)
	if !due {
		intact, err := r.keepOutput(ctx, cs)
		if err != nil {
			return ctrl.Result{}, err
		}
		// Output that cannot be restored from memory (after a restart, say) is fetched again, but
		// only while Ready: a failing snapshot waits for its backoff instead.
		if intact || !conditions.IsReady(&cs.Status.CommonStatus) {
			rollWait, err := r.rollout(ctx, cs)
			return requeue(sooner(wait, rollWait), err)
		}
	}

	err := credErr
	if err == nil {
		w.begin(waitingForStatsig)
		err = r.sync(ctx, cs, creds)
	}
	handleRequest(cs, &cs.Status.CommonStatus)
	after := recordOutcome(ctx, configSnapshotKind, cs, &cs.Status.CommonStatus, r.Tracker, in, r.Clock.Now(), err,
		fmt.Sprintf("%d entities written to ConfigMap %s", cs.Status.Entities, cs.Spec.Target.ConfigMapName))
	rollWait, rollErr := r.rollout(ctx, cs)
	return requeue(sooner(after, rollWait), rollErr)
}

// sync calls Statsig and writes the ConfigMap. On any error nothing is written, so the last good
// output stays exactly as it was.
func (r *ConfigSnapshotReconciler) sync(ctx context.Context, cs *statsigv1alpha1.ConfigSnapshot, creds *credentials.Credentials) error {
	data, values, err := evaluate(ctx, creds, r.Statsig, r.Fetcher, cs.Spec.SnapshotEntities, cs.Spec.Target.Format)
	if err != nil {
		return err
	}
	count := values.Count()
	if err := r.write(ctx, cs, data); err != nil {
		return err
	}
	hash := configmap.Hash(data, nil)
	r.Outputs.Put(client.ObjectKeyFromObject(cs), cs.UID, hash, data)
	contentEvent(r.Events, cs, cs.Status.ContentHash, hash, count)
	setContent(&cs.Status, hash, r.Clock.Now())
	rolloutevents.Observe(&cs.Status.StatsigEvents, statsigEventOptions(cs.Spec.SnapshotEntities), hash, values)
	cs.Status.Entities = int32(count)
	metrics.SnapshotEntities.WithLabelValues(configSnapshotKind, cs.Namespace, cs.Name).Set(float64(count))
	return nil
}

// write applies data to the target ConfigMap and removes any ConfigMap this snapshot wrote under
// an earlier target name.
func (r *ConfigSnapshotReconciler) write(ctx context.Context, cs *statsigv1alpha1.ConfigSnapshot, data map[string]string) error {
	name := string(cs.Spec.Target.ConfigMapName)
	res, err := r.ConfigMaps.Apply(ctx, cs, configSnapshotKind, configmap.Desired{Namespace: cs.Namespace, Name: name, Data: data})
	if err != nil {
		return err
	}
	countWrite(configSnapshotKind, res)
	return r.ConfigMaps.DeleteOthers(ctx, cs, cs.Namespace, map[client.ObjectKey]bool{{Namespace: cs.Namespace, Name: name}: true})
}

// keepOutput puts the last written content back in place (a deleted or edited ConfigMap) without
// calling Statsig. It reports false when it has no copy of that content to restore, or the target
// cannot be written: then a sync is needed.
func (r *ConfigSnapshotReconciler) keepOutput(ctx context.Context, cs *statsigv1alpha1.ConfigSnapshot) (bool, error) {
	key := client.ObjectKeyFromObject(cs)
	_, data, ok := r.Outputs.Get(key, cs.UID)
	if !ok {
		hash := cs.Status.ContentHash
		if hash == "" {
			return true, nil // nothing written yet, so nothing to keep
		}
		// After a restart the ConfigMap itself is the copy, if it still holds the content.
		cm := &corev1.ConfigMap{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: cs.Namespace, Name: string(cs.Spec.Target.ConfigMapName)}, cm); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if cm.Labels[statsigv1alpha1.LabelOwnerUID] != string(cs.UID) || configmap.Hash(cm.Data, cm.BinaryData) != hash {
			return false, nil
		}
		data = cm.Data
		r.Outputs.Put(key, cs.UID, hash, data)
	}
	if err := r.write(ctx, cs, data); err != nil {
		if f := (*conditions.Failure)(nil); errors.As(err, &f) {
			return false, nil // reported by the sync that follows
		}
		return false, err
	}
	return true, nil
}

// rollout rolls the spec's targets to the current content hash and sets RolledOut; it leaves Ready
// alone. It returns how long until a coalesced rollout may run.
func (r *ConfigSnapshotReconciler) rollout(ctx context.Context, cs *statsigv1alpha1.ConfigSnapshot) (time.Duration, error) {
	targets := make([]rollout.Target, 0, len(cs.Spec.RolloutTargets))
	for _, t := range cs.Spec.RolloutTargets {
		targets = append(targets, rollout.Target{Kind: t.Kind, Namespace: cs.Namespace, Name: t.Name})
	}
	out, wait, err := rolloutTargets(ctx, r.Rollouts, r.Events, cs, cs.Generation, &cs.Status, targets)
	if err != nil || len(targets) == 0 {
		return wait, err
	}
	key := func() (string, error) {
		creds, err := r.Credentials.ResolveFor(ctx, credentialsUser(configSnapshotKind, client.ObjectKeyFromObject(cs)), cs.Namespace,
			credentials.LocalRef(cs.Namespace, cs.Spec.SecretRef))
		if err != nil {
			return "", err
		}
		return creds.Key(statsigv1alpha1.SecretKeyServer)
	}
	name := configSnapshotKind + "/" + cs.Namespace + "/" + cs.Name
	return sooner(wait, reportRollout(ctx, r.Reporter, cs, name, key, cs.Spec.SnapshotEntities, &cs.Status, out)), nil
}

// SetupWithManager registers the controller: ConfigSnapshots (spec and annotation changes only, so
// that its own status writes do not wake it), the ConfigMaps it owns, the Secrets it reads, and its
// rollout targets (metadata only), so that a target created or rolled is acted on at once.
func (r *ConfigSnapshotReconciler) SetupWithManager(mgr ctrl.Manager, defaultSecret types.NamespacedName) error {
	r.reads = &ownwrites.Reader{Cache: r.Client, Live: mgr.GetAPIReader()}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &statsigv1alpha1.ConfigSnapshot{}, rolloutTargetIndex,
		func(o client.Object) []string {
			return rolloutTargetKeys(o.(*statsigv1alpha1.ConfigSnapshot).Spec.RolloutTargets)
		}); err != nil {
		return fmt.Errorf("index ConfigSnapshots by rollout target: %w", err)
	}
	if err := watchSecrets(mgr, r.Secrets, configSnapshotKind, &statsigv1alpha1.ConfigSnapshot{}, func(o client.Object) []types.NamespacedName {
		return secretOrDefault(credentials.LocalRef(o.GetNamespace(), o.(*statsigv1alpha1.ConfigSnapshot).Spec.SecretRef), defaultSecret)
	}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&statsigv1alpha1.ConfigSnapshot{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(ownedBy(configSnapshotKind))).
		WatchesRawSource(r.Secrets.Source(handler.EnqueueRequestsFromMapFunc(forSecret(r.Client, &statsigv1alpha1.ConfigSnapshotList{})))).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(forDefaultSecretUsers(r.Client, &statsigv1alpha1.ConfigSnapshotList{}, defaultSecret)),
			builder.WithPredicates(labelsChanged))
	watchRolloutTargets(b, r.Client, &statsigv1alpha1.ConfigSnapshotList{}, true)
	if r.Triggers != nil {
		r.triggered = r.Triggers.Subscribe(configSnapshotKind, configSnapshotUses(r.Client))
		b = b.WatchesRawSource(r.triggered.Source())
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("configsnapshot").
		Complete(r)
}

// evaluate calls Statsig for a snapshot spec and renders the result: the part of a sync that both
// snapshot kinds share, done once however many ConfigMaps the data goes to.
func evaluate(ctx context.Context, creds *credentials.Credentials, clients func(string) snapshotClient, fetcher snapshot.Fetcher,
	spec statsigv1alpha1.SnapshotEntities, format statsigv1alpha1.SnapshotFormat) (map[string]string, *snapshot.Values, error) {
	secretKey, err := creds.Key(statsigv1alpha1.SecretKeyServer)
	if err != nil {
		return nil, nil, err
	}
	user, err := toStatsigUser(spec.User)
	if err != nil {
		return nil, nil, err
	}
	req := snapshot.RequestFor(spec)
	// Refuse colliding names before spending a Statsig call.
	if err := snapshot.CheckNames(req, format); err != nil {
		return nil, nil, err
	}
	var lister snapshot.Lister
	if req.Discovers() {
		consoleKey, err := creds.Key(statsigv1alpha1.SecretKeyConsole)
		if err != nil {
			return nil, nil, err
		}
		lister = clients(consoleKey)
	}
	values, err := fetcher.Fetch(ctx, clients(secretKey), lister, user, req)
	if err != nil {
		return nil, nil, err
	}
	data, err := snapshot.Render(values, format)
	if err != nil {
		return nil, nil, err
	}
	return data, values, nil
}

// rolloutTargets runs one rollout pass for a snapshot whose status is s, and records its outcome in
// status.rollouts, the RolledOut condition, Events and metrics.
func rolloutTargets(ctx context.Context, roller *rollout.Roller, events eventRecorder, obj runtime.Object, generation int64,
	s *statsigv1alpha1.SnapshotStatus, targets []rollout.Target) (rollout.Outcome, time.Duration, error) {
	if len(targets) == 0 {
		s.Rollouts = nil
		meta.RemoveStatusCondition(&s.Conditions, statsigv1alpha1.ConditionRolledOut)
		return rollout.Outcome{}, 0, nil
	}
	if s.ContentHash == "" {
		return rollout.Outcome{}, 0, nil // nothing written yet: the first content is the baseline, not a change
	}
	content := rollout.Content{Hash: s.ContentHash}
	if s.ContentChangedTime != nil {
		content.ChangedAt = &s.ContentChangedTime.Time
	}
	if s.ContentWrittenTime != nil {
		content.WrittenAt = &s.ContentWrittenTime.Time
	}
	out, err := roller.Reconcile(ctx, content, targets, s.Rollouts)
	if err != nil {
		return out, 0, fmt.Errorf("roll out: %w", err)
	}
	s.Rollouts = out.Status
	meta.SetStatusCondition(&s.Conditions, out.Condition(generation))
	for _, t := range out.Rolled {
		metrics.Rollouts.WithLabelValues(t.Kind, "rolled").Inc()
		events.Eventf(obj, nil, corev1.EventTypeNormal, statsigv1alpha1.ReasonRolledOut, "Rollout",
			"Rolled %s to content hash %s", t, shortHash(s.ContentHash))
	}
	for _, t := range out.NewlyMissing {
		metrics.Rollouts.WithLabelValues(t.Kind, "not_found").Inc()
		events.Eventf(obj, nil, corev1.EventTypeWarning, statsigv1alpha1.ReasonTargetNotFound, "Rollout",
			"Rollout target %s not found; it was not rolled", t)
	}
	return out, out.Wait, nil
}

// setContent records content just written: its hash, when it was written, and, when it replaced
// earlier content, when that happened.
func setContent(s *statsigv1alpha1.SnapshotStatus, hash string, now time.Time) {
	if s.ContentHash != hash {
		t := metav1.NewTime(now)
		s.ContentWrittenTime = &t
		if s.ContentHash != "" {
			s.ContentChangedTime = &t
		}
	}
	s.ContentHash = hash
}

// rolloutTargetIndex indexes snapshots by the workloads they roll ("<Kind>/<name>"), so that a
// workload's events find the snapshots to reconcile.
const rolloutTargetIndex = ".statsig.rolloutTarget"

func rolloutTargetKeys(ts []statsigv1alpha1.RolloutTarget) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Kind+"/"+t.Name)
	}
	return out
}

// watchRolloutTargets watches the workload kinds a snapshot rolls, metadata only (no workload is
// cached whole; the roller reads its targets live), and maps each event to the snapshots of list's
// kind naming that workload, in its namespace when namespaced. A target created after its snapshot
// is so decided on at once, and RolledOut follows its rollout's progress.
func watchRolloutTargets(b *builder.Builder, c client.Reader, list client.ObjectList, namespaced bool) {
	for kind, obj := range rollout.Kinds() {
		b.WatchesMetadata(obj, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			opts := []client.ListOption{client.MatchingFields{rolloutTargetIndex: kind + "/" + o.GetName()}}
			if namespaced {
				opts = append(opts, client.InNamespace(o.GetNamespace()))
			}
			l := list.DeepCopyObject().(client.ObjectList)
			if err := c.List(ctx, l, opts...); err != nil {
				logf.FromContext(ctx).Error(err, "List snapshots for a rollout target", "kind", kind, "name", o.GetName())
				return nil
			}
			var reqs []reconcile.Request
			_ = meta.EachListItem(l, func(item runtime.Object) error {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(item.(client.Object))})
				return nil
			})
			return reqs
		}))
	}
}

// contentEvent says when a snapshot's content changed (not on its first sync, which is no change).
func contentEvent(events eventRecorder, obj runtime.Object, before, after string, entities int) {
	if before == "" || before == after {
		return
	}
	events.Eventf(obj, nil, corev1.EventTypeNormal, "ContentChanged", "Sync",
		"Content changed from hash %s to %s (%d entities)", shortHash(before), shortHash(after), entities)
}

func shortHash(h string) string { return h[:min(len(h), 12)] }

// sooner is the earlier of two requeue delays, where 0 means none.
func sooner(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}
