// Package conditions sets the Ready and Stale conditions every kind shares, and turns errors into
// the contract's condition reasons.
package conditions

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// Failure is a sync failure with the reason the contract names for it.
type Failure struct {
	Reason  string
	Message string
	// Transient failures are retried with backoff; permanent ones wait for a change (or the next
	// refresh period).
	Transient  bool
	RetryAfter time.Duration
	cause      error
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Message }
func (f *Failure) Unwrap() error { return f.cause }

// Permanent is a failure that retrying will not fix until something changes.
func Permanent(reason, message string) *Failure {
	return &Failure{Reason: reason, Message: message}
}

// Classify maps any error to a Failure. Statsig errors get the reasons the contract names, and
// their messages are redacted so that a key quoted by Statsig never reaches status or Events.
func Classify(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	msg := statsig.Redact(err.Error())
	switch statsig.Classify(err) {
	case statsig.ClassUnauthorized:
		return &Failure{Reason: statsigv1alpha1.ReasonStatsigUnauthorized, Message: msg, cause: err}
	case statsig.ClassRateLimited:
		return &Failure{Reason: statsigv1alpha1.ReasonStatsigRateLimited, Message: msg, Transient: true, RetryAfter: statsig.RetryAfter(err), cause: err}
	case statsig.ClassUnavailable:
		return &Failure{Reason: statsigv1alpha1.ReasonStatsigUnavailable, Message: msg, Transient: true, cause: err}
	case statsig.ClassInvalidResponse:
		return &Failure{Reason: statsigv1alpha1.ReasonInvalidResponse, Message: msg, Transient: true, cause: err}
	case statsig.ClassBadRequest, statsig.ClassNotFound:
		return &Failure{Reason: statsigv1alpha1.ReasonStatsigRejected, Message: msg, cause: err}
	}
	// Anything else (API server hiccups, context cancellation) is worth retrying.
	return &Failure{Reason: statsigv1alpha1.ReasonSyncFailing, Message: msg, Transient: true, cause: err}
}

// MarkSynced records a successful sync.
func MarkSynced(s *statsigv1alpha1.CommonStatus, generation int64, now time.Time, message string) {
	s.ObservedGeneration = generation
	t := metav1.NewTime(now)
	s.LastSyncTime = &t
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: statsigv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: statsigv1alpha1.ReasonSynced,
		Message: message, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now),
	})
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: statsigv1alpha1.ConditionStale, Status: metav1.ConditionFalse, Reason: statsigv1alpha1.ReasonSynced,
		Message: "Output is from the last sync", ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now),
	})
	SetHealth(&s.Conditions, generation, nil, now)
}

// MarkFailed records a failed sync: Ready=False with the failure's reason, Stale=True saying since
// when the output has been the last good one.
func MarkFailed(s *statsigv1alpha1.CommonStatus, generation int64, now time.Time, f *Failure) {
	// The spec was acted on, even though the attempt failed: a client waiting for
	// observedGeneration to catch up then reads the failure that belongs to its change.
	s.ObservedGeneration = generation
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: statsigv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: f.Reason,
		Message: f.Message, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now),
	})
	since := FailingSince(s.Conditions, now)
	msg := fmt.Sprintf("Syncs failing since %s; ", since.UTC().Format(time.RFC3339))
	if s.LastSyncTime != nil {
		msg += fmt.Sprintf("output is the last good one, from %s", s.LastSyncTime.UTC().Format(time.RFC3339))
	} else {
		msg += "no sync has succeeded yet"
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: statsigv1alpha1.ConditionStale, Status: metav1.ConditionTrue, Reason: statsigv1alpha1.ReasonSyncFailing,
		Message: msg, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now),
	})
	SetHealth(&s.Conditions, generation, f, since)
}

// FailingSince is when the output became the last good one rather than a fresh one: the moment
// Stale turned True, or now when it is not True yet. It is the one "since when" of Stale's and
// Reconciling's messages.
func FailingSince(conds []metav1.Condition, now time.Time) time.Time {
	if c := meta.FindStatusCondition(conds, statsigv1alpha1.ConditionStale); c != nil && c.Status == metav1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return now
}

// Stalls reports whether a failure is one that no retry can fix until someone changes something.
func Stalls(f *Failure) bool {
	return f != nil && slices.Contains(statsigv1alpha1.StalledReasons, f.Reason)
}

// SetHealth keeps kstatus's conditions after a sync's outcome: nothing when it succeeded (kstatus:
// Current); Stalled=True with the failure's reason when only a change can fix it (Failed); and
// Reconciling=True while it is being retried (InProgress). since is when the failures began.
func SetHealth(conds *[]metav1.Condition, generation int64, f *Failure, since time.Time) {
	switch {
	case f == nil:
		meta.RemoveStatusCondition(conds, statsigv1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conds, statsigv1alpha1.ConditionStalled)
	case Stalls(f):
		meta.RemoveStatusCondition(conds, statsigv1alpha1.ConditionReconciling)
		meta.SetStatusCondition(conds, metav1.Condition{
			Type: statsigv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: f.Reason,
			Message: f.Message, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(since),
		})
	default:
		meta.RemoveStatusCondition(conds, statsigv1alpha1.ConditionStalled)
		meta.SetStatusCondition(conds, metav1.Condition{
			Type: statsigv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue,
			Reason: statsigv1alpha1.ReasonProgressingWithRetry, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(since),
			Message: fmt.Sprintf("Retrying after %s, failing since %s", f.Reason, since.UTC().Format(time.RFC3339)),
		})
	}
}

// Progressing is the Reconciling condition of a sync that is still running: what it waits for and
// since when.
func Progressing(generation int64, waitingFor string, since time.Time) metav1.Condition {
	return metav1.Condition{
		Type: statsigv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue,
		Reason: statsigv1alpha1.ReasonProgressing, ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(since),
		Message: fmt.Sprintf("%s since %s", waitingFor, since.UTC().Format(time.RFC3339)),
	}
}

// IsReady reports whether Ready is True.
func IsReady(s *statsigv1alpha1.CommonStatus) bool {
	return meta.IsStatusConditionTrue(s.Conditions, statsigv1alpha1.ConditionReady)
}
