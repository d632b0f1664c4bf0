// Package refresh decides when a resource is due to call Statsig again: on a spec change, a
// requested-at bump, a credentials change, a failed attempt's backoff running out, or its refresh
// period passing (with jitter, so that a restart does not fire every refresh at once).
package refresh

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Input is what a due-decision looks at, taken from the object and its status.
type Input struct {
	Generation             int64
	ObservedGeneration     int64
	RequestedAt            string
	LastHandledRequestedAt string
	// Triggered is set when a WebhookReceiver asked for a sync: due now, as a requested-at bump is.
	Triggered bool
	// CredentialsVersion changes when the Secret does.
	CredentialsVersion string
	LastSync           *time.Time
	Ready              bool
	Interval           time.Duration
	// Group, when set, puts resources that can share Statsig calls (same key, user and exposure
	// setting) on one refresh grid, so that their refreshes coincide and the client's batcher merges
	// them. The grid's offset comes from a hash of the group, which spreads different groups apart
	// the way random jitter would.
	Group string
}

type state struct {
	generation  int64
	requestedAt string
	credentials string
	nextAttempt time.Time
	failures    int
}

// Tracker remembers each resource's last attempt. It is in memory: after a restart, Due falls back
// to the status (observedGeneration, lastSyncTime, Ready), so a restart neither storms nor stalls.
type Tracker struct {
	Clock clock.PassiveClock
	// Jitter returns a number in [0,1); nil uses math/rand.
	Jitter func() float64
	// MaxJitter is the largest fraction of the interval added to it; default 0.1.
	MaxJitter float64
	// BaseBackoff and MaxBackoff bound the retry delay after a transient failure.
	BaseBackoff, MaxBackoff time.Duration

	mu sync.Mutex
	m  map[types.NamespacedName]*state
}

// NewTracker returns a Tracker with the operator's defaults.
func NewTracker(c clock.PassiveClock) *Tracker {
	return &Tracker{Clock: c, MaxJitter: 0.1, BaseBackoff: 5 * time.Second, MaxBackoff: 5 * time.Minute}
}

// Due reports whether a sync should call Statsig now and, when not, how long until it should.
func (t *Tracker) Due(key types.NamespacedName, in Input) (bool, time.Duration) {
	now := t.Clock.Now()
	t.mu.Lock()
	st := t.m[key]
	t.mu.Unlock()
	// A request this tracker already attempted is handled even while the cache still shows the
	// status from before (a sync's own ConfigMap writes wake the resource before its status patch
	// is back in the cache); otherwise that stale read would sync a second time.
	if in.Triggered || (in.RequestedAt != "" && in.RequestedAt != in.LastHandledRequestedAt && (st == nil || st.requestedAt != in.RequestedAt)) {
		return true, 0
	}
	if st == nil {
		if in.Generation != in.ObservedGeneration || !in.Ready || in.LastSync == nil {
			return true, 0
		}
		next := in.LastSync.Add(in.Interval)
		if !now.Before(next) {
			return true, 0
		}
		return false, next.Sub(now)
	}
	if in.Generation != st.generation || in.CredentialsVersion != st.credentials {
		return true, 0
	}
	if !now.Before(st.nextAttempt) {
		return true, 0
	}
	return false, st.nextAttempt.Sub(now)
}

// Succeeded records a successful attempt and returns when to refresh next.
func (t *Tracker) Succeeded(key types.NamespacedName, in Input) time.Duration {
	now := t.Clock.Now()
	var after time.Duration
	if in.Group != "" {
		after = t.aligned(key, in.Group, in.Interval, now)
	} else {
		after = in.Interval + time.Duration(float64(in.Interval)*t.maxJitter()*t.jitter())
	}
	t.record(key, in, now.Add(after), true)
	return after
}

