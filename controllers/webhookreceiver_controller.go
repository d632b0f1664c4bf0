package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/secretwatch"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/trigger"
	"github.com/statsig-operator/statsig-operator/internal/webhook"
)

// auditLogReader reads the Console audit log with a console key.
type auditLogReader interface {
	ListAuditLog(ctx context.Context, stopAt string, maxPages int) ([]statsig.AuditLogEntry, bool, error)
}

// AuditLogReaderFor adapts the client pool to the receiver's interface.
func AuditLogReaderFor(c *statsig.Clients) func(key string) auditLogReader {
	return func(key string) auditLogReader { return c.ForKey(key) }
}

const webhookReceiverKind = "WebhookReceiver"

// WebhookReceiverReconciler serves each WebhookReceiver's path on the listener (through Table),
// turns verified events and audit log entries into triggered syncs, and reports counts in status.
type WebhookReceiverReconciler struct {
	client.Client
	Credentials *credentials.Resolver
	// Secrets watches the signing Secrets receivers read, in their namespaces only.
	Secrets *secretwatch.Watcher
	// Table is what the listener serves; reconciles keep it current.
	Table *webhook.Table
	// Triggers syncs the resources a change affects.
	Triggers *trigger.Hub
	// AuditLog returns the audit log reader for a console key (catchUp).
	AuditLog func(key string) auditLogReader
	Events   eventRecorder
	Clock    clock.PassiveClock
	// ListenerDisabled is set when the operator runs with --webhook-bind-address=0.
	ListenerDisabled bool
	// Interval turns catchUp.intervalSeconds into a period; nil means seconds. Tests shrink it.
	Interval func(seconds int32) time.Duration
	// MaxAuditPages bounds one catch-up read; zero means 10 pages.
	MaxAuditPages int

	wake  chan event.GenericEvent
	mu    sync.Mutex
	state map[types.NamespacedName]*receiverState
}

// receiverState is what the receiver knows between reconciles.
type receiverState struct {
	secret    types.NamespacedName
	lastEvent time.Time
	// announced holds, per normalised entity name, when a webhook last announced it, so that
	// catchUp does not sync again for a change a webhook already brought.
	announced map[string]time.Time
}

// +kubebuilder:rbac:groups=statsig-operator.io,resources=webhookreceivers,verbs=get;list;watch
// +kubebuilder:rbac:groups=statsig-operator.io,resources=webhookreceivers/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile serves one WebhookReceiver.
func (r *WebhookReceiverReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	wr := &statsigv1alpha1.WebhookReceiver{}
	if err := r.Get(ctx, req.NamespacedName, wr); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.Table.Delete(req.NamespacedName)
			r.forget(req.NamespacedName)
			metrics.ForgetReceiver(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if wr.Spec.Suspend {
		r.Table.Delete(req.NamespacedName)
		logf.FromContext(ctx).V(1).Info("Suspended; not serving")
		return ctrl.Result{}, nil
	}
	before := wr.DeepCopy()
	defer func() {
		readyEvent(r.Events, wr, before.Status.Conditions, wr.Status.Conditions)
		if err := patchStatus(ctx, r.Client, before, wr, before.Status, wr.Status); err != nil {
			retErr = err
		}
	}()
	return r.reconcile(ctx, wr)
}

func (r *WebhookReceiverReconciler) reconcile(ctx context.Context, wr *statsigv1alpha1.WebhookReceiver) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(wr)
	st := &wr.Status
	st.ObservedGeneration = wr.Generation
	creds, err := r.Credentials.Resolve(ctx, wr.Namespace, credentials.LocalRef(wr.Namespace, &wr.Spec.SecretRef))
	var secrets [][]byte
	if err == nil {
		var raw string
		if raw, err = creds.Key(statsigv1alpha1.SecretKeyWebhookSigning); err == nil {
			if secrets = webhook.Secrets([]byte(raw)); len(secrets) == 0 {
				err = conditions.Permanent(statsigv1alpha1.ReasonSecretNotFound,
					fmt.Sprintf("Secret %s key %q holds no signing secret", creds.Secret, statsigv1alpha1.SecretKeyWebhookSigning))
			}
		}
	}
	if err != nil {
		// Without its secrets the receiver cannot verify anything: stop serving its path.
		r.Table.Delete(key)
		st.WebhookPath = ""
		return r.failed(ctx, wr, err), nil
	}
	path := webhook.Path(secrets[0], wr.Namespace, wr.Name)
	r.Table.Set(path, webhook.Receiver{Key: key, Secrets: secrets})
	st.WebhookPath = path
	rs := r.remember(key, creds.Secret)
	st.AcceptedRequests, st.RejectedRequests = r.Table.Counts(key)
	if !rs.IsZero() {
		t := metav1.NewTime(rs)
		st.LastEventTime = &t
	}
	if r.ListenerDisabled {
		return r.failed(ctx, wr, conditions.Permanent(statsigv1alpha1.ReasonListenerDisabled,
			"the operator runs with --webhook-bind-address=0: nothing serves "+path)), nil
	}

	var next time.Duration
	if wr.Spec.CatchUp != nil {
		period := interval(r.Interval, wr.Spec.CatchUp.IntervalSeconds)
		now := r.Clock.Now()
		if st.LastCatchUpTime == nil || !now.Before(st.LastCatchUpTime.Add(period)) {
			if err := r.catchUp(ctx, wr, creds); err != nil {
				f := conditions.Classify(err)
				res := r.failed(ctx, wr, f)
				if f.Transient {
					res.RequeueAfter = max(f.RetryAfter, min(period, 30*time.Second))
				} else {
					res.RequeueAfter = period
				}
				return res, nil
			}
			t := metav1.NewTime(now)
			st.LastCatchUpTime, st.LastSyncTime = &t, &t
		}
		next = st.LastCatchUpTime.Add(period).Sub(now)
	}
	msg := fmt.Sprintf("Serving %d signing secret(s) at status.webhookPath", len(secrets))
	if wr.Spec.CatchUp != nil {
		msg += "; reading the audit log every " + (time.Duration(wr.Spec.CatchUp.IntervalSeconds) * time.Second).String()
	}
	r.mark(wr, metav1.ConditionTrue, statsigv1alpha1.ReasonListening, msg, nil)
	return ctrl.Result{RequeueAfter: next}, nil
}

