package statsig_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// endpointCall makes one successful-by-default call to an endpoint, preparing the fake's state.
type endpointCall struct {
	endpoint string
	call     func(ctx context.Context, h *harness) error
}

var endpointCalls = []endpointCall{
	{statsig.EndpointCheckGate, func(ctx context.Context, h *harness) error {
		h.srv.SetGate("a_gate", true)
		_, err := h.server().CheckGates(ctx, testUser, []string{"a_gate", "b_gate"}, statsig.ReadOptions{})
		return err
	}},
	{statsig.EndpointGetConfig, func(ctx context.Context, h *harness) error {
		h.srv.SetConfig("a_config", map[string]any{"k": "v"})
		_, err := h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
		return err
	}},
	{statsig.EndpointGetLayer, func(ctx context.Context, h *harness) error {
		h.srv.SetLayer("a_layer", map[string]any{"k": "v"}, "")
		_, err := h.server().GetLayer(ctx, testUser, "a_layer", statsig.ReadOptions{})
		return err
	}},
	{statsig.EndpointLogEvent, func(ctx context.Context, h *harness) error {
		return h.server().LogEvents(ctx, []statsig.Event{{EventName: "e", User: testUser}})
	}},
	{statsig.EndpointLogCustomExposure, func(ctx context.Context, h *harness) error {
		return h.server().LogCustomExposures(ctx, []statsig.CustomExposure{{User: testUser, ExperimentName: "exp", Group: "Control"}})
	}},
	{statsig.EndpointGetDailyReport, func(ctx context.Context, h *harness) error {
		h.srv.SetLegacyReport("pulse_daily", "2026-11-01", statsigtest.BytesReport([]byte("x"), false))
		_, err := h.server().GetLegacyDailyReport(ctx, "pulse_daily")
		return err
	}},
	{statsig.EndpointConsoleReports, func(ctx context.Context, h *harness) error {
		h.srv.SetReport("pulse_daily", "2026-11-01", statsigtest.BytesReport([]byte("x"), false))
		_, err := h.console().GetReport(ctx, "pulse_daily", "2026-11-01")
		return err
	}},
	{statsig.EndpointListGates, listCall(statsig.EntityGates)},
	{statsig.EndpointListDynamicConfigs, listCall(statsig.EntityDynamicConfigs)},
	{statsig.EndpointListExperiments, listCall(statsig.EntityExperiments)},
	{statsig.EndpointListLayers, listCall(statsig.EntityLayers)},
}

func listCall(kind statsig.EntityKind) func(context.Context, *harness) error {
	return func(ctx context.Context, h *harness) error {
		h.srv.SetEntities(kind, []statsig.Entity{{ID: "one"}})
		_, err := h.console().ListEntities(ctx, kind)
		return err
	}
}

type failureCase struct {
	name     string
	fault    func(h *harness) statsigtest.Fault
	options  func(*statsig.Options)
	attempts int
	class    statsig.Class
	// retryAfter is the RetryAfter the error must carry (within a second).
	retryAfter time.Duration
}

func fault(f statsigtest.Fault) func(*harness) statsigtest.Fault {
	return func(*harness) statsigtest.Fault { return f }
}

func shortTimeout(o *statsig.Options) { o.RequestTimeout = 100 * time.Millisecond }

