// Package rollout restarts workloads when a snapshot's content changes, by setting one pod template
// annotation, at most once per target per interval.
package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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

// Roller decides, per target, whether a content hash calls for a rollout, and patches the pod
// template annotation statsig-operator.io/snapshot-hash when it does. It keeps no state of its own:
// everything it needs is in the snapshot's status.rollouts, so a restart neither repeats nor loses a
// rollout.
type Roller struct {
	// Client patches workloads. A merge patch needs no read, so workloads need not be cached.
	Client client.Client
	// Reader checks that a target exists (metadata only); the manager's API reader keeps the
	// operator from caching every workload of the cluster.
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
	// Wait is how long until the first pending rollout may run; 0 when none is pending.
	Wait time.Duration
	// Interval is the Roller's MinInterval, for messages.
	Interval time.Duration
}

// Reconcile brings each target to hash. A target seen for the first time adopts hash without a
// rollout: the first sync of a snapshot, or a target added to the spec, is not a content change.
// A target whose recorded hash differs is rolled, unless it was rolled less than MinInterval ago;
// then it waits, and changes in between are coalesced into the one rollout that follows. prev is
// the current status.rollouts.
func (r *Roller) Reconcile(ctx context.Context, hash string, targets []Target, prev []statsigv1alpha1.RolloutStatus) (Outcome, error) {
	out := Outcome{Interval: r.minInterval()}
	now := r.Clock.Now()
	for _, t := range targets {
		e, seen := find(prev, t)
		wasMissing := seen && e.Message != ""
		switch {
		case !seen || e.Hash == "":
			// A new target, or one that did not exist until now: it starts from the current content.
			exists, err := r.exists(ctx, t)
			if err != nil {
				return out, err
			}
			e = statsigv1alpha1.RolloutStatus{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, LastRolloutTime: e.LastRolloutTime}
			if exists {
				e.Hash = hash
			} else {
				e.Message = notFound(t)
			}
		case e.Hash == hash:
			// Up to date.
		default:
			if e.LastRolloutTime != nil {
				// Status keeps whole seconds: add the second the truncation may have taken off, so
				// that the interval is never shorter than MinInterval.
				next := e.LastRolloutTime.Add(r.minInterval() + time.Second)
				if now.Before(next) {
					out.Pending = append(out.Pending, t)
					if w := next.Sub(now); out.Wait == 0 || w < out.Wait {
						out.Wait = w
					}
					break
				}
			}
			err := r.patch(ctx, t, hash)
			switch {
			case apierrors.IsNotFound(err):
				e = statsigv1alpha1.RolloutStatus{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name,
					LastRolloutTime: e.LastRolloutTime, Message: notFound(t)}
			case err != nil:
				return out, err
			default:
				ts := metav1.NewTime(now)
				e = statsigv1alpha1.RolloutStatus{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Hash: hash, LastRolloutTime: &ts}
				out.Rolled = append(out.Rolled, t)
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

// Condition summarises an outcome as the RolledOut condition: targets that do not exist first, then
// rollouts waiting for their interval.
func (o Outcome) Condition(generation int64) metav1.Condition {
	c := metav1.Condition{Type: statsigv1alpha1.ConditionRolledOut, ObservedGeneration: generation}
	switch {
	case len(o.Missing) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, statsigv1alpha1.ReasonTargetNotFound
		c.Message = "Not found, so not rolled: " + list(o.Missing)
	case len(o.Pending) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, statsigv1alpha1.ReasonRolloutPending
		c.Message = fmt.Sprintf("Content changed within %s of the last rollout; waiting to roll: %s", o.Interval, list(o.Pending))
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
// of the workload (replicas scaled by an autoscaler, say) is touched.
func (r *Roller) patch(ctx context.Context, t Target, hash string) error {
	obj, err := object(t)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{statsigv1alpha1.AnnotationSnapshotHash: hash}}}}})
	if err != nil {
		return fmt.Errorf("encode rollout patch: %w", err)
	}
	if err := r.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("roll %s: %w", t, err)
	}
	return nil
}

func (r *Roller) exists(ctx context.Context, t Target) (bool, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind(t.Kind))
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, m)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get %s: %w", t, err)
	}
	return true, nil
}

func object(t Target) (client.Object, error) {
	var obj client.Object
	switch t.Kind {
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "DaemonSet":
		obj = &appsv1.DaemonSet{}
	default:
		return nil, fmt.Errorf("rollout target kind %q is not Deployment, StatefulSet or DaemonSet", t.Kind)
	}
	obj.SetNamespace(t.Namespace)
	obj.SetName(t.Name)
	return obj, nil
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
