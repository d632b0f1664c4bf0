package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/refresh"
)

// kindShape is what the shared reconcile shape needs to know about one kind; a kind's file holds
// only what is particular to it.
type kindShape[T client.Object] struct {
	kind string
	// reader reads the object (the cache, or the API server for a kind that must read its own writes).
	reader getFunc
	// wrote, when set, learns the resourceVersion of each status patch (a reader that must never
	// serve a copy older than the reconciler's own last write).
	wrote func(key types.NamespacedName, resourceVersion string)
	// writer patches status.
	writer client.Client
	events eventRecorder
	// progress configures the Reconciling condition of a sync that runs long.
	progress ProgressOptions
	newObj   func() T
	common   func(T) *statsigv1alpha1.CommonStatus
	suspend  func(T) bool
	// forget drops what is kept in memory for a deleted object.
	forget func(types.NamespacedName)
	// suspended, when set, runs for a suspended object (inside the status patch); nil does nothing.
	suspended func(T) ctrl.Result
}

// reconcileShape is every kind's Reconcile: get the object (forgetting it when it is gone), keep
// the freshness metric, handle suspend, and run sync with one deferred status patch that emits the
// Ready Event only after it succeeded. sync gets a watch that shows a long sync in Reconciling.
func reconcileShape[T client.Object](ctx context.Context, k kindShape[T], req ctrl.Request,
	sync func(ctx context.Context, obj T, w *progressWatch) (ctrl.Result, error)) (ctrl.Result, error) {
	obj := k.newObj()
	if err := k.reader(ctx, req.NamespacedName, obj); err != nil {
		if client.IgnoreNotFound(err) == nil {
			k.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get %s: %w", k.kind, err)
	}
	freshness(k.kind, obj, k.common(obj), k.suspend(obj))
	before := obj.DeepCopyObject().(T)
	if k.suspend(obj) {
		logf.FromContext(ctx).V(1).Info("Suspended; not syncing")
		res := ctrl.Result{}
		if k.suspended != nil {
			res = k.suspended(obj)
		}
		return finish(ctx, k, before, obj, nil, res, nil)
	}
	w := startProgress(ctx, k.writer, obj, k.common, k.progress)
	res, err := sync(ctx, obj, w)
	return finish(ctx, k, before, obj, w, res, err)
}

// finish stops the progress watch, patches status once when it changed, emits the Ready Event
// after a successful patch, and merges the errors. A result is never returned together with an
// error: controller-runtime would ignore it, and the error's backoff applies.
func finish[T client.Object](ctx context.Context, k kindShape[T], before, after T, w *progressWatch, res ctrl.Result, err error) (ctrl.Result, error) {
	if written := w.stop(); written != nil {
		// The watch wrote Reconciling; the patch below must see it as written, or a sync that
		// removes it would leave it on the server.
		meta.SetStatusCondition(&k.common(before).Conditions, *written)
	}
	if !equality.Semantic.DeepEqual(before, after) {
		if perr := k.writer.Status().Patch(ctx, after, client.MergeFrom(before)); client.IgnoreNotFound(perr) != nil {
			err = errors.Join(err, fmt.Errorf("patch status: %w", perr))
		} else if perr == nil {
			readyEvent(k.events, after, k.common(before).Conditions, k.common(after).Conditions)
			if k.wrote != nil && after.GetResourceVersion() != before.GetResourceVersion() {
				k.wrote(client.ObjectKeyFromObject(after), after.GetResourceVersion())
			}
		}
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return res, nil
}

// markOutcome records one sync's outcome in status and metrics: Ready, Stale, Reconciling and
// Stalled, and the sync counter. err is the sync's failure (nil: synced, with message). partial is
// a failure of part of the output after Statsig answered (a namespace that could not be written):
// it is counted under its reason, and the caller reports it in Ready. It returns the classified
// failure of err, nil on success.
func markOutcome(ctx context.Context, kind string, obj client.Object, s *statsigv1alpha1.CommonStatus, now time.Time,
	err error, partial *conditions.Failure, message string) *conditions.Failure {
	log := logf.FromContext(ctx)
	if err != nil {
		f := conditions.Classify(err)
		log.Info("Sync failed", "reason", f.Reason, "message", f.Message)
		conditions.MarkFailed(s, obj.GetGeneration(), now, f)
		metrics.Syncs.WithLabelValues(kind, f.Reason).Inc()
		return f
	}
	conditions.MarkSynced(s, obj.GetGeneration(), now, message)
	result := "success"
	if partial != nil {
		log.Info("Part of the output failed", "reason", partial.Reason, "message", partial.Message)
		result = partial.Reason
	}
	metrics.Syncs.WithLabelValues(kind, result).Inc()
	metrics.LastSuccess.Set(metrics.Object{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}, now)
	return nil
}

// recordOutcome is markOutcome plus the refresh tracker: it returns when to sync next.
func recordOutcome(ctx context.Context, kind string, obj client.Object, s *statsigv1alpha1.CommonStatus, tracker *refresh.Tracker,
	in refresh.Input, now time.Time, err error, message string) time.Duration {
	key := client.ObjectKeyFromObject(obj)
	if f := markOutcome(ctx, kind, obj, s, now, err, nil, message); f != nil {
		return tracker.Failed(key, in, f.Transient, f.RetryAfter)
	}
	return tracker.Succeeded(key, in)
}

// handleRequest echoes a requested-at annotation as handled: called once a sync for it has run,
// whatever its outcome.
func handleRequest(obj client.Object, s *statsigv1alpha1.CommonStatus) {
	if v := obj.GetAnnotations()[statsigv1alpha1.AnnotationRequestedAt]; v != "" {
		s.LastHandledRequestedAt = v
	}
}

// waitingForStatsig describes a sync that waits for Statsig's answer.
func waitingForStatsig() string { return "Waiting for Statsig to answer" }

// requeue is the result of a reconcile that wants to come back after a delay, unless it failed:
// then the error alone is returned and the workqueue's backoff applies (controller-runtime ignores
// a RequeueAfter returned with an error).
func requeue(after time.Duration, err error) (ctrl.Result, error) {
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// credentialsUser names a resource to the credentials resolver, which keeps a copy of a Secret only
// while some resource reads it.
func credentialsUser(kind string, key types.NamespacedName) string {
	return kind + "/" + key.String()
}

// getFunc reads one object.
type getFunc func(ctx context.Context, key types.NamespacedName, obj client.Object) error

// getFrom reads through a client.Reader.
func getFrom(c client.Reader) getFunc {
	return func(ctx context.Context, key types.NamespacedName, obj client.Object) error {
		return c.Get(ctx, key, obj)
	}
}
