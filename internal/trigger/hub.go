package trigger

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
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

	mu   sync.Mutex
	subs []*Subscription
}

// Subscription is one controller's end of the hub.
type Subscription struct {
	kind string
	list Lister
	hub  *Hub

	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending map[types.NamespacedName]bool
}

// Subscribe registers a controller of kind; give Source to its builder (WatchesRawSource) and
// call Take in its Reconcile.
func (h *Hub) Subscribe(kind string, list Lister) *Subscription {
	s := &Subscription{kind: kind, list: list, hub: h, pending: map[types.NamespacedName]bool{}}
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
		for key := range s.pending {
			q.AddAfter(reconcile.Request{NamespacedName: key}, s.hub.window())
		}
		return nil
	})
}

// Take reports whether key was triggered since the last Take, and clears it: the reconcile that
// takes it must treat the resource as due now. A nil subscription takes nothing.
func (s *Subscription) Take(key types.NamespacedName) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pending[key] {
		return false
	}
	delete(s.pending, key)
	return true
}

func (s *Subscription) trigger(keys []types.NamespacedName, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.pending[k] = true
		if s.queue != nil {
			// The queue keeps the earliest time for an item that is already waiting, so a burst
			// within the window is one reconcile.
			s.queue.AddAfter(reconcile.Request{NamespacedName: k}, window)
		}
	}
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
