package statsig

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// codeClass label values besides "2xx" ... "5xx".
const (
	// codeClassError: no HTTP answer (network error, timeout, reset, body read failure).
	codeClassError = "error"
	// codeClassHeld: refused locally while the key was held after a 429; nothing was sent.
	codeClassHeld = "held"
)

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "statsig_operator", Subsystem: "statsig", Name: "requests_total",
		Help: "Requests to Statsig by endpoint and status class (2xx..5xx, error when no answer, held when refused locally during a Retry-After hold).",
	}, []string{"endpoint", "code_class"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "statsig_operator", Subsystem: "statsig", Name: "request_duration_seconds",
		Help:    "Duration of one attempt of a request to Statsig, body included.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"endpoint"})
	retriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "statsig_operator", Subsystem: "statsig", Name: "retries_total",
		Help: "Attempts to Statsig that were retries of an earlier attempt.",
	}, []string{"endpoint"})
	rateLimiterWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "statsig_operator", Subsystem: "statsig", Name: "rate_limiter_wait_seconds",
		Help:    "Time a request waited on its key's client-side rate limiter.",
		Buckets: []float64{0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
	gateBatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "statsig_operator", Subsystem: "statsig", Name: "gate_batch_size",
		Help:    "Gate names per check_gate call sent by the batcher.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 75, 100},
	})

	registerOnce sync.Once
)

// registerMetrics adds the metrics to controller-runtime's registry once per process, whatever the
// number of pools built (tests build many).
func registerMetrics() {
	registerOnce.Do(func() {
		ctrlmetrics.Registry.MustRegister(requestsTotal, requestDuration, retriesTotal, rateLimiterWait,
			gateBatchSize)
	})
}

func codeClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return codeClassError
}
