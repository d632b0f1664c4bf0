package refresh

import (
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
	// Two members of a group that synced at different moments land on the same instant.
	a := next("a", "key|user-1", start)
	b := next("b", "key|user-1", start.Add(40*time.Second))
	g.Expect(b).To(Equal(a))
	// Every later refresh of the group stays on the grid, one interval apart.
	g.Expect(next("a", "key|user-1", a.Add(5*time.Millisecond))).To(Equal(a.Add(interval)))
	// The next refresh is never sooner than half an interval away.
	g.Expect(a.Sub(start)).To(BeNumerically(">=", interval/2))
	g.Expect(a.Sub(start)).To(BeNumerically("<", interval*3/2))
	// Different groups are spread over the interval by their hash.
	offsets := map[time.Duration]bool{}
	for _, grp := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		offsets[next("x-"+grp, grp, start).Sub(start)] = true
	}
	g.Expect(len(offsets)).To(BeNumerically(">=", 5))
}
