// Package secretwatch watches the metadata of Secrets, but only in the namespaces where some
// resource reads a Secret: so that a rotated, created or deleted credentials Secret re-syncs the
// resources that read it, while the Secrets of every other namespace cost the operator nothing.
package secretwatch

import (
	"context"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Watcher runs one Secret metadata informer per namespace in use. A namespace is in use while at
// least one user (a resource, named by its Kind/namespace/name) reads a Secret there: the first
// such user starts its informer, the last one to go stops it and drops what it held. The informers
// run only while the Watcher runs, which is on the elected leader: other replicas reconcile
// nothing, and their resolvers read Secrets from the API server.
type Watcher struct {
	client metadata.Interface
	// allowed are --watch-namespaces; empty allows every namespace.
	allowed []string
	// transform reduces each Secret before it is stored.
	transform cache.TransformFunc

	mu sync.Mutex
	// users maps each user to the namespaces it reads Secrets in; count how many users each
	// namespace has.
	users map[string][]string
	count map[string]int
	// running is the Watcher's context while it runs; nil before Start and after it returns.
	running context.Context
	// informers are the running informers, by namespace.
	informers map[string]*nsInformer
	// sinks are the controllers fed by Secret events, in the order their sources started.
	sinks []*sink
}

type nsInformer struct {
	informer cache.SharedIndexInformer
	stop     context.CancelFunc
}

// sink is one controller's handler and queue.
type sink struct {
	ctx     context.Context
	handler handler.EventHandler
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
}

var secrets = corev1.SchemeGroupVersion.WithResource("secrets")

// New returns a Watcher that lists and watches Secret metadata through c, never outside
// namespaces (when any are given), storing each Secret as transform leaves it (nil keeps it
// whole).
func New(c metadata.Interface, namespaces []string, transform cache.TransformFunc) *Watcher {
	return &Watcher{client: c, allowed: namespaces, transform: transform,
		users: map[string][]string{}, count: map[string]int{}, informers: map[string]*nsInformer{}}
}

// NeedLeaderElection runs the informers on the leader only: it is the one replica that reconciles.
func (w *Watcher) NeedLeaderElection() bool { return true }

// Start runs the informers of the namespaces in use until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	w.running = ctx
	for ns, n := range w.count {
		if n > 0 {
			w.startLocked(ns)
		}
	}
	w.mu.Unlock()
	<-ctx.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	for ns := range w.informers {
		w.stopLocked(ns)
	}
	w.running = nil
	return nil
}

// Use records the namespaces whose Secrets user reads now, replacing what it read before. Empty
// names and namespaces outside the allowed ones are left out.
func (w *Watcher) Use(user string, namespaces []string) {
	var now []string
	for _, ns := range namespaces {
		if ns != "" && w.allows(ns) && !slices.Contains(now, ns) {
			now = append(now, ns)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	before := w.users[user]
	if len(now) == 0 {
		delete(w.users, user)
	} else {
		w.users[user] = now
	}
	for _, ns := range now {
		if slices.Contains(before, ns) {
			continue
		}
		if w.count[ns]++; w.count[ns] == 1 && w.running != nil {
			w.startLocked(ns)
		}
	}
	for _, ns := range before {
		if slices.Contains(now, ns) {
			continue
		}
		if w.count[ns]--; w.count[ns] <= 0 {
			delete(w.count, ns)
			w.stopLocked(ns)
		}
	}
}

// Release forgets user: a resource that was deleted.
func (w *Watcher) Release(user string) { w.Use(user, nil) }

func (w *Watcher) allows(ns string) bool {
	return len(w.allowed) == 0 || slices.Contains(w.allowed, ns)
}

// Namespaces returns the namespaces whose Secrets are being watched, sorted.
func (w *Watcher) Namespaces() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.informers))
	for ns := range w.informers {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// SecretVersion returns the resourceVersion of a Secret as its namespace's informer last saw it,
// "" when it does not exist. known is false when the Watcher cannot say (the namespace is not
// watched, or its informer has not listed yet): then the caller must read the Secret itself.
func (w *Watcher) SecretVersion(name types.NamespacedName) (version string, known bool) {
	w.mu.Lock()
	inf := w.informers[name.Namespace]
	w.mu.Unlock()
	if inf == nil || !inf.informer.HasSynced() {
		return "", false
	}
	obj, exists, err := inf.informer.GetStore().GetByKey(name.String())
	if err != nil {
		return "", false
	}
	if !exists {
		return "", true
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", false
	}
	return m.GetResourceVersion(), true
}

// Source feeds h with the Secret events of every watched namespace: a namespace whose informer
// starts reports each of its Secrets as created, so that a resource waiting for a Secret that
// appeared before the watch is synced too.
func (w *Watcher) Source(h handler.EventHandler) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		s := &sink{ctx: ctx, handler: h, queue: q}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.sinks = append(w.sinks, s)
		for _, inf := range w.informers {
			if _, err := inf.informer.AddEventHandler(s.funcs()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (w *Watcher) startLocked(ns string) {
	if _, ok := w.informers[ns]; ok {
		return
	}
	inf := metadatainformer.NewFilteredMetadataInformer(w.client, secrets, ns, 0, cache.Indexers{}, nil).Informer()
	if w.transform != nil {
		// Fails only on an informer that already started.
		_ = inf.SetTransform(w.transform)
	}
	for _, s := range w.sinks {
		_, _ = inf.AddEventHandler(s.funcs())
	}
	ctx, stop := context.WithCancel(w.running)
	w.informers[ns] = &nsInformer{informer: inf, stop: stop}
	go inf.RunWithContext(ctx)
}

func (w *Watcher) stopLocked(ns string) {
	if inf, ok := w.informers[ns]; ok {
		inf.stop()
		delete(w.informers, ns)
	}
}

// funcs passes an informer's events to the sink's handler while its controller runs.
func (s *sink) funcs() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(client.Object); ok && s.ctx.Err() == nil {
				s.handler.Create(s.ctx, event.CreateEvent{Object: o}, s.queue)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(client.Object)
			n, okNew := newObj.(client.Object)
			if okOld && okNew && s.ctx.Err() == nil {
				s.handler.Update(s.ctx, event.UpdateEvent{ObjectOld: o, ObjectNew: n}, s.queue)
			}
		},
		DeleteFunc: func(obj any) {
			unknown := false
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj, unknown = t.Obj, true
			}
			if o, ok := obj.(client.Object); ok && s.ctx.Err() == nil {
				s.handler.Delete(s.ctx, event.DeleteEvent{Object: o, DeleteStateUnknown: unknown}, s.queue)
			}
		},
	}
}
