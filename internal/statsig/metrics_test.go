package statsig_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// metric reads a counter's value or a histogram's sample count from controller-runtime's registry.
func metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metrics
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// TestMetrics is not parallel: it reads process-wide counters before and after.
func TestMetrics(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	const p = "statsig_operator_statsig_"
	ok := map[string]string{"endpoint": statsig.EndpointGetConfig, "code_class": "2xx"}
	fail := map[string]string{"endpoint": statsig.EndpointGetConfig, "code_class": "5xx"}
	held := map[string]string{"endpoint": statsig.EndpointGetConfig, "code_class": "held"}
	cfg := map[string]string{"endpoint": statsig.EndpointGetConfig}
	before := map[string]float64{
		"ok": metric(t, p+"requests_total", ok), "fail": metric(t, p+"requests_total", fail),
		"held": metric(t, p+"requests_total", held), "retries": metric(t, p+"retries_total", cfg),
		"duration": metric(t, p+"request_duration_seconds", cfg), "wait": metric(t, p+"rate_limiter_wait_seconds", nil),
		"batch": metric(t, p+"gate_batch_size", nil),
	}

	h.srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Status: 500, Times: 1})
	_, err := h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = h.server().CheckGates(ctx, testUser, []string{"a_gate", "b_gate"}, statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	h.srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Status: 429, RetryAfter: "600", Times: 1})
	_, _ = h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
	_, _ = h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})

	g.Expect(metric(t, p+"requests_total", ok) - before["ok"]).To(Equal(1.0))
	g.Expect(metric(t, p+"requests_total", fail) - before["fail"]).To(Equal(1.0))
	g.Expect(metric(t, p+"requests_total", held) - before["held"]).To(Equal(1.0))
	g.Expect(metric(t, p+"retries_total", cfg) - before["retries"]).To(Equal(1.0))
	g.Expect(metric(t, p+"request_duration_seconds", cfg) - before["duration"]).To(Equal(3.0))
	g.Expect(metric(t, p+"rate_limiter_wait_seconds", nil) - before["wait"]).To(Equal(4.0))
	g.Expect(metric(t, p+"gate_batch_size", nil) - before["batch"]).To(Equal(1.0))

	// A second pool registers nothing twice.
	_, err = statsig.NewClients(h.srv.Options())
	g.Expect(err).NotTo(HaveOccurred())
}
