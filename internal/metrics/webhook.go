package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// WebhookRequests counts requests to the webhook listener by result: accepted, verification,
	// replayed, unauthorized, bad_request, too_large, not_found, method_not_allowed, rate_limited.
	WebhookRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_webhook_requests_total",
		Help: "Requests to the WebhookReceiver listener, by result.",
	}, []string{"result"})

	// WebhookEvents counts change events accepted per receiver, from a webhook or from catchUp.
	WebhookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_webhook_events_total",
		Help: "Verified change events accepted by a WebhookReceiver, by source (webhook or catchup).",
	}, []string{"namespace", "name", "source"})

	// WebhookSyncsTriggered counts syncs a receiver asked for, by the kind of the synced resource.
	WebhookSyncsTriggered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_webhook_syncs_triggered_total",
		Help: "Syncs triggered by change events (before coalescing), by the kind of the synced resource.",
	}, []string{"kind"})

	// WebhookCatchUpLag observes, for each change found by catchUp, the seconds between the change
	// (its audit log time) and when catchUp found it.
	WebhookCatchUpLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "statsig_operator_webhook_catchup_lag_seconds",
		Help:    "Seconds from a change in the Statsig audit log to catchUp triggering its syncs.",
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 900, 3600},
	})

	_ = Add(WebhookRequests, WebhookEvents, WebhookSyncsTriggered, WebhookCatchUpLag)
)

// ForgetReceiver removes a deleted receiver's series.
func ForgetReceiver(namespace, name string) {
	WebhookEvents.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}
