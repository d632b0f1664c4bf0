package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// recorder is a Sink that remembers what it was given.
type recorder struct {
	mu     sync.Mutex
	events []Event
	calls  int
}

func (r *recorder) Accept(_ context.Context, _ types.NamespacedName, events []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.events = append(r.events, events...)
}

func (r *recorder) count() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, len(r.events)
}

var receiverKey = types.NamespacedName{Namespace: "shop", Name: "statsig-prod"}

type fixture struct {
	srv   *Server
	sink  *recorder
	clk   *clocktesting.FakeClock
	url   string
	path  string
	table *Table
}

func newFixture(t *testing.T, secrets ...string) *fixture {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Now())
	table := &Table{Rate: rate.Inf}
	var bs [][]byte
	for _, s := range secrets {
		bs = append(bs, []byte(s))
	}
	path := Path(bs[0], receiverKey.Namespace, receiverKey.Name)
	table.Set(path, Receiver{Key: receiverKey, Secrets: bs})
	f := &fixture{sink: &recorder{}, clk: clk, path: path, table: table}
	f.srv = &Server{Table: table, Sink: f.sink, Clock: clk}
	hs := httptest.NewServer(f.srv)
	t.Cleanup(hs.Close)
	f.url = hs.URL + path
	return f
}

func (f *fixture) send(t *testing.T, w statsigtest.Webhook) (int, string) {
	t.Helper()
	if w.URL == "" {
		w.URL = f.url
	}
	if w.At.IsZero() {
		w.At = f.clk.Now()
	}
	code, body, err := statsigtest.SendWebhook(context.Background(), nil, w)
	if err != nil {
		t.Fatal(err)
	}
	return code, string(body)
}

func TestPathIsDerivedFromSecretNamespaceAndName(t *testing.T) {
	g := NewWithT(t)
	p := Path([]byte("webhook-a"), "shop", "prod")
	g.Expect(p).To(MatchRegexp(`^/hook/[0-9a-f]{64}$`))
	g.Expect(Path([]byte("webhook-a"), "shop", "prod")).To(Equal(p))
	g.Expect(Path([]byte("webhook-b"), "shop", "prod")).NotTo(Equal(p))
	g.Expect(Path([]byte("webhook-a"), "shop2", "prod")).NotTo(Equal(p))
	g.Expect(Path([]byte("webhook-a"), "shop", "prod2")).NotTo(Equal(p))
	g.Expect(p).NotTo(ContainSubstring("webhook-a"))
}

func TestWorkedSignatureExample(t *testing.T) {
	// The worked example of ../shared/statsig/change-notifications.md.
	g := NewWithT(t)
	body := []byte(`{"data":[{"user":{"name":"Ada Example","email":"ada@example.com"},"timestamp":1767225599871,"eventName":"statsig::config_change","metadata":{"type":"Gate","name":"checkout_v2","description":"- Updated Rule beta rollout from 10.00% to 50.00%","action":"updated"}}]}`)
	g.Expect(body).To(HaveLen(264))
	sig := "v0=96404403848a3567ef49d43d0723c4d445d9ce5b7f8059563c13eb736800a861"
	secret := [][]byte{[]byte("webhook-k3yF0rD0csOnly9f2c41b7e5a8d6")}
	g.Expect(verify(secret, "1767225600123", body, sig)).To(BeTrue())
	g.Expect(statsigtest.SignWebhook(string(secret[0]), "1767225600123", body)).To(Equal(sig))
	g.Expect(verify(secret, "1767225600124", body, sig)).To(BeFalse())
	g.Expect(verify([][]byte{[]byte("other"), secret[0]}, "1767225600123", body, sig)).To(BeTrue())
	events, err := parseBatch(body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(events).To(Equal([]Event{{Type: "Gate", Name: "checkout_v2", Action: "updated", Time: time.UnixMilli(1767225599871).UTC()}}))
}

func TestAcceptsSignedChangeWithEitherSecret(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, "webhook-old", "webhook-new")
	for _, secret := range []string{"webhook-old", "webhook-new"} {
		code, _ := f.send(t, statsigtest.Webhook{Secret: secret, Body: statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "g_" + secret[8:]})})
		g.Expect(code).To(Equal(http.StatusOK))
	}
	calls, events := f.sink.count()
	g.Expect(calls).To(Equal(2))
	g.Expect(events).To(Equal(2))
	accepted, rejected := f.table.Counts(receiverKey)
	g.Expect(accepted).To(BeEquivalentTo(2))
	g.Expect(rejected).To(BeZero())
}

