package controllers

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/rollout"
	"github.com/statsig-operator/statsig-operator/internal/rolloutevents"
)

// statsigEventOptions reads what a snapshot spec asks to send to Statsig about its rollouts.
func statsigEventOptions(spec statsigv1alpha1.SnapshotEntities) rolloutevents.Options {
	return rolloutevents.Options{
		Exposures: spec.LogExposures && len(spec.RolloutTargets) > 0,
		Rollouts:  spec.StatsigEvents != nil && spec.StatsigEvents.Rollouts && len(spec.RolloutTargets) > 0,
	}
}

// reportRollout sends to Statsig what a rollout pass found complete, best effort: a failure is an
// Event and a metric (and a retry after the returned delay), never an error of the reconcile.
func reportRollout(ctx context.Context, rep *rolloutevents.Reporter, obj runtime.Object, name string, key func() (string, error),
	spec statsigv1alpha1.SnapshotEntities, s *statsigv1alpha1.SnapshotStatus, out rollout.Outcome) time.Duration {
	o := statsigEventOptions(spec)
	if !o.On() {
		s.StatsigEvents = nil
		return 0
	}
	if rep == nil || s.StatsigEvents == nil {
		return 0
	}
	user, err := toStatsigUser(spec.User)
	if err != nil {
		logf.FromContext(ctx).Info("Not sending rollout events to Statsig: invalid user", "error", err.Error())
		return 0
	}
	in := rolloutevents.Input{Options: o, ContentHash: s.ContentHash}
	for _, st := range out.Status {
		t := rollout.Target{Kind: st.Kind, Namespace: st.Namespace, Name: st.Name}
		et := rolloutevents.Target{Kind: st.Kind, Namespace: st.Namespace, Name: st.Name, Hash: st.Hash, Rolled: slices.Contains(out.Rolled, t)}
		i := slices.IndexFunc(out.Earlier, func(p rollout.Progress) bool { return p.Target == t })
		switch {
		case st.Message != "":
		case slices.Contains(out.Pending, t):
			// Its rollout to the current content waits for the limit: its pods of an earlier
			// content (a rollout the operator may have started) are what completes meanwhile.
			et.Complete = i >= 0 && out.Earlier[i].Waiting == "" && out.Earlier[i].Hash == st.Hash
		default:
			et.Complete = !slices.ContainsFunc(out.InProgress, func(p rollout.Progress) bool { return p.Target == t })
		}
		if et.Rolled && i >= 0 {
			et.Earlier, et.EarlierComplete = out.Earlier[i].Hash, out.Earlier[i].Waiting == ""
		}
		in.Targets = append(in.Targets, et)
	}
	return rep.Report(ctx, rolloutevents.Subject{Object: obj, Name: name, User: user, Key: key}, s.StatsigEvents, in)
}
