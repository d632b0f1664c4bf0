package statsig

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// maxGatesPerCall is Statsig's limit on gateNames.
const maxGatesPerCall = 100

// maxFillWait bounds how long a partly filled batch keeps taking names while an earlier call of its
// group is in flight, so that one slow answer (retries, a long timeout) delays the next call by at
// most this much.
const maxFillWait = time.Second

// gateBatcher merges gate checks for the same user and exposure setting (a group) into check_gate
// calls of at most maxGatesPerCall names.
//
// A batch takes names from its first caller until it is sealed, which happens when it is full or,
// for a partly filled one, when all of these hold: BatchWindow has passed since a caller last added
// a name to it (at most maxFillWait since it opened), no earlier
// call of its group is still in flight (for at most maxFillWait), and it holds a token of the key's
// rate limiter. Under load the waits grow, and so batches fill up rather than multiply: checks that
// arrive while a call is in flight or while the key waits for its rate limit ride in the next call
// instead of queueing calls of their own behind it.
//
// A caller puts each of its names into the batch that will fetch it: an in-flight batch already
// fetching that name (so identical and overlapping concurrent requests share one call, which is what
// singleflight would give, without tying the call to the first caller's context), or else the open
// batch, opening a new one when there is none or it is full.
//
// The call runs on a context of its own that is cancelled when every caller waiting on it has gone,
// so one caller's cancellation never fails the others.
type gateBatcher struct {
	c *Client

	mu sync.Mutex
	// open is the batch of each group still taking names.
	open map[string]*gateBatch
	// inflight holds each group's batches that take no more names and have not been answered: full
	// ones waiting for a rate-limit token, and sealed ones whose call is under way.
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
	// lastJoin is when a caller last added a name.
	lastJoin time.Time

	ctx    context.Context
	cancel context.CancelFunc
	// full closes when the batch reaches maxGatesPerCall names and stops taking more.
	full     chan struct{}
	isFull   bool
	isSealed bool
	// abandoned: every caller left before the call was sent, so it never will be.
	abandoned bool
	waiters   int
	done      chan struct{}

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
			b.lastJoin = g.c.opts.Clock.Now()
		}
		add(b, n)
		if len(b.names) >= maxGatesPerCall && !b.isFull {
			// Full: it goes as soon as it has a token; later names open a new batch.
			b.isFull = true
			close(b.full)
			delete(g.open, key)
			g.inflight[key] = append(g.inflight[key], b)
		}
	}
	return joined
}

// newBatch opens a batch and starts the goroutine that sends it. Its context keeps the first
// caller's values (the logger) but not its cancellation.
func (g *gateBatcher) newBatch(ctx context.Context, key string, user User, o ReadOptions) *gateBatch {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &gateBatch{key: key, user: user, opts: o, has: map[string]bool{}, ctx: bctx, cancel: cancel,
		full: make(chan struct{}), done: make(chan struct{}), lastJoin: g.c.opts.Clock.Now()}
	g.open[key] = b
	// Earlier calls of the group, which this one lets finish before it goes.
	var earlier []<-chan struct{}
	for _, x := range g.inflight[key] {
		earlier = append(earlier, x.done)
	}
	go g.run(b, earlier)
	return b
}

// run fills b, takes a rate-limit token, seals b and sends its call.
func (g *gateBatcher) run(b *gateBatch, earlier []<-chan struct{}) {
	clk := g.c.opts.Clock
	// The window slides: it closes once BatchWindow passes without a caller joining (or after
	// maxFillWait in all), so that a stream of checks (a round of resources coming off the work
	// queue one after another) goes in one call rather than one per window.
	opened := clk.Now()
fill:
	for {
		g.mu.Lock()
		wait := g.c.opts.BatchWindow - clk.Since(b.lastJoin)
		g.mu.Unlock()
		if wait <= 0 || clk.Since(opened) >= maxFillWait {
			break
		}
		window := clk.NewTimer(wait)
		select {
		case <-window.C():
		case <-b.full:
			window.Stop()
			break fill
		case <-b.ctx.Done():
			window.Stop()
			break fill
		}
	}
	if len(earlier) > 0 {
		limit := clk.NewTimer(maxFillWait)
	wait:
		for _, d := range earlier {
			select {
			case <-d:
			case <-b.full:
				break wait
			case <-b.ctx.Done():
				break wait
			case <-limit.C():
				break wait
			}
		}
		limit.Stop()
	}
	tokenErr := g.c.waitLimiter(b.ctx)

	g.mu.Lock()
	if b.abandoned {
		g.mu.Unlock()
		return
	}
	if g.open[b.key] == b {
		delete(g.open, b.key)
		g.inflight[b.key] = append(g.inflight[b.key], b)
	}
	b.isSealed = true
	g.mu.Unlock()

	var results map[string]GateResult
	var err error
	if tokenErr != nil {
		err = g.c.contextError(EndpointCheckGate, tokenErr)
	} else {
		results, err = g.c.checkGateCall(b.ctx, b.user, b.names, b.opts, true)
	}
	g.mu.Lock()
	g.removeInflightLocked(b)
	b.results, b.err = results, err
	b.cancel()
	close(b.done)
	g.mu.Unlock()
}

// leave unregisters a caller from batches it will no longer wait for. A batch nobody waits for is
// never sent if it has not been yet, and its call is cancelled if it has.
func (g *gateBatcher) leave(joined []joinedBatch) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, j := range joined {
		b := j.b
		b.waiters--
		if b.waiters > 0 {
			continue
		}
		// Nobody joins a cancelled call: a later caller would only inherit its error.
		if g.open[b.key] == b {
			delete(g.open, b.key)
		}
		g.removeInflightLocked(b)
		b.cancel()
		if !b.isSealed {
			b.abandoned = true
			b.err = g.c.contextError(EndpointCheckGate, context.Canceled)
			close(b.done)
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
