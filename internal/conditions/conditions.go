// Package conditions sets the Ready and Stale conditions every kind shares, and turns errors into
// the contract's condition reasons.
package conditions

import (
	"errors"
	"fmt"
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
		Message: message, ObservedGeneration: generation,
	})
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: statsigv1alpha1.ConditionStale, Status: metav1.ConditionFalse, Reason: statsigv1alpha1.ReasonSynced,
		Message: "Output is from the last sync", ObservedGeneration: generation,
	})
}

// MarkFailed records a failed sync: Ready=False with the failure's reason, Stale=True saying since
// when the output has been the last good one.
func MarkFailed(s *statsigv1alpha1.CommonStatus, generation int64, now time.Time, f *Failure) {
	// The spec was acted on, even though the attempt failed: a client waiting for
	// observedGeneration to catch up then reads the failure that belongs to its change.
	s.ObservedGeneration = generation
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: statsigv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: f.Reason,
		Message: f.Message, ObservedGeneration: generation,
	})
	since := now
	if c := meta.FindStatusCondition(s.Conditions, statsigv1alpha1.ConditionStale); c != nil && c.Status == metav1.ConditionTrue {
		since = c.LastTransitionTime.Time
	}
	msg := fmt.Sprintf("Syncs failing since %s; ", since.UTC().Format(time.RFC3339))
	if s.LastSyncTime != nil {
		msg += fmt.Sprintf("output is the last good one, from %s", s.LastSyncTime.UTC().Format(time.RFC3339))
	} else {
		msg += "no sync has succeeded yet"
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: statsigv1alpha1.ConditionStale, Status: metav1.ConditionTrue, Reason: statsigv1alpha1.ReasonSyncFailing,
		Message: msg, ObservedGeneration: generation,
	})
}

// IsReady reports whether Ready is True.
func IsReady(s *statsigv1alpha1.CommonStatus) bool {
	return meta.IsStatusConditionTrue(s.Conditions, statsigv1alpha1.ConditionReady)
}
