package statsig

import (
	"context"
	"sync"
)

// readShare lets identical concurrent reads of one client (same endpoint, user, entity and exposure
// setting; the client is per key, so never across keys) share one call: a read that arrives while an
// identical one waits for its rate-limit token or for Statsig's answer gets that answer too. Nothing
// is kept once the call returns, so a read never sees an answer fetched before an earlier identical
// read had finished: a value changed in Statsig and then asked for is seen.
//
// Like the gate batcher, the call runs on a context of its own that ends when every reader has gone.
type readShare struct {
	mu    sync.Mutex
	calls map[string]*sharedRead
}

type sharedRead struct {
	waiters int
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	val     any
	err     error
}

// do returns fn's answer for key, calling fn only when no identical read is under way.
func (s *readShare) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]*sharedRead{}
	}
	r, ok := s.calls[key]
	if !ok {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r = &sharedRead{ctx: cctx, cancel: cancel, done: make(chan struct{})}
		s.calls[key] = r
		go func() {
			val, err := fn(r.ctx)
			s.mu.Lock()
			if s.calls[key] == r {
				delete(s.calls, key)
			}
			r.val, r.err = val, err
			r.cancel()
			close(r.done)
			s.mu.Unlock()
		}()
	}
	r.waiters++
	s.mu.Unlock()

	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		s.mu.Lock()
		r.waiters--
		if r.waiters == 0 {
			// Nobody joins a cancelled call: a later reader would only inherit its error.
			if s.calls[key] == r {
				delete(s.calls, key)
			}
			r.cancel()
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// waiting is the number of readers waiting on shared calls.
func (s *readShare) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.calls {
		n += r.waiters
	}
	return n
}
