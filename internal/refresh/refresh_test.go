package refresh

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

var start = time.Date(2026, 11, 22, 10, 0, 7, 0, time.UTC)

func TestDueFromStatusAfterRestart(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	key := types.NamespacedName{Namespace: "a", Name: "b"}
	last := start.Add(-100 * time.Second)
	in := Input{Generation: 2, ObservedGeneration: 2, Ready: true, LastSync: &last, Interval: 300 * time.Second}

	due, wait := tr.Due(key, in)
	g.Expect(due).To(BeFalse(), "a healthy, recently synced resource is not synced again on restart")
	g.Expect(wait).To(Equal(200 * time.Second))

	for name, mod := range map[string]func(*Input){
		"spec changed":  func(i *Input) { i.Generation = 3 },
		"not ready":     func(i *Input) { i.Ready = false },
		"never synced":  func(i *Input) { i.LastSync = nil },
		"requested-at":  func(i *Input) { i.RequestedAt = "now" },
		"period passed": func(i *Input) { l := start.Add(-301 * time.Second); i.LastSync = &l },
	} {
		c := in
		mod(&c)
		due, _ := tr.Due(key, c)
		g.Expect(due).To(BeTrue(), name)
	}
	handled := in
	handled.RequestedAt, handled.LastHandledRequestedAt = "x", "x"
	due, _ = tr.Due(key, handled)
	g.Expect(due).To(BeFalse(), "a handled requested-at is not a new request")
}

func TestRequestedAtIsHandledOnceEvenFromAStaleStatus(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	key := types.NamespacedName{Namespace: "a", Name: "b"}
	last := start.Add(-10 * time.Second)
	in := Input{Generation: 1, ObservedGeneration: 1, Ready: true, LastSync: &last, Interval: 300 * time.Second, RequestedAt: "1"}
	due, _ := tr.Due(key, in)
	g.Expect(due).To(BeTrue())
	tr.Succeeded(key, in)
	// The status that echoes "1" is not in the cache yet: still the same request.
	due, _ = tr.Due(key, in)
	g.Expect(due).To(BeFalse(), "a request is synced once")
	in.RequestedAt = "2"
	due, _ = tr.Due(key, in)
	g.Expect(due).To(BeTrue(), "a new value is a new request")
}

func TestDueFromMemory(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	tr.Jitter = func() float64 { return 0.5 }
	key := types.NamespacedName{Namespace: "a", Name: "b"}
	in := Input{Generation: 1, CredentialsVersion: "7", Interval: 300 * time.Second}

	after := tr.Succeeded(key, in)
	g.Expect(after).To(Equal(315*time.Second), "interval plus half of the 10% jitter")
	due, wait := tr.Due(key, in)
	g.Expect(due).To(BeFalse())
	g.Expect(wait).To(Equal(315 * time.Second))

	rotated := in
	rotated.CredentialsVersion = "8"
	due, _ = tr.Due(key, rotated)
	g.Expect(due).To(BeTrue(), "a changed Secret triggers a sync")

	clk.SetTime(start.Add(315 * time.Second))
	due, _ = tr.Due(key, in)
	g.Expect(due).To(BeTrue())

	tr.Forget(key)
	due, _ = tr.Due(key, in)
	g.Expect(due).To(BeTrue(), "without memory or status a resource is due")
}

func TestFailedBacksOffAndHonoursRetryAfter(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	tr.Jitter = func() float64 { return 0.999 }
	key := types.NamespacedName{Namespace: "a", Name: "b"}
	in := Input{Generation: 1, Interval: time.Hour}

	var got []time.Duration
	for range 8 {
		got = append(got, tr.Failed(key, in, true, 0).Round(time.Second))
	}
	g.Expect(got).To(Equal([]time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}), "doubling, capped at MaxBackoff")
	g.Expect(tr.Failed(key, in, true, 7*time.Second)).To(Equal(7*time.Second), "Retry-After wins")
	g.Expect(tr.Failed(key, in, false, 0)).To(Equal(time.Hour), "a failure needing a change waits a period")
	tr.Succeeded(key, in)
	g.Expect(tr.Failed(key, in, true, 0).Round(time.Second)).To(Equal(5*time.Second), "success resets the backoff")
}

