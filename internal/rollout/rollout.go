// Package rollout restarts workloads when a snapshot's content changes, by setting one pod template
// annotation, at most once per target per interval, and tells whether each target's pods run the
// current content.
package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// DefaultMinInterval is the contract's limit: never more than one rollout per target per minute.
const DefaultMinInterval = time.Minute

// Target is one workload to roll.
type Target struct {
	Kind, Namespace, Name string
}

func (t Target) String() string { return t.Kind + " " + t.Namespace + "/" + t.Name }

// Content is what the targets' pods should run.
type Content struct {
	// Hash is the content hash of the ConfigMap.
	Hash string
	// ChangedAt is when Hash replaced earlier content (status.contentChangedTime); nil while Hash is
	// the first content the snapshot wrote, which is a baseline and rolls nothing.
	ChangedAt *time.Time
	// WrittenAt is when Hash was first written (status.contentWrittenTime), the first content
	// included; nil for a status written before the operator kept it.
	WrittenAt *time.Time
}

// Roller decides, per target, whether its pods run the current content, and patches the pod
// template annotation statsig-operator.io/snapshot-hash when they do not. It keeps no state of its
// own: it decides from the workload itself (its annotation and creation time) and the snapshot's
// status, so a restart neither repeats nor loses a rollout.
type Roller struct {
	// Client patches workloads. A merge patch needs no read, so workloads need not be cached.
	Client client.Client
	// Reader reads targets live (the manager's API reader), so that the operator does not cache
	// every workload of the cluster and never decides from a stale copy.
	Reader client.Reader
	Clock  clock.PassiveClock
	// MinInterval is the least time between two rollouts of one target; 0 means DefaultMinInterval.
	MinInterval time.Duration
}

// Outcome is what one pass did and found.
type Outcome struct {
	// Status is the new status.rollouts, one entry per target in the order given.
	Status []statsigv1alpha1.RolloutStatus
	// Rolled are the targets patched in this pass.
	Rolled []Target
	// Missing are the targets that do not exist; NewlyMissing those that were not missing before.
	Missing, NewlyMissing []Target
	// Pending are targets whose rollout waits for MinInterval to pass since their last one.
	Pending []Target
	// InProgress are targets set to the current content whose new pods are not all available yet,
	// with what each waits for.
	InProgress []Progress
	// Earlier are the targets this pass found on an earlier content, those it rolled (as they were
	// before the patch) and those Pending, with the content their pods carried and what their
	// rollout still waited for: a rollout that a later content replaces may complete before the
	// later one starts, and is a rollout of its own.
	Earlier []Progress
	// Wait is how long until the first pending rollout may run, and At when; zero when none is
	// pending.
	Wait time.Duration
	At   time.Time
	// Interval is the Roller's MinInterval, for messages.
	Interval time.Duration
}

// Progress says what a target's rollout waits for.
type Progress struct {
	Target
	// Waiting is what its rollout waits for, "" when its pods are all available.
	Waiting string
	// Hash is the content its pods carry (set in Outcome.Earlier only).
	Hash string
}

// Reconcile brings each target's pods to content. A target runs the current content when its pod
// template carries the current hash, or when it carries none and was created after the content was
// written (its pods read it when they started). Any other target is rolled, unless it was rolled
// less than MinInterval ago: then it waits, and changes in between are coalesced into the one
// rollout that follows. prev is the current status.rollouts.
func (r *Roller) Reconcile(ctx context.Context, content Content, targets []Target, prev []statsigv1alpha1.RolloutStatus) (Outcome, error) {
	out := Outcome{Interval: r.minInterval()}
	now := r.Clock.Now()
	for _, t := range targets {
		last, seen := find(prev, t)
		wasMissing := seen && last.Message != ""
		e := statsigv1alpha1.RolloutStatus{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Hash: last.Hash, LastRolloutTime: last.LastRolloutTime}
		w, err := r.get(ctx, t)
		switch {
		case apierrors.IsNotFound(err):
			e.Message = notFound(t)
		case err != nil:
			return out, err
		case runsContent(w, content, seen && last.Message == "" && last.Hash == content.Hash):
			e.Hash = content.Hash
			out.progress(t, w)
		default:
			earlier := Progress{Target: t, Waiting: w.rolling(), Hash: w.annotation()}
			if earlier.Hash == "" {
				earlier.Hash = last.Hash
			}
			if e.LastRolloutTime != nil {
				// Status keeps whole seconds: add the second the truncation may have taken off, so
				// that the interval is never shorter than MinInterval.
				next := e.LastRolloutTime.Add(r.minInterval() + time.Second)
				if now.Before(next) {
					out.Pending = append(out.Pending, t)
					out.Earlier = append(out.Earlier, earlier)
					if out.At.IsZero() || next.Before(out.At) {
						out.At, out.Wait = next, next.Sub(now)
					}
					break
				}
			}
			err := r.patch(ctx, w, content.Hash)
			switch {
			case apierrors.IsNotFound(err):
				e.Message = notFound(t)
			case err != nil:
				return out, err
			default:
				ts := metav1.NewTime(now)
				e.Hash, e.LastRolloutTime = content.Hash, &ts
				out.Rolled = append(out.Rolled, t)
				out.Earlier = append(out.Earlier, earlier)
				out.progress(t, w)
			}
		}
		if e.Message != "" {
			out.Missing = append(out.Missing, t)
			if !wasMissing {
				out.NewlyMissing = append(out.NewlyMissing, t)
			}
		}
		out.Status = append(out.Status, e)
	}
	return out, nil
}

