package statsig

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// maxGatesPerCall is Statsig's limit on gateNames.
const maxGatesPerCall = 100

// gateBatcher merges gate checks for the same user and exposure setting into check_gate calls of at
// most maxGatesPerCall names.
//
// A batch is open for BatchWindow after its first caller arrives (or until it is full), then in
// flight, then done. A caller puts each of its names into the batch that will fetch it: an in-flight
// batch already fetching that name (so identical and overlapping concurrent requests share one call,
// which is what singleflight would give, without tying the call to the first caller's context), or
// else the open batch, opening a new one when there is none or it is full.
//
// The call runs on a context of its own that is cancelled when every caller waiting on it has gone,
// so one caller's cancellation never fails the others.
type gateBatcher struct {
	c *Client

	mu       sync.Mutex
	open     map[string]*gateBatch
	inflight map[string][]*gateBatch
	// waiting counts callers between joining and collecting, for tests that need to know that
	// every caller has joined before the window closes.
	waiting int
}

type gateBatch struct {
	key   string
	user  User
	opts  ReadOptions
	names []string
	has   map[string]bool

	ctx    context.Context
	cancel context.CancelFunc
	// sealed closes when the batch stops taking names.
	sealed   chan struct{}
	isSealed bool
	waiters  int
	done     chan struct{}

	results map[string]GateResult
	err     error
}

func newGateBatcher(c *Client) *gateBatcher {
	return &gateBatcher{c: c, open: map[string]*gateBatch{}, inflight: map[string][]*gateBatch{}}
}

// batchKey is the canonical form of what must be equal for two checks to share a call.
// encoding/json sorts map keys, so equal users give equal keys.
func batchKey(user User, o ReadOptions) (string, error) {
	b, err := json.Marshal(user)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%t|%s", o.LogExposures, b), nil
}

// check returns the results for names (distinct, already validated).
func (g *gateBatcher) check(ctx context.Context, user User, names []string, o ReadOptions) (map[string]GateResult, error) {
	key, err := batchKey(user, o)
	if err != nil {
		return nil, g.c.newError(EndpointCheckGate, 0, ClassBadRequest, "user cannot be encoded as JSON: "+err.Error(), err)
	}
	joined := g.join(ctx, key, user, names, o)
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()

	out := make(map[string]GateResult, len(names))
	for i, j := range joined {
		select {
		case <-j.b.done:
		case <-ctx.Done():
			g.leave(joined[i:])
			return nil, g.c.contextError(EndpointCheckGate, ctx.Err())
		}
		if j.b.err != nil {
			g.leave(joined[i+1:])
			return nil, j.b.err
		}
		for _, n := range j.names {
			r, ok := j.b.results[n]
			if !ok {
				g.leave(joined[i+1:])
				return nil, g.c.newError(EndpointCheckGate, 200, ClassInvalidResponse,
					fmt.Sprintf("answer has no result for gate %q", n), nil)
			}
			out[n] = r
		}
	}
	return out, nil
}

type joinedBatch struct {
	b     *gateBatch
	names []string
}

// join places every name in a batch and registers the caller as a waiter of each.
func (g *gateBatcher) join(ctx context.Context, key string, user User, names []string, o ReadOptions) []joinedBatch {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting++
	var joined []joinedBatch
	index := map[*gateBatch]int{}
	add := func(b *gateBatch, name string) {
		i, ok := index[b]
		if !ok {
			i = len(joined)
			index[b] = i
			joined = append(joined, joinedBatch{b: b})
			b.waiters++
		}
		joined[i].names = append(joined[i].names, name)
	}
	var toSeal []*gateBatch
names:
	for _, n := range names {
		for _, b := range g.inflight[key] {
			if b.has[n] {
				add(b, n)
				continue names
			}
		}
		b := g.open[key]
		if b == nil || !b.has[n] && len(b.names) >= maxGatesPerCall {
			b = g.newBatch(ctx, key, user, o)
		}
		if !b.has[n] {
			b.has[n] = true
			b.names = append(b.names, n)
		}
		add(b, n)
		if len(b.names) >= maxGatesPerCall {
			// Full: send it now rather than wait out the window; later names open a new batch.
			delete(g.open, key)
			toSeal = append(toSeal, b)
		}
	}
	for _, b := range toSeal {
		g.sealLocked(b)
	}
	return joined
}

// newBatch opens a batch and starts its window. Its context keeps the first caller's values (the
// logger) but not its cancellation.
func (g *gateBatcher) newBatch(ctx context.Context, key string, user User, o ReadOptions) *gateBatch {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &gateBatch{key: key, user: user, opts: o, has: map[string]bool{}, ctx: bctx, cancel: cancel,
		sealed: make(chan struct{}), done: make(chan struct{})}
	g.open[key] = b
	timer := g.c.opts.Clock.NewTimer(g.c.opts.BatchWindow)
	go func() {
		defer timer.Stop()
		select {
		case <-timer.C():
			g.mu.Lock()
			if g.open[key] == b {
				delete(g.open, key)
			}
			g.sealLocked(b)
			g.mu.Unlock()
		case <-b.sealed:
		}
	}()
	return b
}

// sealLocked stops b taking names and sends it, unless every caller has already gone.
func (g *gateBatcher) sealLocked(b *gateBatch) {
	if b.isSealed {
		return
	}
	b.isSealed = true
	close(b.sealed)
	if b.waiters == 0 {
		b.err = g.c.contextError(EndpointCheckGate, context.Canceled)
		b.cancel()
		close(b.done)
		return
	}
	g.inflight[b.key] = append(g.inflight[b.key], b)
	go g.run(b)
}

func (g *gateBatcher) run(b *gateBatch) {
	results, err := g.c.checkGateCall(b.ctx, b.user, b.names, b.opts)
	g.mu.Lock()
	g.removeInflightLocked(b)
	b.results, b.err = results, err
	b.cancel()
	close(b.done)
	g.mu.Unlock()
}

// leave unregisters a caller from batches it will no longer wait for; a batch nobody waits for is
// cancelled (or, if still open, never sent).
func (g *gateBatcher) leave(joined []joinedBatch) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, j := range joined {
		j.b.waiters--
		if j.b.waiters == 0 && j.b.isSealed {
			// Nobody joins a cancelled call: a later caller would only inherit its error.
			g.removeInflightLocked(j.b)
			j.b.cancel()
		}
	}
}

func (g *gateBatcher) removeInflightLocked(b *gateBatch) {
	list := g.inflight[b.key]
	for i, x := range list {
		if x == b {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(g.inflight, b.key)
	} else {
		g.inflight[b.key] = list
	}
}

// waitingCallers is the number of callers that joined a batch and have not returned.
func (g *gateBatcher) waitingCallers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}
