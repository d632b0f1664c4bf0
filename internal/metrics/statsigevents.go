package metrics

import "github.com/prometheus/client_golang/prometheus"

// StatsigEvents counts what snapshots sent to Statsig about their rollouts, by type (exposure: a
// log_custom_exposure entry; rollout: a log_event statsig_operator_rollout) and result (sent,
// failed: a send that will be retried, dropped: given up after repeated failures).
var StatsigEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "statsig_operator_rollout_statsig_events_total",
	Help: "Exposures and rollout events a snapshot sent to Statsig after its rollouts, by type and result.",
}, []string{"type", "result"})

var _ = Add(StatsigEvents)