// failed records a failure in Ready and, when retrying cannot help, in Stalled.
func (r *WebhookReceiverReconciler) failed(ctx context.Context, wr *statsigv1alpha1.WebhookReceiver, err error) ctrl.Result {
	f := conditions.Classify(err)
	logf.FromContext(ctx).Info("Receiver not ready", "reason", f.Reason, "message", f.Message)
	r.mark(wr, metav1.ConditionFalse, f.Reason, f.Message, f)
	if f.Transient {
		return ctrl.Result{RequeueAfter: max(f.RetryAfter, 5*time.Second)}
	}
	return ctrl.Result{}
}

// mark sets Ready, and Reconciling/Stalled by the rule every kind shares (conditions.SetHealth).
func (r *WebhookReceiverReconciler) mark(wr *statsigv1alpha1.WebhookReceiver, status metav1.ConditionStatus, reason, msg string, f *conditions.Failure) {
	c := &wr.Status.Conditions
	prev := meta.FindStatusCondition(*c, statsigv1alpha1.ConditionReady)
	since := r.Clock.Now()
	if prev != nil && prev.Status == metav1.ConditionFalse {
		since = prev.LastTransitionTime.Time
	}
	meta.SetStatusCondition(c, metav1.Condition{Type: statsigv1alpha1.ConditionReady, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: wr.Generation})
	conditions.SetHealth(c, wr.Generation, f, since)
}