// failureTable is the failure table. Every client is built with MaxAttempts 3.
var failureTable = []failureCase{
	{name: "400", fault: fault(statsigtest.Fault{Status: 400}), attempts: 1, class: statsig.ClassBadRequest},
	{name: "401 quoting the key", fault: fault(statsigtest.Fault{Status: 401}), attempts: 1, class: statsig.ClassUnauthorized},
	{name: "403", fault: fault(statsigtest.Fault{Status: 403}), attempts: 1, class: statsig.ClassUnauthorized},
	{name: "404", fault: fault(statsigtest.Fault{Status: 404}), attempts: 1, class: statsig.ClassNotFound},
	{name: "408", fault: fault(statsigtest.Fault{Status: 408}), attempts: 3, class: statsig.ClassUnavailable},
	{name: "429 without Retry-After", fault: fault(statsigtest.Fault{Status: 429}), attempts: 3, class: statsig.ClassRateLimited},
	{name: "429 Retry-After seconds, short: waited inline", fault: fault(statsigtest.Fault{Status: 429, RetryAfter: "2"}),
		attempts: 3, class: statsig.ClassRateLimited, retryAfter: 2 * time.Second},
	{name: "429 Retry-After seconds, long: returned at once", fault: fault(statsigtest.Fault{Status: 429, RetryAfter: "120"}),
		attempts: 1, class: statsig.ClassRateLimited, retryAfter: 120 * time.Second},
	{name: "429 Retry-After HTTP date", fault: func(h *harness) statsigtest.Fault {
		return statsigtest.Fault{Status: 429, RetryAfter: h.clock.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}
	}, attempts: 1, class: statsig.ClassRateLimited, retryAfter: 90 * time.Second},
	{name: "429 Retry-After clamped", fault: fault(statsigtest.Fault{Status: 429, RetryAfter: "86400"}),
		attempts: 1, class: statsig.ClassRateLimited, retryAfter: 15 * time.Minute},
	{name: "500", fault: fault(statsigtest.Fault{Status: 500}), attempts: 3, class: statsig.ClassUnavailable},
	{name: "502", fault: fault(statsigtest.Fault{Status: 502}), attempts: 3, class: statsig.ClassUnavailable},
	{name: "503", fault: fault(statsigtest.Fault{Status: 503, RetryAfter: "1"}), attempts: 3, class: statsig.ClassUnavailable},
	{name: "timeout", fault: fault(statsigtest.Fault{Latency: time.Minute}), options: shortTimeout, attempts: 3, class: statsig.ClassUnavailable},
	{name: "slow body", fault: fault(statsigtest.Fault{SlowBody: time.Minute}), options: shortTimeout, attempts: 3, class: statsig.ClassUnavailable},
	{name: "reset mid-body", fault: fault(statsigtest.Fault{ResetMidBody: true}), attempts: 3, class: statsig.ClassUnavailable},
	{name: "truncated JSON", fault: fault(statsigtest.Fault{Truncate: true}), attempts: 1, class: statsig.ClassInvalidResponse},
	{name: "malformed body", fault: fault(statsigtest.Fault{Malformed: true}), attempts: 1, class: statsig.ClassInvalidResponse},
	{name: "wrong JSON types", fault: fault(statsigtest.Fault{WrongTypes: true}), attempts: 1, class: statsig.ClassInvalidResponse},
	{name: "oversized body", fault: fault(statsigtest.Fault{Oversize: 2 << 20}),
		options: func(o *statsig.Options) { o.MaxResponseBytes = 1 << 20 }, attempts: 1, class: statsig.ClassInvalidResponse},
	{name: "unexpected redirect", fault: func(h *harness) statsigtest.Fault {
		return statsigtest.Fault{Status: 307, Header: http.Header{"Location": {h.srv.DownloadURL() + "/elsewhere"}}}
	}, attempts: 1, class: statsig.ClassInvalidResponse},
}

