package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/refresh"
	"github.com/statsig-operator/statsig-operator/internal/secretwatch"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/trigger"
)

const gateCheckKind = "GateCheck"

// gateChecker checks gates for a user with one Statsig key (the client's batcher merges calls).
type gateChecker interface {
	CheckGates(ctx context.Context, user statsig.User, names []string, o statsig.ReadOptions) (map[string]statsig.GateResult, error)
}

// GateCheckReconciler keeps a GateCheck's gate values in its status and optional ConfigMap.
type GateCheckReconciler struct {
	client.Client
	Credentials *credentials.Resolver
	// Secrets watches the Secrets GateChecks read, in their namespaces only.
	Secrets *secretwatch.Watcher
	// Gates returns the checker for a server secret key.
	Gates      func(key string) gateChecker
	ConfigMaps *configmap.Writer
	// Outputs holds the last written ConfigMap data, for repairs that need no Statsig call.
	Outputs *configmap.Outputs
	Tracker *refresh.Tracker
	Events  eventRecorder
	Clock   clock.PassiveClock
	// MaxConcurrentReconciles bounds parallel syncs.
	MaxConcurrentReconciles int
	// Interval turns spec.refreshIntervalSeconds into a period; nil means seconds. Tests shrink it.
	Interval func(seconds int32) time.Duration
	// Progress sizes how a long sync shows in Reconciling.
	Progress ProgressOptions
	// Triggers, when set, lets WebhookReceivers sync GateChecks at once.
	Triggers  *trigger.Hub
	triggered *trigger.Subscription
}

// +kubebuilder:rbac:groups=statsig-operator.io,resources=gatechecks,verbs=get;list;watch
// +kubebuilder:rbac:groups=statsig-operator.io,resources=gatechecks/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile syncs one GateCheck.
func (r *GateCheckReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return reconcileShape(ctx, kindShape[*statsigv1alpha1.GateCheck]{
		kind: gateCheckKind, reader: getFrom(r.Client), writer: r.Client, events: r.Events, progress: r.Progress,
		newObj:  func() *statsigv1alpha1.GateCheck { return &statsigv1alpha1.GateCheck{} },
		common:  func(gc *statsigv1alpha1.GateCheck) *statsigv1alpha1.CommonStatus { return &gc.Status.CommonStatus },
		suspend: func(gc *statsigv1alpha1.GateCheck) bool { return gc.Spec.Suspend },
		forget: func(key types.NamespacedName) {
			r.Tracker.Forget(key)
			r.Outputs.Forget(key)
			r.Credentials.Forget(credentialsUser(gateCheckKind, key))
			metrics.Forget(metrics.Object{Kind: gateCheckKind, Namespace: key.Namespace, Name: key.Name})
		},
	}, req, r.reconcile)
}

func (r *GateCheckReconciler) reconcile(ctx context.Context, gc *statsigv1alpha1.GateCheck, w *progressWatch) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(gc)
	creds, credErr := r.Credentials.ResolveFor(ctx, credentialsUser(gateCheckKind, key), gc.Namespace, credentials.LocalRef(gc.Namespace, gc.Spec.SecretRef))
	in := refreshInput(gc.Generation, gc.Annotations, &gc.Status.CommonStatus, creds, interval(r.Interval, gc.Spec.RefreshIntervalSeconds))
	in.Group = batchGroup(creds, gc.Spec.User, gc.Spec.LogExposures)
	in.Triggered = r.triggered.Take(key)
	if due, wait := r.Tracker.Due(key, in); !due {
		// Not time to call Statsig: keep the last good output in place (repairs an edited or
		// deleted ConfigMap).
		if err := r.keepOutput(ctx, gc); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	err := credErr
	if err == nil {
		w.begin(waitingForStatsig)
		err = r.sync(ctx, gc, creds)
	}
	handleRequest(gc, &gc.Status.CommonStatus)
	after := recordOutcome(ctx, gateCheckKind, gc, &gc.Status.CommonStatus, r.Tracker, in, r.Clock.Now(), err,
		fmt.Sprintf("%s of %d gates pass", gc.Status.Passing, len(gc.Status.Results)))
	return ctrl.Result{RequeueAfter: after}, nil
}