func TestRejections(t *testing.T) {
	change := statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "checkout_v2"})
	cases := []struct {
		name string
		req  func(f *fixture) statsigtest.Webhook
		want int
	}{
		{"unsigned", func(*fixture) statsigtest.Webhook { return statsigtest.Webhook{Body: change} }, http.StatusUnauthorized},
		{"forged", func(*fixture) statsigtest.Webhook { return statsigtest.Webhook{Secret: "webhook-guess", Body: change} }, http.StatusUnauthorized},
		{"stale", func(f *fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: change, At: f.clk.Now().Add(-5*time.Minute - time.Second)}
		}, http.StatusUnauthorized},
		{"future", func(f *fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: change, At: f.clk.Now().Add(6 * time.Minute)}
		}, http.StatusUnauthorized},
		{"malformed", func(*fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: []byte(`{"data":"nope"}`)}
		}, http.StatusBadRequest},
		{"not json", func(*fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: []byte(`hello`)}
		}, http.StatusBadRequest},
		{"change without metadata", func(*fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: []byte(`{"data":[{"eventName":"statsig::config_change"}]}`)}
		}, http.StatusBadRequest},
		{"oversized", func(*fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: append(append([]byte(`{"data":[],"pad":"`), bytes.Repeat([]byte("x"), MaxBodyBytes)...), '"', '}')}
		}, http.StatusRequestEntityTooLarge},
		{"wrong method", func(*fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: change, Method: http.MethodGet}
		}, http.StatusMethodNotAllowed},
		{"put", func(*fixture) statsigtest.Webhook {
			return statsigtest.Webhook{Secret: "webhook-s", Body: change, Method: http.MethodPut}
		}, http.StatusMethodNotAllowed},
		{"unknown path", func(f *fixture) statsigtest.Webhook {
			return statsigtest.Webhook{URL: strings.TrimSuffix(f.url, f.path) + "/hook/" + strings.Repeat("0", 64), Secret: "webhook-s", Body: change}
		}, http.StatusNotFound},
		{"handshake on an unknown path", func(f *fixture) statsigtest.Webhook {
			return statsigtest.Webhook{URL: strings.TrimSuffix(f.url, f.path) + "/", Body: []byte(`{"data":{"event":"url_verification","verification_code":"abc"}}`)}
		}, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, "webhook-s")
			code, body := f.send(t, tc.req(f))
			g.Expect(code).To(Equal(tc.want))
			g.Expect(strings.TrimSpace(body)).To(Equal(http.StatusText(tc.want)), "answers carry no detail")
			calls, _ := f.sink.count()
			g.Expect(calls).To(BeZero())
			accepted, rejected := f.table.Counts(receiverKey)
			g.Expect(accepted).To(BeZero())
			if tc.want != http.StatusNotFound {
				g.Expect(rejected).To(BeEquivalentTo(1))
			}
		})
	}
}

func TestReplayDoesNothing(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, "webhook-s")
	w := statsigtest.Webhook{Secret: "webhook-s", At: f.clk.Now(), Body: statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "a_gate"})}
	code, _ := f.send(t, w)
	g.Expect(code).To(Equal(http.StatusOK))
	f.clk.Step(time.Minute)
	code, _ = f.send(t, w)
	g.Expect(code).To(Equal(http.StatusOK))
	calls, _ := f.sink.count()
	g.Expect(calls).To(Equal(1), "the replay reached the sink")
	// Past the window, the same request is stale.
	f.clk.Step(5 * time.Minute)
	code, _ = f.send(t, w)
	g.Expect(code).To(Equal(http.StatusUnauthorized))
}

func TestURLVerificationEcho(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, "webhook-s")
	code, body := f.send(t, statsigtest.Webhook{Body: []byte(`{"data":{"event":"url_verification","verification_code":"c0de-42"}}`)})
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(body).To(MatchJSON(`{"verification_code":"c0de-42"}`))
	calls, _ := f.sink.count()
	g.Expect(calls).To(BeZero())
}

