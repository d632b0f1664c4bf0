package trigger

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/statsig-operator/statsig-operator/internal/metrics"
)

// DefaultWindow is how long a trigger waits for more changes before its sync starts: a burst of
// events within it causes one sync per resource.
const DefaultWindow = time.Second

// Lister lists what the resources of one kind that read secret use.
type Lister func(ctx context.Context, secret types.NamespacedName) ([]Uses, error)

// Hub dispatches changes to the subscribed controllers.
type Hub struct {
	// Window coalesces triggers; zero means DefaultWindow.
	Window time.Duration
	// Clock is nil for the real clock.
	Clock clock.PassiveClock

	mu   sync.Mutex
	subs []*Subscription
}

// Subscription is one controller's end of the hub.
type Subscription struct {
	kind string
	list Lister
	hub  *Hub

	mu    sync.Mutex
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]
	// pending holds, per triggered resource, when its coalescing window ends.
	pending map[types.NamespacedName]time.Time
}

// Subscribe registers a controller of kind; give Source to its builder (WatchesRawSource) and
// call Take in its Reconcile.
func (h *Hub) Subscribe(kind string, list Lister) *Subscription {
	s := &Subscription{kind: kind, list: list, hub: h, pending: map[types.NamespacedName]time.Time{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs = append(h.subs, s)
	return s
}

// Source feeds the subscription's triggers into the controller's queue.
func (s *Subscription) Source() source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queue = q
		// Triggers that came before the controller started.
		now := s.hub.now()
		for key, due := range s.pending {
			q.AddAfter(reconcile.Request{NamespacedName: key}, max(due.Sub(now), 0))
		}
		return nil
	})
}

// Take reports whether key was triggered and its coalescing window has ended, and clears it: the
// reconcile that takes it must treat the resource as due now. A reconcile that comes earlier (for
// another reason) does not take it, and the resource is queued again for the window's end, so that
// a burst stays one sync however the resource is woken in between. A nil subscription takes
// nothing.
func (s *Subscription) Take(key types.NamespacedName) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	due, ok := s.pending[key]
	if !ok {
		return false
	}
	if wait := due.Sub(s.hub.now()); wait > 0 {
		if s.queue != nil {
			s.queue.AddAfter(reconcile.Request{NamespacedName: key}, wait)
		}
		return false
	}
	delete(s.pending, key)
	return true
}

func (s *Subscription) trigger(keys []types.NamespacedName, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.hub.now()
	for _, k := range keys {
		due, ok := s.pending[k]
		if !ok {
			// The window starts with the first trigger; later ones join it.
			due = now.Add(window)
			s.pending[k] = due
		}
		if s.queue != nil {
			s.queue.AddAfter(reconcile.Request{NamespacedName: k}, max(due.Sub(now), 0))
		}
	}
}

func (h *Hub) now() time.Time {
	if h.Clock != nil {
		return h.Clock.Now()
	}
	return time.Now()
}

func (h *Hub) window() time.Duration {
	if h.Window > 0 {
		return h.Window
	}
	return DefaultWindow
}

// Trigger syncs every resource reading secret that one of entities affects (see Affected), and
// returns how many resources it triggered.
func (h *Hub) Trigger(ctx context.Context, secret types.NamespacedName, entities []Entity) (int, error) {
	if len(entities) == 0 {
		return 0, nil
	}
	h.mu.Lock()
	subs := append([]*Subscription(nil), h.subs...)
	h.mu.Unlock()
	total := 0
	var firstErr error
	for _, s := range subs {
		uses, err := s.list(ctx, secret)
		if err != nil {
			logf.FromContext(ctx).Error(err, "List resources to trigger", "kind", s.kind)
			if firstErr == nil {
				firstErr = fmt.Errorf("list %s resources of Secret %s: %w", s.kind, secret, err)
			}
			continue
		}
		set := map[types.NamespacedName]bool{}
		var keys []types.NamespacedName
		for _, e := range entities {
			for _, k := range Affected(uses, e) {
				if !set[k] {
					set[k] = true
					keys = append(keys, k)
				}
			}
		}
		if len(keys) == 0 {
			continue
		}
		s.trigger(keys, h.window())
		metrics.WebhookSyncsTriggered.WithLabelValues(s.kind).Add(float64(len(keys)))
		total += len(keys)
	}
	return total, firstErr
}
