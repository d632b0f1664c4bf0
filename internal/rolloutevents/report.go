package rolloutevents

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// Client sends to the events host. *statsig.Client implements it, with bounded retries and
// validation of what it sends.
type Client interface {
	LogEvents(ctx context.Context, events []statsig.Event) error
	LogCustomExposures(ctx context.Context, exposures []statsig.CustomExposure) error
}

// EventRecorder is the part of the events/v1 recorder the reporter uses.
type EventRecorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// Event reasons.
const (
	ReasonStatsigEventsSent   = "StatsigEventsSent"
	ReasonStatsigEventsFailed = "StatsigEventsFailed"
)

// DefaultTimeout bounds one report, retries included, so that a hanging events host never holds a
// rollout pass for long.
const DefaultTimeout = 30 * time.Second

// maxChangedInMetadata bounds the entity names one event's metadata carries.
const maxChangedInMetadata = 50

// Reporter sends what a plan says is due, in one call per endpoint for the whole pass (one burst),
// and records the outcome in status, an Event and a metric. A failure never fails the sync.
type Reporter struct {
	// Client returns the client for a server secret key.
	Client func(key string) Client
	Events EventRecorder
	Clock  clock.PassiveClock
	// Timeout bounds one report; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Subject is the snapshot a report is about.
type Subject struct {
	// Object receives the Events.
	Object runtime.Object
	// Name names the snapshot in event metadata: <Kind>/<namespace>/<name>, or <Kind>/<name>.
	Name string
	User statsig.User
	// Key returns the server secret key, read only when something is due. An error keeps
	// everything due for a later pass.
	Key func() (string, error)
}

// Report sends what is due for s and records it. It returns how long until a failed send should be
// tried again, 0 when nothing waits.
func (r *Reporter) Report(ctx context.Context, sub Subject, s *statsigv1alpha1.StatsigEventsStatus, in Input) time.Duration {
	if s == nil {
		return 0
	}
	Prune(s, in.Targets)
	p := Due(s, in) // before noting this pass's rollouts: it reads those they replace
	NoteRolled(s, in)
	Completed(s, p, in.Options, r.Clock.Now())
	if p.Empty() {
		return 0
	}
	key, err := sub.Key()
	if err != nil {
		logf.FromContext(ctx).Info("Not sending rollout events to Statsig: no server secret key", "error", err.Error())
		return 0
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now := r.Clock.Now()
	c := r.Client(key)

	var sent, failed Plan
	var errs []string
	if len(p.Exposures) > 0 {
		if err := c.LogCustomExposures(ctx, customExposures(sub.User, p.Exposures, now)); err != nil {
			failed.Exposures = p.Exposures
			errs = append(errs, fmt.Sprintf("log_custom_exposure (%d exposures): %v", len(p.Exposures), err))
		} else {
			sent.Exposures = p.Exposures
		}
	}
	if len(p.Rollouts) > 0 {
		if err := c.LogEvents(ctx, rolloutEvents(sub, p, now)); err != nil {
			failed.Rollouts = p.Rollouts
			errs = append(errs, fmt.Sprintf("log_event (%d rollouts): %v", len(p.Rollouts), err))
		} else {
			sent.Rollouts = p.Rollouts
		}
	}
	if !sent.Empty() {
		Sent(s, sent, now)
		count(sent, "sent")
		r.Events.Eventf(sub.Object, nil, corev1.EventTypeNormal, ReasonStatsigEventsSent, "StatsigEvents",
			"Sent to Statsig for content hash %s: %d exposures, %d rollout events", short12(s.ContentHash), len(sent.Exposures), len(sent.Rollouts))
	}
	if failed.Empty() {
		return 0
	}
	logf.FromContext(ctx).Info("Sending rollout events to Statsig failed", "errors", errs)
	if Failed(s, failed, now) {
		count(failed, "dropped")
		r.Events.Eventf(sub.Object, nil, corev1.EventTypeWarning, ReasonStatsigEventsFailed, "StatsigEvents",
			"Gave up sending to Statsig after %d attempts (%d exposures, %d rollout events dropped): %s",
			MaxFailedSends, len(failed.Exposures), len(failed.Rollouts), strings.Join(errs, "; "))
		return 0
	}
	count(failed, "failed")
	wait := RetryAfter(s.FailedSends)
	r.Events.Eventf(sub.Object, nil, corev1.EventTypeWarning, ReasonStatsigEventsFailed, "StatsigEvents",
		"Sending to Statsig failed (attempt %d of %d, next in %s): %s", s.FailedSends, MaxFailedSends, wait, strings.Join(errs, "; "))
	return wait
}

func count(p Plan, result string) {
	if n := len(p.Exposures); n > 0 {
		metrics.StatsigEvents.WithLabelValues("exposure", result).Add(float64(n))
	}
	if n := len(p.Rollouts); n > 0 {
		metrics.StatsigEvents.WithLabelValues("rollout", result).Add(float64(n))
	}
}

// customExposures turns logged exposures into log_custom_exposure entries, at the completion time.
func customExposures(u statsig.User, es []statsigv1alpha1.LoggedExposure, at time.Time) []statsig.CustomExposure {
	out := make([]statsig.CustomExposure, 0, len(es))
	for _, e := range es {
		c := statsig.CustomExposure{User: u, RuleID: e.RuleID, Time: at.UnixMilli()}
		switch e.Kind {
		case statsigv1alpha1.ExposureGate:
			c.GateName, c.Passes = e.Name, e.Group == "true"
		default:
			c.ExperimentName, c.Group = e.Name, e.Group
		}
		out = append(out, c)
	}
	return out
}

// rolloutEvents turns completed rollouts into log_event entries, each naming the content it
// rolled out and what that content changed.
func rolloutEvents(sub Subject, p Plan, at time.Time) []statsig.Event {
	out := make([]statsig.Event, 0, len(p.Rollouts))
	for _, r := range p.Rollouts {
		changed, more := r.Changed, ""
		if len(changed) > maxChangedInMetadata {
			more = fmt.Sprintf(" and %d more", len(changed)-maxChangedInMetadata)
			changed = changed[:maxChangedInMetadata]
		}
		out = append(out, statsig.Event{EventName: EventName, Value: r.Value(), Time: at.UnixMilli(), User: sub.User,
			Metadata: map[string]string{
				"snapshot":        sub.Name,
				"contentHash":     r.Hash,
				"changedEntities": strings.Join(changed, ",") + more,
			}})
	}
	return out
}

func short12(h string) string { return h[:min(len(h), 12)] }