func TestBothEnvelopesAndOtherEventsSkipped(t *testing.T) {
	g := NewWithT(t)
	events, err := parseBatch([]byte(`[{"eventName":"statsig::gate_exposure","metadata":{"gate":"x"}},
		{"eventName":"statsig::config_change","timestamp":"1767225599871","metadata":{"type":"DynamicConfig","name":"checkout_settings"}}]`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(events).To(Equal([]Event{{Type: "DynamicConfig", Name: "checkout_settings", Time: time.UnixMilli(1767225599871).UTC()}}))
	events, err = parseBatch([]byte(`{"data":[]}`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(events).To(BeEmpty())
}

func TestBudgetAnswers429BeforeReadingTheBody(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, "webhook-s")
	f.table.Delete(receiverKey)
	f.table.Rate, f.table.Burst = rate.Limit(0.001), 3
	f.table.Set(f.path, Receiver{Key: receiverKey, Secrets: [][]byte{[]byte("webhook-s")}})
	codes := map[int]int{}
	for range 10 {
		code, _ := f.send(t, statsigtest.Webhook{Secret: "webhook-forged", Body: []byte(`{"data":[]}`)})
		codes[code]++
	}
	g.Expect(codes).To(Equal(map[int]int{http.StatusUnauthorized: 3, http.StatusTooManyRequests: 7}))
	// A valid request over the budget is refused too: the budget is per receiver.
	code, _ := f.send(t, statsigtest.Webhook{Secret: "webhook-s", Body: []byte(`{"data":[]}`)})
	g.Expect(code).To(Equal(http.StatusTooManyRequests))
}

func TestReplayCacheIsBounded(t *testing.T) {
	g := NewWithT(t)
	c := newReplayCache(3)
	now := time.Now()
	for i, k := range []string{"a", "b", "c", "d"} {
		g.Expect(c.seen(k, now, now.Add(time.Minute))).To(BeFalse(), "entry %d", i)
	}
	g.Expect(c.len()).To(Equal(3))
	g.Expect(c.seen("d", now, now.Add(time.Minute))).To(BeTrue())
	g.Expect(c.seen("a", now, now.Add(time.Minute))).To(BeFalse(), "the oldest was dropped")
	later := now.Add(2 * time.Minute)
	g.Expect(c.seen("d", later, later.Add(time.Minute))).To(BeFalse(), "expired")
	g.Expect(c.len()).To(Equal(1))
}

func TestStartServesUntilCancelled(t *testing.T) {
	g := NewWithT(t)
	table := &Table{}
	table.Set("/hook/x", Receiver{Key: receiverKey, Secrets: [][]byte{[]byte("s")}})
	srv := &Server{Addr: "127.0.0.1:0", Table: table}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	addr, err := srv.ListenAddr(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := http.Get("http://" + addr.String() + "/hook/x")
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusMethodNotAllowed))
	cancel()
	g.Eventually(done, 10*time.Second).Should(Receive(BeNil()))
}

// TestForgedRequestCPU measures the CPU the operator process spends on 1,000 forged requests sent
// over loopback to a real listener, with and without the budget (with the budget most are refused
// before the body is read). It reports the numbers; the bound it checks is loose (it guards against
// an order-of-magnitude regression, not a machine's speed).
func TestForgedRequestCPU(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit rate.Limit
		burst int
	}{{"unlimited budget (every request verified)", rate.Inf, 0}, {"default budget", DefaultRate, DefaultBurst}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			table := &Table{Rate: tc.limit, Burst: tc.burst}
			secrets := [][]byte{[]byte("webhook-real-secret-1"), []byte("webhook-real-secret-2")}
			path := Path(secrets[0], "shop", "prod")
			table.Set(path, Receiver{Key: receiverKey, Secrets: secrets})
			srv := &Server{Addr: "127.0.0.1:0", Table: table, Sink: &recorder{}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = srv.Start(ctx) }()
			addr, err := srv.ListenAddr(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			url := "http://" + addr.String() + path
			body := statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "checkout_v2"})
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			codes := map[int]int{}
			before := cpuTime(t)
			start := time.Now()
			for range 1000 {
				code, _, err := statsigtest.SendWebhook(ctx, hc, statsigtest.Webhook{URL: url, Secret: "webhook-forged", Body: body})
				g.Expect(err).NotTo(HaveOccurred())
				codes[code]++
			}
			elapsed := time.Since(start)
			cpu := cpuTime(t) - before
			t.Logf("1000 forged requests: codes %v; process CPU (client and server together) %v; wall %v", codes, cpu, elapsed)
			g.Expect(codes[http.StatusOK]).To(BeZero())
			g.Expect(cpu).To(BeNumerically("<", 20*time.Second))
		})
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkForgedRequest is the server's own cost of one forged request (no network).
func BenchmarkForgedRequest(b *testing.B) {
	table := &Table{Rate: rate.Inf}
	secrets := [][]byte{[]byte("webhook-real-secret-1"), []byte("webhook-real-secret-2")}
	path := Path(secrets[0], "shop", "prod")
	table.Set(path, Receiver{Key: receiverKey, Secrets: secrets})
	srv := &Server{Table: table, Sink: &recorder{}}
	body := statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "Gate", Name: "checkout_v2"})
	ts := "1767225600123"
	sig := statsigtest.SignWebhook("webhook-forged", ts, body)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, sig)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func TestCountsSurviveAReplacedEntry(t *testing.T) {
	g := NewWithT(t)
	table := &Table{}
	r := Receiver{Key: receiverKey, Secrets: [][]byte{[]byte("s")}}
	table.Set("/hook/a", r)
	inFlight := table.lookup("/hook/a")
	// A reconcile replaces the entry while a request still holds the old one.
	table.Set("/hook/a", r)
	inFlight.accepted.Add(1)
	inFlight.rejected.Add(2)
	accepted, rejected := table.Counts(receiverKey)
	g.Expect(accepted).To(BeEquivalentTo(1))
	g.Expect(rejected).To(BeEquivalentTo(2))
	table.Set("/hook/b", r)
	g.Expect(table.lookup("/hook/a")).To(BeNil())
	g.Expect(table.lookup("/hook/b")).NotTo(BeNil())
	table.Delete(receiverKey)
	g.Expect(table.lookup("/hook/b")).To(BeNil())
}