// runsContent reports whether a workload's pods were started from content (or are being replaced
// by pods that are). decided says that an earlier pass already found this target on content.
func runsContent(w workload, content Content, decided bool) bool {
	switch a := w.annotation(); {
	case a == content.Hash:
		return true
	case a != "":
		return false // rolled to an earlier content
	case content.ChangedAt == nil:
		// The first content. A workload created after it was written, or whose pods had not
		// started when it was first seen (they wait for the ConfigMap and read it when they start),
		// runs it; one that already had ready pods started them without it (an optional
		// reference) and is rolled once. A status from before contentWrittenTime existed is a
		// baseline, so that an upgrade rolls nothing.
		if decided || content.WrittenAt == nil || createdAfter(w, *content.WrittenAt) {
			return true
		}
		return !w.hasReadyPods()
	}
	return createdAfter(w, *content.ChangedAt)
}

// createdAfter reports whether w was created after t. creationTimestamp has whole seconds: a
// workload created in the second of t may have started its pods before, so only a later second
// counts as after.
func createdAfter(w workload, t time.Time) bool {
	return w.GetCreationTimestamp().Truncate(time.Second).After(t.Truncate(time.Second))
}

func (o *Outcome) progress(t Target, w workload) {
	if waiting := w.rolling(); waiting != "" {
		o.InProgress = append(o.InProgress, Progress{Target: t, Waiting: waiting})
	}
}

// Condition summarises an outcome as the RolledOut condition: targets that do not exist first,
// then rollouts waiting for their interval, then rollouts whose new pods are not available yet.
func (o Outcome) Condition(generation int64) metav1.Condition {
	c := metav1.Condition{Type: statsigv1alpha1.ConditionRolledOut, ObservedGeneration: generation, Status: metav1.ConditionFalse}
	switch {
	case len(o.Missing) > 0:
		c.Reason = statsigv1alpha1.ReasonTargetNotFound
		c.Message = "Not found, so not rolled: " + list(o.Missing)
	case len(o.Pending) > 0:
		c.Reason = statsigv1alpha1.ReasonRolloutPending
		c.Message = fmt.Sprintf("Content changed within %s of the last rollout; rolling at %s: %s",
			o.Interval, o.At.UTC().Format(time.RFC3339), list(o.Pending))
	case len(o.InProgress) > 0:
		c.Reason = statsigv1alpha1.ReasonRolloutInProgress
		ts := make([]Target, len(o.InProgress))
		for i, p := range o.InProgress {
			ts[i] = p.Target
		}
		c.Message = fmt.Sprintf("Waiting for pods of the current content: %s (%s)", list(ts), o.InProgress[0].Waiting)
	default:
		c.Status, c.Reason = metav1.ConditionTrue, statsigv1alpha1.ReasonRolledOut
		c.Message = fmt.Sprintf("%d rollout targets run the current content", len(o.Status))
	}
	return c
}

func (r *Roller) minInterval() time.Duration {
	if r.MinInterval > 0 {
		return r.MinInterval
	}
	return DefaultMinInterval
}

// patch sets the annotation with a JSON merge patch that names nothing else, so that no other field
// of the workload (replicas scaled by an autoscaler, say) is touched. w holds the result.
func (r *Roller) patch(ctx context.Context, w workload, hash string) error {
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{statsigv1alpha1.AnnotationSnapshotHash: hash}}}}})
	if err != nil {
		return fmt.Errorf("encode rollout patch: %w", err)
	}
	if err := r.Client.Patch(ctx, w.Object, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("roll %s %s/%s: %w", w.kind(), w.GetNamespace(), w.GetName(), err)
	}
	return nil
}

func (r *Roller) get(ctx context.Context, t Target) (workload, error) {
	w, err := newWorkload(t.Kind)
	if err != nil {
		return w, err
	}
	if err := r.Reader.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, w.Object); err != nil {
		if apierrors.IsNotFound(err) {
			return w, err
		}
		return w, fmt.Errorf("get %s: %w", t, err)
	}
	return w, nil
}

func find(list []statsigv1alpha1.RolloutStatus, t Target) (statsigv1alpha1.RolloutStatus, bool) {
	i := slices.IndexFunc(list, func(e statsigv1alpha1.RolloutStatus) bool {
		return e.Kind == t.Kind && e.Name == t.Name && e.Namespace == t.Namespace
	})
	if i < 0 {
		return statsigv1alpha1.RolloutStatus{}, false
	}
	return list[i], true
}

func notFound(t Target) string {
	return fmt.Sprintf("%s %s/%s not found", t.Kind, t.Namespace, t.Name)
}

// list names up to five targets, so that a condition message stays short with many namespaces.
func list(ts []Target) string {
	const most = 5
	names := make([]string, 0, most)
	for _, t := range ts[:min(len(ts), most)] {
		names = append(names, t.String())
	}
	s := strings.Join(names, ", ")
	if len(ts) > most {
		s += fmt.Sprintf(" and %d more", len(ts)-most)
	}
	return s
}