// TestFailureTable runs every failure against every endpoint and checks the attempts the fake saw,
// the class, the Retry-After, and that no key reached an error, a log line or a metric label.
func TestFailureTable(t *testing.T) {
	var keys []string
	t.Run("group", func(t *testing.T) {
		for _, ep := range endpointCalls {
			for _, fc := range failureTable {
				h := newHarness(t, func(o *statsig.Options) {
					if fc.options != nil {
						fc.options(o)
					}
				})
				keys = append(keys, h.srv.ServerKey, h.srv.ConsoleKey)
				t.Run(ep.endpoint+"/"+fc.name, func(t *testing.T) {
					t.Parallel()
					g := NewWithT(t)
					h.srv.Fault(ep.endpoint, fc.fault(h))
					err := ep.call(context.Background(), h)

					g.Expect(err).To(HaveOccurred())
					g.Expect(statsig.Classify(err)).To(Equal(fc.class), "error: %v", err)
					g.Expect(statsig.Classify(fmt.Errorf("reconcile: %w", err))).To(Equal(fc.class), "through wrapping")
					g.Expect(h.srv.Count(ep.endpoint)).To(Equal(fc.attempts), "attempts seen by the fake")
					g.Expect(statsig.RetryAfter(err)).To(BeNumerically("~", fc.retryAfter, time.Second))
					g.Expect(h.srv.Count(statsigtest.EndpointDownload)).To(BeZero(), "no request followed a redirect")

					for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), h.logs.String()} {
						g.Expect(text).NotTo(ContainSubstring(h.srv.ServerKey))
						g.Expect(text).NotTo(ContainSubstring(h.srv.ConsoleKey))
						g.Expect(text).NotTo(ContainSubstring(strings.TrimPrefix(h.srv.ServerKey, "secret-")))
						g.Expect(text).NotTo(ContainSubstring(strings.TrimPrefix(h.srv.ConsoleKey, "console-")))
					}
					if fc.attempts > 1 {
						g.Expect(h.logs.String()).To(ContainSubstring("Retrying Statsig request"))
					}
				})
			}
		}
	})

	g := NewWithT(t)
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	seen := 0
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "statsig_operator_statsig_") {
			continue
		}
		seen++
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, k := range keys {
					g.Expect(l.GetValue()).NotTo(ContainSubstring(k), "metric %s label %s", f.GetName(), l.GetName())
				}
			}
		}
	}
	g.Expect(seen).To(Equal(5))
}

func TestLongRetryAfterHoldsTheKey(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	h.srv.SetGate("a_gate", true)
	h.srv.SetEntities(statsig.EntityGates, []statsig.Entity{{ID: "a_gate"}})
	h.srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Status: 429, RetryAfter: "120", Times: 1})

	_, err := h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
	g.Expect(statsig.RetryAfter(err)).To(Equal(120 * time.Second))

	// Every endpoint of the held key fails fast, telling how long is left; nothing is sent.
	h.clock.Advance(20 * time.Second)
	h.srv.ResetCounts()
	_, err = h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassRateLimited))
	g.Expect(statsig.RetryAfter(err)).To(Equal(100 * time.Second))
	_, err = h.server().CheckGate(ctx, testUser, "a_gate", statsig.ReadOptions{})
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassRateLimited))
	g.Expect(statsig.RetryAfter(err)).To(BeNumerically("~", 100*time.Second, time.Second))
	g.Expect(h.server().LogEvents(ctx, []statsig.Event{{EventName: "e", User: testUser}})).NotTo(Succeed())
	g.Expect(h.srv.Count(statsigtest.AllEndpoints)).To(BeZero())

	// Another key is not held.
	_, err = h.console().ListEntities(ctx, statsig.EntityGates)
	g.Expect(err).NotTo(HaveOccurred())

	// Once Retry-After has passed, requests flow again.
	h.clock.Advance(101 * time.Second)
	r, err := h.server().CheckGate(ctx, testUser, "a_gate", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Value).To(BeTrue())
}

func TestShortRetryAfterIsWaitedInline(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.srv.SetConfig("a_config", map[string]any{"k": 1})
	h.srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Status: 429, RetryAfter: "3", Times: 1})
	r, err := h.server().GetConfig(context.Background(), testUser, "a_config", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(r.Value)).To(Equal(`{"k":1}`))
	g.Expect(h.srv.Count(statsig.EndpointGetConfig)).To(Equal(2))
	g.Expect(h.clock.Sleeps()).To(Equal([]time.Duration{3 * time.Second}))
}

