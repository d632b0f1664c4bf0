package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
)

// ProgressOptions size how a running sync shows in Reconciling. A sync that ends sooner than After
// writes nothing of its own progress, so healthy fast syncs cost no extra API write; one that runs
// longer (a hung Statsig call, a long export) patches Reconciling=True saying what it waits for, and
// again every Every while that message changes.
type ProgressOptions struct {
	// After is how long a sync runs before Reconciling shows it; zero means 2 s.
	After time.Duration
	// Every is how often the message is refreshed after that; zero means 30 s.
	Every time.Duration
	// Clock times both; nil means the real clock.
	Clock clock.WithTicker
}

func (o ProgressOptions) withDefaults() ProgressOptions {
	if o.After <= 0 {
		o.After = 2 * time.Second
	}
	if o.Every <= 0 {
		o.Every = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

// progressWatch patches Reconciling on an object while one sync of it runs long. Its methods are
// safe on a nil watch (a suspended object has none).
type progressWatch struct {
	ctx    context.Context
	c      client.Client
	base   client.Object
	common func(client.Object) *statsigv1alpha1.CommonStatus
	opts   ProgressOptions

	mu      sync.Mutex
	started time.Time
	message func() string
	written *metav1.Condition
	quit    chan struct{}
	done    chan struct{}
}

func startProgress[T client.Object](ctx context.Context, c client.Client, obj T, common func(T) *statsigv1alpha1.CommonStatus, o ProgressOptions) *progressWatch {
	return &progressWatch{
		ctx: ctx, c: c, base: obj.DeepCopyObject().(client.Object),
		common: func(o client.Object) *statsigv1alpha1.CommonStatus { return common(o.(T)) },
		opts:   o.withDefaults(),
	}
}

// begin arms the watch when the sync starts waiting on something outside the cluster; message says
// what (read again at every refresh, so it can carry progress such as bytes transferred).
func (w *progressWatch) begin(message func() string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.message = message
	if w.quit != nil {
		return // already running: the new message shows at the next refresh
	}
	w.started = w.opts.Clock.Now()
	w.quit, w.done = make(chan struct{}), make(chan struct{})
	go w.loop()
}

func (w *progressWatch) loop() {
	defer close(w.done)
	t := w.opts.Clock.NewTimer(w.opts.After)
	defer t.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-w.ctx.Done():
			return
		case <-t.C():
		}
		w.patch()
		t.Reset(w.opts.Every)
	}
}

// patch writes Reconciling=True with the current message, unless it is already written.
func (w *progressWatch) patch() {
	w.mu.Lock()
	cond := conditions.Progressing(w.base.GetGeneration(), w.message(), w.started)
	prev := w.written
	w.mu.Unlock()
	if prev != nil && prev.Message == cond.Message {
		return
	}
	before := w.base.DeepCopyObject().(client.Object)
	if prev != nil {
		meta.SetStatusCondition(&w.common(before).Conditions, *prev)
	}
	after := before.DeepCopyObject().(client.Object)
	meta.SetStatusCondition(&w.common(after).Conditions, cond)
	if err := w.c.Status().Patch(w.ctx, after, client.MergeFrom(before)); err != nil {
		logf.FromContext(w.ctx).V(1).Info("Could not show the running sync in Reconciling", "error", err.Error())
		return
	}
	written := meta.FindStatusCondition(w.common(after).Conditions, statsigv1alpha1.ConditionReconciling)
	w.mu.Lock()
	w.written = written
	w.mu.Unlock()
}

// stop ends the watch and returns the Reconciling condition it wrote, nil when it wrote none.
func (w *progressWatch) stop() *metav1.Condition {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	quit, done := w.quit, w.done
	w.mu.Unlock()
	if quit == nil {
		return nil
	}
	close(quit)
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}
