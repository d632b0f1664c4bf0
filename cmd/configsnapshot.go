package main

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/statsig-operator/statsig-operator/controllers"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/refresh"
	"github.com/statsig-operator/statsig-operator/internal/rollout"
	"github.com/statsig-operator/statsig-operator/internal/rolloutevents"
)

// setupSnapshots wires the ConfigSnapshot and ClusterConfigSnapshot controllers.
func setupSnapshots(mgr ctrl.Manager, opts *options.Options, s *shared) error {
	// Workloads are patched directly and checked through the API reader, so that the operator
	// does not cache every Deployment, StatefulSet and DaemonSet of the cluster.
	roller := &rollout.Roller{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Clock: s.Clock}
	deps := func() controllers.SnapshotDeps {
		return controllers.SnapshotDeps{
			Client:      mgr.GetClient(),
			Credentials: s.Credentials,
			Secrets:     s.Secrets,
			Statsig:     controllers.SnapshotClientFor(s.Clients),
			ConfigMaps:  s.ConfigMaps,
			Outputs:     &configmap.Outputs{},
			Rollouts:    roller,
			Tracker:     refresh.NewTracker(s.Clock),
			Events:      mgr.GetEventRecorder("statsig-operator"),
			Clock:       s.Clock,
			Triggers:    s.Triggers,
			Reporter: &rolloutevents.Reporter{
				Client: func(key string) rolloutevents.Client { return s.Clients.ForKey(key) },
				Events: mgr.GetEventRecorder("statsig-operator"),
				Clock:  s.Clock,
			},
			MaxConcurrentReconciles: opts.MaxConcurrentSyncs,
		}
	}
	if err := (&controllers.ConfigSnapshotReconciler{SnapshotDeps: deps()}).SetupWithManager(mgr, s.DefaultSecret); err != nil {
		return fmt.Errorf("set up ConfigSnapshot controller: %w", err)
	}
	if err := (&controllers.ClusterConfigSnapshotReconciler{SnapshotDeps: deps(), WatchNamespaces: opts.WatchNamespaceList()}).
		SetupWithManager(mgr, s.DefaultSecret); err != nil {
		return fmt.Errorf("set up ClusterConfigSnapshot controller: %w", err)
	}
	return nil
}