func TestBackoffIsExponentialWithFullJitter(t *testing.T) {
	for name, tc := range map[string]struct {
		base, max time.Duration
		attempts  int
		ceilings  []time.Duration
	}{
		"doubling":          {base: 100 * time.Millisecond, max: time.Minute, attempts: 5, ceilings: []time.Duration{100e6, 200e6, 400e6, 800e6}},
		"capped by maximum": {base: 100 * time.Millisecond, max: 300 * time.Millisecond, attempts: 4, ceilings: []time.Duration{100e6, 200e6, 300e6}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			var asked []time.Duration
			h := newHarness(t, func(o *statsig.Options) {
				o.BaseBackoff, o.MaxBackoff, o.MaxAttempts = tc.base, tc.max, tc.attempts
				o.Jitter = func(d time.Duration) time.Duration { asked = append(asked, d); return d / 2 }
			})
			h.srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Status: 503})
			_, err := h.server().GetConfig(context.Background(), testUser, "a_config", statsig.ReadOptions{})
			g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassUnavailable))
			g.Expect(h.srv.Count(statsig.EndpointGetConfig)).To(Equal(tc.attempts))
			g.Expect(asked).To(Equal(tc.ceilings), "full jitter draws below these ceilings")
			var halves []time.Duration
			for _, c := range tc.ceilings {
				halves = append(halves, c/2)
			}
			g.Expect(h.clock.Sleeps()).To(Equal(halves), "the drawn wait is what is slept")
		})
	}
}

func TestRecoversAfterTransientFailure(t *testing.T) {
	for _, f := range []statsigtest.Fault{{Status: 502, Times: 2}, {ResetMidBody: true, Times: 1}, {Status: 429, Times: 1}} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t)
			h.srv.SetGate("a_gate", true)
			h.srv.Fault(statsig.EndpointCheckGate, f)
			r, err := h.server().CheckGate(context.Background(), testUser, "a_gate", statsig.ReadOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(r.Value).To(BeTrue())
			g.Expect(h.srv.Count(statsig.EndpointCheckGate)).To(Equal(f.Times + 1))
		})
	}
}

func TestCallerContextEndsTheCall(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Latency: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
		errc <- err
	}()
	g.Eventually(func() int { return h.srv.Count(statsig.EndpointGetConfig) }).Should(Equal(1))
	cancel()
	var err error
	g.Eventually(errc).Should(Receive(&err))
	g.Expect(err).To(MatchError(context.Canceled))
	g.Expect(h.srv.Count(statsig.EndpointGetConfig)).To(Equal(1), "no retry after the caller gave up")
}

func TestRateLimiterPacesRequests(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(o *statsig.Options) { o.QPS, o.Burst = 2, 1 })
	h.srv.SetConfig("a_config", map[string]any{})
	for range 5 {
		_, err := h.server().GetConfig(context.Background(), testUser, "a_config", statsig.ReadOptions{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	// Burst 1 at 2 QPS: the first request goes at once, each later one waits half a second.
	g.Expect(h.clock.Sleeps()).To(Equal([]time.Duration{500e6, 500e6, 500e6, 500e6}))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
	g.Expect(err).To(MatchError(context.Canceled))
}

// TestCallTimeoutBoundsRetries: a Statsig that hangs fails the call once its CallTimeout is spent,
// not after MaxAttempts full request timeouts, and the error is a retryable Unavailable that says so.
func TestCallTimeoutBoundsRetries(t *testing.T) {
	h := newHarness(t, func(o *statsig.Options) {
		o.MaxAttempts = 50
		o.RequestTimeout = 200 * time.Millisecond
		o.CallTimeout = 500 * time.Millisecond
	})
	h.srv.Fault(statsig.EndpointCheckGate, statsigtest.Fault{Latency: time.Minute})
	h.srv.SetGate("new_checkout", true)
	_, err := h.server().CheckGates(context.Background(), testUser, []string{"new_checkout"}, statsig.ReadOptions{})
	if err == nil {
		t.Fatal("a hung Statsig must fail the call")
	}
	if c := statsig.Classify(err); c != statsig.ClassUnavailable {
		t.Fatalf("class %v, want Unavailable: %v", c, err)
	}
	if !strings.Contains(err.Error(), "CallTimeout") {
		t.Fatalf("error %q does not name the call timeout", err)
	}
	// 500 ms of budget hold at most three 200 ms attempts, far from MaxAttempts.
	if n := len(h.srv.Requests(statsig.EndpointCheckGate)); n < 1 || n > 3 {
		t.Fatalf("%d attempts within the call timeout, want 1 to 3", n)
	}
}