// sync calls Statsig and writes the outputs. On any error nothing is written, so the last good
// output stays as it was.
func (r *GateCheckReconciler) sync(ctx context.Context, gc *statsigv1alpha1.GateCheck, creds *credentials.Credentials) error {
	secretKey, err := creds.Key(statsigv1alpha1.SecretKeyServer)
	if err != nil {
		return err
	}
	user, err := toStatsigUser(gc.Spec.User)
	if err != nil {
		return err
	}
	gates := names(gc.Spec.Gates)
	if gc.Spec.Target != nil {
		// Refuse colliding keys before spending a Statsig call.
		keys := configmap.NewKeys()
		for _, g := range gates {
			if err := keys.Put(configmap.Key(g), "", "gate "+strconv.Quote(g)); err != nil {
				return err
			}
		}
	}
	values, err := r.Gates(secretKey).CheckGates(ctx, user, gates, statsig.ReadOptions{LogExposures: gc.Spec.LogExposures})
	if err != nil {
		return fmt.Errorf("check gates: %w", err)
	}
	results := make([]statsigv1alpha1.GateResult, 0, len(gates))
	passing := 0
	for _, g := range gates {
		v, ok := values[g]
		if !ok {
			return conditions.Classify(fmt.Errorf("statsig answered without gate %q", g))
		}
		results = append(results, statsigv1alpha1.GateResult{Name: g, Value: v.Value, RuleID: v.RuleID, GroupName: v.GroupName})
		if v.Value {
			passing++
		}
	}
	if gc.Spec.Target != nil {
		data, err := targetData(results)
		if err != nil {
			return err
		}
		if err := r.writeTarget(ctx, gc, data); err != nil {
			return err
		}
	} else {
		if err := r.ConfigMaps.DeleteOthers(ctx, gc, gc.Namespace, nil); err != nil {
			return err
		}
		r.Outputs.Forget(client.ObjectKeyFromObject(gc))
	}
	r.gateEvents(gc, gc.Status.Results, results)
	gc.Status.Results = results
	gc.Status.Passing = fmt.Sprintf("%d/%d", passing, len(results))
	return nil
}

// keepOutput puts the last written ConfigMap data back in place without calling Statsig. The data
// comes from memory, which is at least as new as the status in the cache: a repair from a status the
// cache has not caught up with would put the previous values back. After a restart memory is empty
// and the status, read fresh at startup, stands in for it. Only a resource whose last sync of the
// current spec succeeded is repaired: otherwise the output is where a failure left it, and a
// failure never moves it.
func (r *GateCheckReconciler) keepOutput(ctx context.Context, gc *statsigv1alpha1.GateCheck) error {
	ready := meta.FindStatusCondition(gc.Status.Conditions, statsigv1alpha1.ConditionReady)
	if gc.Spec.Target == nil || ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != gc.Generation {
		return nil
	}
	_, data, ok := r.Outputs.Get(client.ObjectKeyFromObject(gc), gc.UID)
	if !ok {
		var err error
		if data, err = targetData(gc.Status.Results); err != nil {
			return nil // the next sync reports it
		}
	}
	err := r.writeTarget(ctx, gc, data)
	if f := (*conditions.Failure)(nil); errors.As(err, &f) {
		// A conflict or a size limit: reported by the next sync, not retried as an error.
		logf.FromContext(ctx).V(1).Info("Could not restore the ConfigMap", "reason", f.Reason)
		return nil
	}
	return err
}

// targetData is the ConfigMap data for results: one key per gate.
func targetData(results []statsigv1alpha1.GateResult) (map[string]string, error) {
	keys := configmap.NewKeys()
	for _, res := range results {
		if err := keys.Put(configmap.Key(res.Name), strconv.FormatBool(res.Value), "gate "+strconv.Quote(res.Name)); err != nil {
			return nil, err
		}
	}
	return keys.Data(), nil
}