func TestGroupsShareARefreshGrid(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	interval := 300 * time.Second
	next := func(name, group string, at time.Time) time.Time {
		clk.SetTime(at)
		return at.Add(tr.Succeeded(types.NamespacedName{Name: name}, Input{Interval: interval, Group: group}))
	}
	// A first sync puts a member on the group's grid at once: its first refresh is the grid point
	// nearest to a period later, so two members that first synced 40 s apart share a phase from
	// their first refresh on.
	a := next("a", "key|user-1", start)
	b := next("b", "key|user-1", start.Add(40*time.Second))
	g.Expect(a.Sub(start)).To(BeNumerically(">=", interval/2))
	g.Expect(a.Sub(start)).To(BeNumerically("<=", interval*3/2))
	g.Expect(b.Sub(start.Add(40 * time.Second))).To(BeNumerically(">=", interval/2))
	g.Expect(b.Sub(start.Add(40 * time.Second))).To(BeNumerically("<=", interval*3/2))
	g.Expect(b.Sub(a) % interval).To(BeZero())

	// Every later refresh comes a period after the one before (plus at most the 10% jitter), each
	// running when due (or a little late), and the two stay together.
	for a.Before(start.Add(11 * interval)) {
		if a.After(b) {
			prev := b
			b = next("b", "key|user-1", b.Add(20*time.Millisecond))
			g.Expect(b.Sub(prev)).To(And(BeNumerically(">=", interval), BeNumerically("<=", interval*11/10)))
			continue
		}
		prev := a
		a = next("a", "key|user-1", a.Add(5*time.Millisecond))
		g.Expect(a.Sub(prev)).To(And(BeNumerically(">=", interval), BeNumerically("<=", interval*11/10)))
	}
	if b.Before(a) {
		b = next("b", "key|user-1", b)
	}
	g.Expect(b).To(Equal(a))
	for range 3 {
		prev := a
		a = next("a", "key|user-1", a.Add(50*time.Millisecond))
		b = next("b", "key|user-1", b)
		g.Expect(a).To(Equal(prev.Add(interval)), "lateness does not move a member off the grid")
		g.Expect(b).To(Equal(a))
	}

	// A refresh that ran more than half a period late stays on the grid and skips a point.
	prev := a
	a = next("a", "key|user-1", a.Add(interval*3/4))
	g.Expect(a).To(Equal(prev.Add(2 * interval)))

	// A sync on request, between refreshes, takes its member off the grid for a while, never
	// sooner than a period.
	c := next("a", "key|user-1", a.Add(-interval/3))
	g.Expect(c.Sub(a.Add(-interval / 3))).To(BeNumerically(">=", interval))

	// Different groups are spread over the interval by their hash.
	offsets := map[time.Duration]bool{}
	for _, grp := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		at := next("x-"+grp, grp, start)
		for range 10 {
			at = next("x-"+grp, grp, at)
		}
		offsets[at.Sub(start)%interval] = true
	}
	g.Expect(len(offsets)).To(BeNumerically(">=", 5))
}

// tickingClock moves on by a millisecond at every reading, as a real clock does between two calls.
type tickingClock struct{ t time.Time }

func (c *tickingClock) Now() time.Time {
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *tickingClock) Since(t time.Time) time.Duration { return c.t.Sub(t) }

func TestGridPointsStayExactWhileTheClockMoves(t *testing.T) {
	g := NewWithT(t)
	clk := &tickingClock{t: start}
	tr := NewTracker(clk)
	interval := 300 * time.Millisecond
	key := types.NamespacedName{Name: "a"}
	in := Input{Interval: interval, Group: "key|user-1"}
	var due time.Time
	phases := map[time.Duration]int{}
	for i := range 30 {
		// Run each refresh a few ticks after it was due.
		if i > 0 {
			clk.t = due.Add(5 * time.Millisecond)
		}
		after := tr.Succeeded(key, in)
		due = clk.t.Add(after)
		phases[due.Sub(start)%interval]++
	}
	// Off the grid at first, then on it for good: the last refreshes share one phase.
	last := due.Sub(start) % interval
	g.Expect(phases[last]).To(BeNumerically(">=", 15), "refreshes on the grid")
}

func TestFirstSyncsAtDifferentMomentsShareTheFirstRefresh(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	interval := 30 * time.Second
	// 50 members first sync over 20 s (created one by one, or the operator restarting): every one's
	// first refresh lands on one of the group's grid points, so a round is one batch.
	phases := map[time.Duration]int{}
	for i := range 50 {
		at := start.Add(time.Duration(i) * 400 * time.Millisecond)
		clk.SetTime(at)
		after := tr.Succeeded(types.NamespacedName{Name: fmt.Sprintf("gc-%d", i)}, Input{Interval: interval, Group: "key|user"})
		g.Expect(after).To(And(BeNumerically(">=", interval/2), BeNumerically("<=", interval*3/2)))
		phases[at.Add(after).Sub(start)%interval]++
	}
	g.Expect(phases).To(HaveLen(1))
}

func TestMembersThatSyncedOnRequestTogetherStayTogether(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	interval := 30 * time.Second
	in := Input{Interval: interval, Group: "key|user"}
	for i := range 40 {
		tr.Succeeded(types.NamespacedName{Name: fmt.Sprintf("gc-%d", i)}, in)
	}
	// A requested-at bump of every member, handled over 400 ms, takes them off the grid; their
	// next refreshes still coincide (two points at most, when the bump straddles one of the finer
	// grid's points), each at least a period later.
	bump := start.Add(7 * time.Second)
	next := map[time.Time]int{}
	for i := range 40 {
		at := bump.Add(time.Duration(i) * 10 * time.Millisecond)
		clk.SetTime(at)
		after := tr.Succeeded(types.NamespacedName{Name: fmt.Sprintf("gc-%d", i)}, in)
		g.Expect(after).To(And(BeNumerically(">=", interval), BeNumerically("<=", interval*11/10)))
		next[at.Add(after)]++
	}
	g.Expect(len(next)).To(BeNumerically("<=", 2))
}

func TestTriggeredIsDueNow(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakePassiveClock(start)
	tr := NewTracker(clk)
	key := types.NamespacedName{Namespace: "a", Name: "b"}
	last := start.Add(-time.Second)
	in := Input{Generation: 1, ObservedGeneration: 1, Ready: true, LastSync: &last, Interval: 300 * time.Second}
	tr.Succeeded(key, in)
	due, _ := tr.Due(key, in)
	g.Expect(due).To(BeFalse())
	triggered := in
	triggered.Triggered = true
	due, wait := tr.Due(key, triggered)
	g.Expect(due).To(BeTrue())
	g.Expect(wait).To(BeZero())
	// A triggered sync schedules the next refresh from itself, and is not due again untriggered.
	tr.Succeeded(key, triggered)
	due, _ = tr.Due(key, in)
	g.Expect(due).To(BeFalse())
}
