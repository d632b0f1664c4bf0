package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/statsig-operator/statsig-operator/internal/metrics"
)

// MaxBodyBytes is the largest request body read; a longer one answers 413.
const MaxBodyBytes = 1 << 20

// Defaults for the per-receiver request budget: Statsig sends a request per batch of changes, so a
// few per second with a burst is far above real traffic while keeping a flood cheap.
const (
	DefaultRate  rate.Limit = 5
	DefaultBurst int        = 20
)

// Sink receives the events of each verified request.
type Sink interface {
	Accept(ctx context.Context, receiver types.NamespacedName, events []Event)
}

// Receiver is what the listener needs of one WebhookReceiver.
type Receiver struct {
	// Key is the WebhookReceiver.
	Key types.NamespacedName
	// Secrets are the signing secrets; a request signed with any of them is accepted.
	Secrets [][]byte
}

// Table maps receiver paths to receivers. Reconciles keep it current; the listener reads it.
type Table struct {
	// Rate and Burst are each receiver's request budget; zero uses DefaultRate and DefaultBurst.
	Rate  rate.Limit
	Burst int

	mu     sync.RWMutex
	byPath map[string]*entry
	byKey  map[types.NamespacedName]*entry
}

type entry struct {
	Receiver
	path string
	*stats
}

// stats outlive an entry: a request may still hold the entry a reconcile just replaced.
type stats struct {
	limiter *rate.Limiter
	// accepted and rejected count requests to the receiver's path.
	accepted, rejected atomic.Int64
}

// Set serves r at path, replacing any earlier path of the same receiver. Its counters and budget
// survive a change of path or secrets.
func (t *Table) Set(path string, r Receiver) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byPath == nil {
		t.byPath, t.byKey = map[string]*entry{}, map[types.NamespacedName]*entry{}
	}
	old := t.byKey[r.Key]
	e := &entry{Receiver: r, path: path}
	if old != nil {
		delete(t.byPath, old.path)
		e.stats = old.stats
	} else {
		e.stats = &stats{}
		rt, burst := t.Rate, t.Burst
		if rt == 0 {
			rt = DefaultRate
		}
		if burst == 0 {
			burst = DefaultBurst
		}
		e.limiter = rate.NewLimiter(rt, burst)
	}
	t.byPath[path] = e
	t.byKey[r.Key] = e
}

// Delete stops serving a receiver.
func (t *Table) Delete(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byKey[key]; e != nil {
		delete(t.byPath, e.path)
		delete(t.byKey, key)
	}
}

// Counts returns the accepted and rejected requests of a receiver since it was first served.
func (t *Table) Counts(key types.NamespacedName) (accepted, rejected int64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e := t.byKey[key]; e != nil {
		return e.accepted.Load(), e.rejected.Load()
	}
	return 0, 0
}

func (t *Table) lookup(path string) *entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byPath[path]
}

// Server is the listener for every receiver.
type Server struct {
	// Addr is the listen address (--webhook-bind-address).
	Addr  string
	Table *Table
	Sink  Sink
	Clock clock.PassiveClock
	Log   logr.Logger
	// ReplayCacheSize bounds the remembered signatures; zero means 100000.
	ReplayCacheSize int

	once   sync.Once
	replay *replayCache
	ready  chan struct{}
	addr   net.Addr
}

func (s *Server) init() {
	s.once.Do(func() {
		size := s.ReplayCacheSize
		if size == 0 {
			size = 100000
		}
		s.replay = newReplayCache(size)
		s.ready = make(chan struct{})
		if s.Clock == nil {
			s.Clock = clock.RealClock{}
		}
	})
}

// result labels.
const (
	resultAccepted     = "accepted"
	resultVerification = "verification"
	resultReplayed     = "replayed"
	resultUnauthorized = "unauthorized"
	resultBadRequest   = "bad_request"
	resultTooLarge     = "too_large"
	resultNotFound     = "not_found"
	resultMethod       = "method_not_allowed"
	resultRateLimited  = "rate_limited"
)

// ServeHTTP answers one request. The checks run cheapest first, so that a forged request costs a
// map lookup, a token from the budget, a bounded read and one HMAC per secret; only a verified one
// reaches the Sink. Answers carry the status text only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	e := s.Table.lookup(r.URL.Path)
	if e == nil {
		s.answer(w, nil, http.StatusNotFound, resultNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.answer(w, e, http.StatusMethodNotAllowed, resultMethod)
		return
	}
	if !e.limiter.Allow() {
		s.answer(w, e, http.StatusTooManyRequests, resultRateLimited)
		return
	}
	if r.ContentLength > MaxBodyBytes {
		s.answer(w, e, http.StatusRequestEntityTooLarge, resultTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			s.answer(w, e, http.StatusRequestEntityTooLarge, resultTooLarge)
			return
		}
		s.answer(w, e, http.StatusBadRequest, resultBadRequest)
		return
	}
	// The handshake is unsigned: it only echoes what the caller sent, on a receiver's path.
	if code := verificationCode(body); code != "" {
		metrics.WebhookRequests.WithLabelValues(resultVerification).Inc()
		out, _ := json.Marshal(map[string]string{"verification_code": code})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	}
	ts, sig := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature)
	now := s.Clock.Now()
	if ts == "" || sig == "" || !fresh(ts, now) || !verify(e.Secrets, ts, body, sig) {
		s.answer(w, e, http.StatusUnauthorized, resultUnauthorized)
		return
	}
	events, err := parseBatch(body)
	if err != nil {
		s.answer(w, e, http.StatusBadRequest, resultBadRequest)
		return
	}
	// A replay of a verified request is answered like the original (Statsig may resend what it
	// thinks was lost) but does nothing.
	if s.replay.seen(e.path+" "+sig, now, now.Add(2*MaxSkew)) {
		metrics.WebhookRequests.WithLabelValues(resultReplayed).Inc()
		w.WriteHeader(http.StatusOK)
		return
	}
	e.accepted.Add(1)
	metrics.WebhookRequests.WithLabelValues(resultAccepted).Inc()
	s.Log.V(1).Info("Verified webhook", "receiver", e.Key, "events", len(events))
	if len(events) > 0 && s.Sink != nil {
		s.Sink.Accept(r.Context(), e.Key, events)
	}
	w.WriteHeader(http.StatusOK)
}

// answer writes a refusal: the status text and nothing that helps an attacker.
func (s *Server) answer(w http.ResponseWriter, e *entry, status int, result string) {
	if e != nil {
		e.rejected.Add(1)
	}
	metrics.WebhookRequests.WithLabelValues(result).Inc()
	http.Error(w, http.StatusText(status), status)
}

// Start listens on Addr and serves until ctx ends (a manager.Runnable).
func (s *Server) Start(ctx context.Context) error {
	s.init()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("webhook listener on %s: %w", s.Addr, err)
	}
	s.addr = ln.Addr()
	close(s.ready)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.Log.Info("Serving WebhookReceiver paths", "address", s.addr.String())
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	case err := <-errc:
		return err
	}
}

// ListenAddr waits until Start is listening and returns the address (tests listen on port 0).
func (s *Server) ListenAddr(ctx context.Context) (net.Addr, error) {
	s.init()
	select {
	case <-s.ready:
		return s.addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// NeedLeaderElection: only the leader runs the controllers that fill the table and act on events.
func (s *Server) NeedLeaderElection() bool { return true }