func (r *GateCheckReconciler) writeTarget(ctx context.Context, gc *statsigv1alpha1.GateCheck, data map[string]string) error {
	name := string(gc.Spec.Target.ConfigMapName)
	res, err := r.ConfigMaps.Apply(ctx, gc, gateCheckKind, configmap.Desired{Namespace: gc.Namespace, Name: name, Data: data})
	if err != nil {
		return err
	}
	countWrite(gateCheckKind, res)
	r.Outputs.Put(client.ObjectKeyFromObject(gc), gc.UID, res.Hash, data)
	// A renamed target leaves no orphan behind.
	return r.ConfigMaps.DeleteOthers(ctx, gc, gc.Namespace, map[client.ObjectKey]bool{{Namespace: gc.Namespace, Name: name}: true})
}

// gateEvents emits one Event per gate whose value changed (GateValueCollector serves the metric).
func (r *GateCheckReconciler) gateEvents(gc *statsigv1alpha1.GateCheck, before, after []statsigv1alpha1.GateResult) {
	old := make(map[string]bool, len(before))
	for _, b := range before {
		old[b.Name] = b.Value
	}
	for _, a := range after {
		if prev, seen := old[a.Name]; seen && prev != a.Value {
			r.Events.Eventf(gc, nil, "Normal", "GateChanged", "Sync", "Gate %q changed from %t to %t", a.Name, prev, a.Value)
		}
	}
}

func countWrite(kind string, res configmap.Result) {
	switch {
	case res.Created:
		metrics.ConfigMapWrites.WithLabelValues(kind, "create").Inc()
	case res.Updated:
		metrics.ConfigMapWrites.WithLabelValues(kind, "update").Inc()
	}
}

// batchGroup identifies the resources whose gate checks the client can merge into one call.
func batchGroup(creds *credentials.Credentials, user statsigv1alpha1.User, logExposures bool) string {
	if creds == nil {
		return ""
	}
	u, err := json.Marshal(user)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s|%t|%s", creds.Secret, logExposures, u)
}

// interval is the refresh period for spec.refreshIntervalSeconds (never under the schema's 30 s).
func interval(scale func(int32) time.Duration, seconds int32) time.Duration {
	seconds = max(seconds, 30)
	if scale != nil {
		return scale(seconds)
	}
	return time.Duration(seconds) * time.Second
}

func refreshInput(generation int64, annotations map[string]string, s *statsigv1alpha1.CommonStatus, creds *credentials.Credentials, period time.Duration) refresh.Input {
	in := refresh.Input{
		Generation:             generation,
		ObservedGeneration:     s.ObservedGeneration,
		RequestedAt:            annotations[statsigv1alpha1.AnnotationRequestedAt],
		LastHandledRequestedAt: s.LastHandledRequestedAt,
		Ready:                  conditions.IsReady(s),
		Interval:               period,
	}
	if creds != nil {
		in.CredentialsVersion = creds.Version
	}
	if s.LastSyncTime != nil {
		t := s.LastSyncTime.Time
		in.LastSync = &t
	}
	return in
}

// SetupWithManager registers the controller: GateChecks (spec and annotation changes only, so that
// its own status writes do not wake it), the ConfigMaps it owns, and the Secrets GateChecks read.
func (r *GateCheckReconciler) SetupWithManager(mgr ctrl.Manager, defaultSecret types.NamespacedName) error {
	if err := watchSecrets(mgr, r.Secrets, gateCheckKind, &statsigv1alpha1.GateCheck{}, func(o client.Object) []types.NamespacedName {
		return secretOrDefault(credentials.LocalRef(o.GetNamespace(), o.(*statsigv1alpha1.GateCheck).Spec.SecretRef), defaultSecret)
	}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&statsigv1alpha1.GateCheck{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(ownedBy(gateCheckKind))).
		WatchesRawSource(r.Secrets.Source(handler.EnqueueRequestsFromMapFunc(forSecret(r.Client, &statsigv1alpha1.GateCheckList{})))).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(forDefaultSecretUsers(r.Client, &statsigv1alpha1.GateCheckList{}, defaultSecret)),
			builder.WithPredicates(labelsChanged))
	if r.Triggers != nil {
		r.triggered = r.Triggers.Subscribe(gateCheckKind, gateCheckUses(r.Client))
		b = b.WatchesRawSource(r.triggered.Source())
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("gatecheck").
		Complete(r)
}

// GateCheckerFor adapts the client pool to the controller's interface.
func GateCheckerFor(c *statsig.Clients) func(key string) gateChecker {
	return func(key string) gateChecker { return c.ForKey(key) }
}
