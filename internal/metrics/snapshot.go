package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// SnapshotEntities is the number of entities in each snapshot's last written content.
	SnapshotEntities = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "statsig_operator_snapshot_entities",
		Help: "Gates, dynamic configs, experiments and layers in a snapshot's last written content.",
	}, []string{"kind", "namespace", "name"})

	// SnapshotNamespaces counts, per ClusterConfigSnapshot, the namespaces its ConfigMap is written
	// to and those it failed to be written to.
	SnapshotNamespaces = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "statsig_operator_cluster_snapshot_namespaces",
		Help: "Namespaces a ClusterConfigSnapshot is written to (state=written) or failed to write to (state=failed).",
	}, []string{"name", "state"})

	// Rollouts counts rollout attempts by workload kind and result (rolled, not_found).
	Rollouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_rollouts_total",
		Help: "Workloads rolled because a snapshot's content changed (result=rolled), or not found (result=not_found).",
	}, []string{"kind", "result"})

	_ = Add(SnapshotEntities, SnapshotNamespaces, Rollouts)
)

// ForgetSnapshot removes every series of a deleted ConfigSnapshot or ClusterConfigSnapshot.
func ForgetSnapshot(o Object) {
	Forget(o)
	SnapshotEntities.DeleteLabelValues(o.Kind, o.Namespace, o.Name)
	if o.Namespace == "" {
		SnapshotNamespaces.DeletePartialMatch(prometheus.Labels{"name": o.Name})
	}
}