// Failed records a failed attempt and returns when to try again: Statsig's Retry-After when it gave
// one, otherwise exponential backoff with full jitter for transient failures, and the refresh
// interval for failures that need a change to be fixed.
func (t *Tracker) Failed(key types.NamespacedName, in Input, transient bool, retryAfter time.Duration) time.Duration {
	t.mu.Lock()
	failures := 0
	if st := t.m[key]; st != nil {
		failures = st.failures
	}
	t.mu.Unlock()
	var after time.Duration
	switch {
	case retryAfter > 0:
		after = retryAfter
	case transient:
		ceiling := float64(t.BaseBackoff) * math.Pow(2, float64(min(failures, 20)))
		ceiling = min(ceiling, float64(t.MaxBackoff), float64(in.Interval))
		// Full jitter, but never below one base step, so that a failing key is not hammered.
		after = max(time.Duration(ceiling*t.jitter()), t.BaseBackoff)
	default:
		after = in.Interval
	}
	t.record(key, in, t.Clock.Now().Add(after), false)
	return after
}

// aligned returns the time until the next refresh of a group member: one period after this
// refresh was due, plus at most the jitter, on the group's grid when the grid has a point in that
// window. Members sit on the grid (offset from a hash of the group, one point per period) and so
// refresh together, and the client's batcher merges their calls.
//
// A member's first sync (it is new, or the operator restarted) puts it on the grid at once: its
// first refresh is the grid point nearest to a period from now, between half a period and one and a
// half periods away. So members created or restarted at different moments refresh together from
// their first refresh on, rather than making calls of their own for several periods. A member that
// later leaves the grid (it synced on request) moves by up to the jitter each period, on a finer grid
// that keeps together members that left together, until it reaches the grid again, so that its
// refreshes stay a period apart.
func (t *Tracker) aligned(key types.NamespacedName, group string, interval time.Duration, now time.Time) time.Duration {
	base := now
	t.mu.Lock()
	st := t.m[key]
	if st != nil && !st.nextAttempt.IsZero() && !now.Before(st.nextAttempt) && now.Sub(st.nextAttempt) < interval {
		// The scheduled refresh, run late (the workqueue, the batch, the rate limiter): the period
		// counts from when it was due, so that lateness does not move it off the grid.
		base = st.nextAttempt
	}
	t.mu.Unlock()
	h := fnv.New64a()
	h.Write([]byte(group))
	offset := time.Duration(h.Sum64() % uint64(interval))
	earliest := base.Add(interval)
	latest := earliest.Add(time.Duration(float64(interval) * t.maxJitter()))
	// The last grid point at or before earliest (Truncate works on absolute time).
	point := earliest.Add(-offset).Truncate(interval).Add(offset)
	if st == nil {
		if earliest.Sub(point) > interval/2 {
			point = point.Add(interval)
		}
		return point.Sub(now)
	}
	if point.Before(earliest) {
		point = point.Add(interval)
	}
	if point.After(latest) {
		// Off the grid: the latest point of a finer grid (the jitter apart) in the window, so that
		// members that left the grid together (a requested-at bump of many) stay together while
		// they move back to it, one jitter's worth per period.
		point = latest
		if step := latest.Sub(earliest); step > 0 {
			point = latest.Add(-offset).Truncate(step).Add(offset)
		}
	}
	// A refresh that ran more than half a period late skips a point rather than coming again soon.
	for point.Sub(now) < interval/2 {
		point = point.Add(interval)
	}
	return point.Sub(now)
}

// Failing reports whether the resource's last attempt failed.
func (t *Tracker) Failing(key types.NamespacedName) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.m[key]
	return st != nil && st.failures > 0
}

// Forget drops a deleted resource's memory.
func (t *Tracker) Forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// record stores an attempt and when the next one is due (an absolute time computed from the same
// reading of the clock as the delay returned to the caller, so that grid points stay exact).
func (t *Tracker) record(key types.NamespacedName, in Input, next time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[types.NamespacedName]*state{}
	}
	st := t.m[key]
	if st == nil {
		st = &state{}
		t.m[key] = st
	}
	st.generation, st.requestedAt, st.credentials = in.Generation, in.RequestedAt, in.CredentialsVersion
	st.nextAttempt = next
	if ok {
		st.failures = 0
	} else {
		st.failures++
	}
}

func (t *Tracker) jitter() float64 {
	if t.Jitter != nil {
		return t.Jitter()
	}
	return rand.Float64()
}

func (t *Tracker) maxJitter() float64 {
	if t.MaxJitter <= 0 {
		return 0.1
	}
	return t.MaxJitter
}
