package statsig_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// logSink collects every log line, at every verbosity, so that tests can search them for keys.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// harness is a fake, a client pool on it with an instant clock, and the captured logs.
type harness struct {
	srv   *statsigtest.Server
	pool  *statsig.Clients
	clock *statsigtest.Clock
	logs  *logSink
}

func (h *harness) server() *statsig.Client  { return h.pool.ForKey(h.srv.ServerKey) }
func (h *harness) console() *statsig.Client { return h.pool.ForKey(h.srv.ConsoleKey) }

func newHarness(t *testing.T, mutate ...func(*statsig.Options)) *harness {
	t.Helper()
	h := &harness{srv: statsigtest.New(t), clock: statsigtest.NewClock(time.Time{}), logs: &logSink{}}
	o := h.srv.Options()
	o.Clock = h.clock
	o.Logger = h.logs.logger()
	o.MaxAttempts = 3
	o.RequestTimeout = 2 * time.Second
	o.BatchWindow = time.Millisecond
	// The largest wait: backoffs become their ceiling, which tests can then check exactly.
	o.Jitter = func(d time.Duration) time.Duration { return d }
	for _, m := range mutate {
		m(&o)
	}
	pool, err := statsig.NewClients(o)
	if err != nil {
		t.Fatalf("NewClients: %v", err)
	}
	h.pool = pool
	return h
}

var testUser = statsig.User{UserID: "shop-prod", StatsigEnvironment: &statsig.Environment{Tier: "production"},
	Custom: map[string]any{"region": "eu-west-1"}}