// catchUp reads the audit log back to the last entry handled and triggers syncs for the new
// entries that change evaluation, oldest first. The first read only sets the cursor.
func (r *WebhookReceiverReconciler) catchUp(ctx context.Context, wr *statsigv1alpha1.WebhookReceiver, creds *credentials.Credentials) error {
	consoleKey, err := creds.Key(statsigv1alpha1.SecretKeyConsole)
	if err != nil {
		return err
	}
	st := &wr.Status
	pages := r.MaxAuditPages
	if pages == 0 {
		pages = 10
	}
	entries, found, err := r.AuditLog(consoleKey).ListAuditLog(ctx, st.LastAuditLogID, pages)
	if err != nil {
		return fmt.Errorf("catch up from the audit log: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	first := st.LastAuditLogID == ""
	st.LastAuditLogID = entries[0].ID
	if first {
		return nil
	}
	if !found {
		logf.FromContext(ctx).Info("Audit log cursor not found within the pages read; handling what was read", "pages", pages)
	}
	key := client.ObjectKeyFromObject(wr)
	now := r.Clock.Now()
	var changed []trigger.Entity
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		ent, ok := trigger.ForAuditAction(e.ActionType, e.Name)
		if !ok || r.announced(key, e) {
			continue
		}
		changed = append(changed, ent)
		if !e.Time.IsZero() {
			metrics.WebhookCatchUpLag.Observe(max(now.Sub(e.Time).Seconds(), 0))
		}
	}
	if len(changed) == 0 {
		return nil
	}
	metrics.WebhookEvents.WithLabelValues(wr.Namespace, wr.Name, "catchup").Add(float64(len(changed)))
	n, err := r.Triggers.Trigger(ctx, creds.Secret, changed)
	if n > 0 {
		r.Events.Eventf(wr, nil, corev1.EventTypeNormal, "CatchUp", "Trigger",
			"%d change(s) found in the audit log; %d resource(s) syncing", len(changed), n)
	}
	return err
}

// Accept handles the events of a verified request (webhook.Sink): it triggers the affected
// resources and wakes the receiver to record the event in its status.
func (r *WebhookReceiverReconciler) Accept(ctx context.Context, key types.NamespacedName, events []webhook.Event) {
	r.mu.Lock()
	rs := r.state[key]
	var secret types.NamespacedName
	if rs != nil {
		secret = rs.secret
		rs.lastEvent = r.Clock.Now()
		for _, e := range events {
			if rs.announced == nil {
				rs.announced = map[string]time.Time{}
			}
			rs.announced[strings.ToLower(e.Name)] = rs.lastEvent
		}
	}
	r.mu.Unlock()
	if rs == nil {
		return
	}
	metrics.WebhookEvents.WithLabelValues(key.Namespace, key.Name, "webhook").Add(float64(len(events)))
	entities := make([]trigger.Entity, 0, len(events))
	for _, e := range events {
		entities = append(entities, trigger.Entity{Kinds: trigger.KindsForType(e.Type), Name: e.Name})
	}
	n, err := r.Triggers.Trigger(ctx, secret, entities)
	logf.FromContext(ctx).V(1).Info("Webhook events", "receiver", key, "events", len(events), "triggered", n, "error", err)
	wr := &statsigv1alpha1.WebhookReceiver{}
	wr.SetNamespace(key.Namespace)
	wr.SetName(key.Name)
	select {
	case r.wake <- event.GenericEvent{Object: wr}:
	default: // a wake-up is already queued
	}
}

// announced reports whether a webhook announced the entity of e at or after e's time (audit log
// times have one-second resolution).
func (r *WebhookReceiverReconciler) announced(key types.NamespacedName, e statsig.AuditLogEntry) bool {
	if e.Time.IsZero() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := r.state[key]
	if rs == nil {
		return false
	}
	at, ok := rs.announced[strings.ToLower(e.Name)]
	return ok && !at.Before(e.Time.Add(-time.Second))
}

// remember records the receiver's Secret and returns the time of its last event; announcements
// older than the audit log's useful window are dropped.
func (r *WebhookReceiverReconciler) remember(key, secret types.NamespacedName) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == nil {
		r.state = map[types.NamespacedName]*receiverState{}
	}
	rs := r.state[key]
	if rs == nil {
		rs = &receiverState{}
		r.state[key] = rs
	}
	rs.secret = secret
	cutoff := r.Clock.Now().Add(-24 * time.Hour)
	for n, at := range rs.announced {
		if at.Before(cutoff) {
			delete(rs.announced, n)
		}
	}
	return rs.lastEvent
}

func (r *WebhookReceiverReconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.state, key)
}

// SetupWithManager registers the controller: receivers (spec changes), the Secrets they read, and
// wake-ups from accepted requests.
func (r *WebhookReceiverReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := watchSecrets(mgr, r.Secrets, webhookReceiverKind, &statsigv1alpha1.WebhookReceiver{}, func(o client.Object) []types.NamespacedName {
		return []types.NamespacedName{{Namespace: o.GetNamespace(), Name: o.(*statsigv1alpha1.WebhookReceiver).Spec.SecretRef.Name}}
	}); err != nil {
		return err
	}
	r.wake = make(chan event.GenericEvent, 1024)
	return ctrl.NewControllerManagedBy(mgr).
		For(&statsigv1alpha1.WebhookReceiver{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(r.Secrets.Source(handler.EnqueueRequestsFromMapFunc(forSecret(r.Client, &statsigv1alpha1.WebhookReceiverList{})))).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		Named("webhookreceiver").
		Complete(r)
}
