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

// maxFillWait bounds how long a batch keeps taking names (and, full, waits for the rest of its
// group's round) from the moment it opened: a stream of checks that never pauses still gets an
// answer within it.
const maxFillWait = 3 * time.Second

// maxEarlierWait bounds how long a batch waits for an earlier call of its group still in flight, so
// that one slow answer (retries, a long timeout) delays the next call by at most this much.
const maxEarlierWait = time.Second

// maxQuiet bounds the pause a long stream of checks bridges (see gateBatcher.quiet).
const maxQuiet = 500 * time.Millisecond

// gateBatcher merges gate checks for the same user and exposure setting (a group) into check_gate
// calls of at most maxGatesPerCall names.
//
// A group's calls go when its stream of callers pauses: a batch, full or not, is sealed once no
// caller of its group has joined for the group's quiet period (at most maxFillWait after it opened),
// no earlier call of its group that was under way when it opened is still in flight (for at most
// maxEarlierWait), and it holds a token of the key's rate limiter. A round of resources (a refresh, a
// bump of requested-at on many of them) reaches the batcher spread over up to a second or two;
// sending each full batch at once would answer its names before the rest of the round asked for
// them, and they would be fetched again. Under load the waits grow, and so batches fill up rather
// than multiply.
//
// A caller puts each of its names into the batch that will fetch it: a batch of its group that
// takes no more names and has not been answered yet, already fetching that name (so identical and
// overlapping concurrent requests share one call, which is what singleflight would give, without
// tying the call to the first caller's context), or else the open batch, opening a new one when
// there is none or it is full.
//
// The call runs on a context of its own that is cancelled when every caller waiting on it has gone,
// so one caller's cancellation never fails the others.
type gateBatcher struct {
	c *Client

	mu     sync.Mutex
	groups map[string]*gateGroup
	// waiting counts callers between joining and collecting, for tests that need to know that
	// every caller has joined before the window closes.
	waiting int
}

// gateGroup is the batches of one group that have not been answered.
type gateGroup struct {
	key string
	// open is the batch still taking names.
	open *gateBatch
	// closed holds the batches that take no more names: full ones waiting for the group to go
	// quiet, and sealed ones whose call is under way.
	closed []*gateBatch
	// lastJoin is when a caller last joined any of the group's batches.
	lastJoin time.Time
	// streamStart is when the group's current stream of callers began: its first join, or the
	// first after a pause longer than the group's quiet period.
	streamStart time.Time
}

type gateBatch struct {
	group *gateGroup
	user  User
	opts  ReadOptions
	names []string
	has   map[string]bool

	ctx    context.Context
	cancel context.CancelFunc
	isFull bool
	// isSealed: its call is under way (or done); callers may still join it for the names it has.
	isSealed bool
	// abandoned: every caller left before the call was sent, so it never will be.
	abandoned bool
	waiters   int
	done      chan struct{}

	results map[string]GateResult
	err     error
}

func newGateBatcher(c *Client) *gateBatcher {
	return &gateBatcher{c: c, groups: map[string]*gateGroup{}}
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
	now := g.c.opts.Clock.Now()
	grp := g.groups[key]
	if grp == nil {
		grp = &gateGroup{key: key}
		g.groups[key] = grp
	}
	if grp.lastJoin.IsZero() || now.Sub(grp.lastJoin) > g.quiet(grp) {
		grp.streamStart = now
	}
	grp.lastJoin = now

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
		for _, b := range grp.closed {
			if b.has[n] {
				add(b, n)
				continue names
			}
		}
		b := grp.open
		if b == nil || !b.has[n] && len(b.names) >= maxGatesPerCall {
			b = g.newBatch(ctx, grp, user, o)
		}
		if !b.has[n] {
			b.has[n] = true
			b.names = append(b.names, n)
		}
		add(b, n)
		if len(b.names) >= maxGatesPerCall && !b.isFull {
			// Full: later names open a new batch; it goes with the rest of the group's round.
			b.isFull = true
			grp.open = nil
			grp.closed = append(grp.closed, b)
		}
	}
	return joined
}

// newBatch opens a batch and starts the goroutine that sends it. Its context keeps the first
// caller's values (the logger) but not its cancellation.
func (g *gateBatcher) newBatch(ctx context.Context, grp *gateGroup, user User, o ReadOptions) *gateBatch {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &gateBatch{group: grp, user: user, opts: o, has: map[string]bool{}, ctx: bctx, cancel: cancel,
		done: make(chan struct{})}
	grp.open = b
	// Calls of the group already under way, which this one lets finish before it goes.
	var earlier []<-chan struct{}
	for _, x := range grp.closed {
		if x.isSealed {
			earlier = append(earlier, x.done)
		}
	}
	go g.run(b, earlier)
	return b
}

// quiet is how long the group's stream of callers must pause before its batches go: BatchWindow,
// or half of how long the stream has run so far when that is longer (at most maxQuiet). A round
// of a few resources comes off the work queue within a window; a round of hundreds reaches the
// batcher over a second or more, in bursts as the API server delivers their events, and the longer
// it has run the likelier a pause is only a gap between bursts.
func (g *gateBatcher) quiet(grp *gateGroup) time.Duration {
	q := g.c.opts.BatchWindow
	if grp.streamStart.IsZero() {
		return q
	}
	return max(q, min(maxQuiet, grp.lastJoin.Sub(grp.streamStart)/2))
}

// run fills b, takes a rate-limit token, seals b and sends its call.
func (g *gateBatcher) run(b *gateBatch, earlier []<-chan struct{}) {
	clk := g.c.opts.Clock
	grp := b.group
	opened := clk.Now()
	for {
		g.mu.Lock()
		wait := g.quiet(grp) - clk.Since(grp.lastJoin)
		g.mu.Unlock()
		if wait <= 0 || clk.Since(opened) >= maxFillWait {
			break
		}
		window := clk.NewTimer(min(wait, maxFillWait-clk.Since(opened)))
		select {
		case <-window.C():
		case <-b.ctx.Done():
			window.Stop()
		}
		if b.ctx.Err() != nil {
			break
		}
	}
	if len(earlier) > 0 {
		limit := clk.NewTimer(maxEarlierWait)
	wait:
		for _, d := range earlier {
			select {
			case <-d:
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
	if grp.open == b {
		grp.open = nil
		grp.closed = append(grp.closed, b)
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
	g.removeLocked(b)
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
		g.removeLocked(b)
		b.cancel()
		if !b.isSealed {
			b.abandoned = true
			b.err = g.c.contextError(EndpointCheckGate, context.Canceled)
			close(b.done)
		}
	}
}

// removeLocked takes b out of its group, and the group out of the batcher once nothing of it is
// left unanswered.
func (g *gateBatcher) removeLocked(b *gateBatch) {
	grp := b.group
	if grp.open == b {
		grp.open = nil
	}
	for i, x := range grp.closed {
		if x == b {
			grp.closed = append(grp.closed[:i:i], grp.closed[i+1:]...)
			break
		}
	}
	if grp.open == nil && len(grp.closed) == 0 && g.groups[grp.key] == grp {
		delete(g.groups, grp.key)
	}
}

// waitingCallers is the number of callers that joined a batch and have not returned.
func (g *gateBatcher) waitingCallers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}
