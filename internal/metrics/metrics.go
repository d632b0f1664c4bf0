// Package metrics holds the operator's own Prometheus metrics, registered on controller-runtime's
// registry so that they are served with its metrics.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// Syncs counts sync attempts by kind and result ("success" or the failure's reason).
	Syncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_syncs_total",
		Help: "Sync attempts by kind and result (success, or the Ready reason of the failure).",
	}, []string{"kind", "result"})

	// ConfigMapWrites counts ConfigMap creates and updates by kind.
	ConfigMapWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_configmap_writes_total",
		Help: "ConfigMaps created or updated, by owner kind and operation.",
	}, []string{"kind", "operation"})

	// LastSuccess reports the seconds since each resource's last successful sync.
	LastSuccess = NewSinceCollector("statsig_operator_seconds_since_last_sync",
		"Seconds since the resource's last successful sync.", clock.RealClock{})
)

var (
	once       sync.Once
	collectors = []prometheus.Collector{Syncs, ConfigMapWrites, LastSuccess}
)

// Add adds collectors that Register will register; call it from a package-level var or init so
// that each concern keeps its metrics in its own file.
func Add(c ...prometheus.Collector) bool {
	collectors = append(collectors, c...)
	return true
}

// Register registers every metric once on controller-runtime's registry.
func Register() {
	once.Do(func() {
		ctrlmetrics.Registry.MustRegister(collectors...)
	})
}

// Object identifies a resource in metric labels.
type Object struct{ Kind, Namespace, Name string }

// SinceCollector exports, at scrape time, the seconds since a recorded time per object.
type SinceCollector struct {
	desc  *prometheus.Desc
	clock clock.PassiveClock
	mu    sync.Mutex
	times map[Object]time.Time
}

// NewSinceCollector returns an empty collector.
func NewSinceCollector(name, help string, c clock.PassiveClock) *SinceCollector {
	return &SinceCollector{
		desc:  prometheus.NewDesc(name, help, []string{"kind", "namespace", "name"}, nil),
		clock: c, times: map[Object]time.Time{},
	}
}

// Set records t for o.
func (s *SinceCollector) Set(o Object, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times[o] = t
}

// SetIfAbsent records t for o unless a time is recorded for o already.
func (s *SinceCollector) SetIfAbsent(o Object, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.times[o]; !ok {
		s.times[o] = t
	}
}

// Delete forgets o.
func (s *SinceCollector) Delete(o Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.times, o)
}

// Describe implements prometheus.Collector.
func (s *SinceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

// Collect implements prometheus.Collector.
func (s *SinceCollector) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for o, t := range s.times {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, now.Sub(t).Seconds(), o.Kind, o.Namespace, o.Name)
	}
}

// Forget removes every series of one resource.
func Forget(o Object) {
	LastSuccess.Delete(o)
}
