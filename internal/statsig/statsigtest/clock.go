package statsigtest

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Clock is a clock.Clock on which every wait returns at once and moves time forward by the wait.
// Give it to statsig.Options.Clock so that backoff, Retry-After waits and holds cost no wall time,
// and read back what the client waited with Sleeps.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

var _ clock.Clock = (*Clock)(nil)

// NewClock starts at start; a zero start means 2026-01-01T00:00:00Z, a whole second, so that an
// HTTP-date Retry-After computed from Now loses nothing.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Clock{now: start}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since is Now().Sub(t).
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Advance moves time forward without recording a wait (time passing between calls).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleeps lists every wait asked of the clock, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func (c *Clock) wait(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return c.now
}

// After returns a channel that already holds the time after d.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.wait(d)
	return ch
}

// Sleep returns at once.
func (c *Clock) Sleep(d time.Duration) { c.wait(d) }

// NewTimer returns a timer that has already fired.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	t := &firedTimer{c: c, ch: make(chan time.Time, 1)}
	t.ch <- c.wait(d)
	return t
}

// Tick returns a channel that fires once at once; nothing in the client ticks.
func (c *Clock) Tick(d time.Duration) <-chan time.Time { return c.After(d) }

type firedTimer struct {
	c  *Clock
	ch chan time.Time
}

func (t *firedTimer) C() <-chan time.Time { return t.ch }
func (t *firedTimer) Stop() bool          { return false }
func (t *firedTimer) Reset(d time.Duration) bool {
	select {
	case <-t.ch:
	default:
	}
	t.ch <- t.c.wait(d)
	return false
}
