package statsig_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// perUserGate is a gate whose value depends on the user and the gate, so that a result delivered to
// the wrong caller shows.
func perUserGate(name string) func(statsig.User) statsig.GateResult {
	return func(u statsig.User) statsig.GateResult { return expectedGate(u, name) }
}

func expectedGate(u statsig.User, name string) statsig.GateResult {
	h := fnv.New32a()
	_, _ = h.Write([]byte(u.UserID + "/" + name))
	v := h.Sum32()%2 == 0
	return statsig.GateResult{Name: name, Value: v, RuleID: fmt.Sprintf("rule_%s_%t", u.UserID, v)}
}

func gateNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("gate_%03d", i)
	}
	return out
}

// batchHarness is a fake with per-user gates and a pool on a fake clock that only moves when the
// test steps it, so that the batch window closes exactly when the test says.
func batchHarness(t *testing.T, gates []string) (*statsigtest.Server, *statsig.Client, *clocktesting.FakeClock) {
	t.Helper()
	srv := statsigtest.New(t)
	for _, n := range gates {
		srv.SetGateFunc(n, perUserGate(n))
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o := srv.Options()
	o.Clock = clk
	o.BatchWindow = 10 * time.Millisecond
	pool, err := statsig.NewClients(o)
	if err != nil {
		t.Fatal(err)
	}
	return srv, pool.ForKey(srv.ServerKey), clk
}

func TestBatching200CallersFiveUsers(t *testing.T) {
	g := NewWithT(t)
	universe := gateNames(250)
	srv, client, clk := batchHarness(t, universe)
	users := make([]statsig.User, 5)
	for i := range users {
		users[i] = statsig.User{UserID: fmt.Sprintf("user-%d", i), Custom: map[string]any{"team": "x"}}
	}

	// Statsig holds every answer until all callers have joined, so that no batch finishes early and
	// forces a name into a second call.
	resume := srv.Pause(statsig.EndpointCheckGate)
	rng := rand.New(rand.NewPCG(1, 2))
	type caller struct {
		user  statsig.User
		names []string
		got   map[string]statsig.GateResult
		err   error
	}
	callers := make([]*caller, 200)
	distinct := map[string]bool{}
	perUser := map[string]map[string]bool{}
	for i := range callers {
		c := &caller{user: users[i%len(users)]}
		for range 1 + rng.IntN(40) {
			n := universe[rng.IntN(len(universe))]
			c.names = append(c.names, n)
			distinct[n] = true
			if perUser[c.user.UserID] == nil {
				perUser[c.user.UserID] = map[string]bool{}
			}
			perUser[c.user.UserID][n] = true
		}
		callers[i] = c
	}
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Go(func() {
			c.got, c.err = client.CheckGates(context.Background(), c.user, c.names, statsig.ReadOptions{})
		})
	}
	g.Eventually(client.WaitingGateCallers).Should(Equal(200))
	clk.Step(10 * time.Millisecond)
	resume()
	wg.Wait()

	bound := len(users) * ((len(distinct) + 99) / 100)
	minimal := 0
	for _, names := range perUser {
		minimal += (len(names) + 99) / 100
	}
	calls := srv.Count(statsig.EndpointCheckGate)
	t.Logf("%d callers, %d distinct gates: %d check_gate calls (bound %d, minimum %d)", len(callers), len(distinct), calls, bound, minimal)
	g.Expect(calls).To(BeNumerically("<=", bound))
	g.Expect(calls).To(Equal(minimal), "each user's names are fetched once, in full batches")
	for _, c := range callers {
		g.Expect(c.err).NotTo(HaveOccurred())
		want := map[string]statsig.GateResult{}
		for _, n := range c.names {
			want[n] = expectedGate(c.user, n)
		}
		g.Expect(c.got).To(Equal(want))
	}
	for _, r := range srv.Requests(statsig.EndpointCheckGate) {
		g.Expect(len(r.GateNames())).To(BeNumerically("<=", 100))
		g.Expect(r.ExposureLoggingDisabled()).To(BeTrue())
	}
	g.Expect(srv.Violations()).To(BeEmpty())
}

func TestBatchingKeepsExposureSettingsApart(t *testing.T) {
	g := NewWithT(t)
	srv, client, clk := batchHarness(t, gateNames(3))
	errs := make(chan error, 4)
	for _, log := range []bool{false, true, false, true} {
		go func() {
			_, err := client.CheckGates(context.Background(), testUser, gateNames(3), statsig.ReadOptions{LogExposures: log})
			errs <- err
		}()
	}
	g.Eventually(client.WaitingGateCallers).Should(Equal(4))
	clk.Step(10 * time.Millisecond)
	for range 4 {
		g.Expect(<-errs).NotTo(HaveOccurred())
	}
	reqs := srv.Requests(statsig.EndpointCheckGate)
	g.Expect(reqs).To(HaveLen(2))
	g.Expect([]bool{reqs[0].ExposureLoggingDisabled(), reqs[1].ExposureLoggingDisabled()}).To(ConsistOf(true, false))
}

func TestBatchingSplitsAtOneHundred(t *testing.T) {
	g := NewWithT(t)
	names := gateNames(250)
	srv, client, clk := batchHarness(t, names)
	done := make(chan map[string]statsig.GateResult, 1)
	go func() {
		res, _ := client.CheckGates(context.Background(), testUser, names, statsig.ReadOptions{})
		done <- res
	}()
	// The two full batches wait for the group to go quiet with the rest: a round's later callers
	// may still ask for their names.
	g.Eventually(client.WaitingGateCallers).Should(Equal(1))
	g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 50*time.Millisecond).Should(BeZero())
	clk.Step(10 * time.Millisecond)
	var res map[string]statsig.GateResult
	g.Eventually(done).Should(Receive(&res))
	g.Expect(res).To(HaveLen(250))
	var sizes []int
	for _, r := range srv.Requests(statsig.EndpointCheckGate) {
		sizes = append(sizes, len(r.GateNames()))
	}
	g.Expect(sizes).To(ConsistOf(100, 100, 50))
}

func TestBatchingSurvivesOneCallerLeaving(t *testing.T) {
	g := NewWithT(t)
	srv, client, clk := batchHarness(t, gateNames(2))
	resume := srv.Pause(statsig.EndpointCheckGate)
	defer resume()

	ctx, cancel := context.WithCancel(context.Background())
	leaver := make(chan error, 1)
	go func() {
		_, err := client.CheckGates(ctx, testUser, gateNames(2), statsig.ReadOptions{})
		leaver <- err
	}()
	stayer := make(chan map[string]statsig.GateResult, 1)
	go func() {
		res, _ := client.CheckGates(context.Background(), testUser, gateNames(2)[:1], statsig.ReadOptions{})
		stayer <- res
	}()
	g.Eventually(client.WaitingGateCallers).Should(Equal(2))
	clk.Step(10 * time.Millisecond)
	g.Eventually(func() int { return srv.Count(statsig.EndpointCheckGate) }).Should(Equal(1))
	cancel()
	g.Eventually(leaver).Should(Receive(MatchError(context.Canceled)))
	resume()
	var res map[string]statsig.GateResult
	g.Eventually(stayer).Should(Receive(&res))
	g.Expect(res).To(Equal(map[string]statsig.GateResult{"gate_000": expectedGate(testUser, "gate_000")}))
}

func TestBatchNobodyWaitsForIsNotSent(t *testing.T) {
	g := NewWithT(t)
	srv, client, clk := batchHarness(t, gateNames(1))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := client.CheckGates(ctx, testUser, gateNames(1), statsig.ReadOptions{})
		errc <- err
	}()
	g.Eventually(client.WaitingGateCallers).Should(Equal(1))
	cancel()
	g.Eventually(errc).Should(Receive(HaveOccurred()))
	clk.Step(10 * time.Millisecond)
	g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 50*time.Millisecond).Should(BeZero())
}

func TestBatchedFailureReachesEveryCaller(t *testing.T) {
	g := NewWithT(t)
	srv, client, clk := batchHarness(t, gateNames(4))
	srv.Fault(statsig.EndpointCheckGate, statsigtest.Fault{Status: 401})
	var wg sync.WaitGroup
	var unauthorized atomic.Int32
	for i := range 4 {
		wg.Go(func() {
			_, err := client.CheckGates(context.Background(), testUser, gateNames(4)[i:i+1], statsig.ReadOptions{})
			if statsig.Classify(err) == statsig.ClassUnauthorized {
				unauthorized.Add(1)
			}
		})
	}
	g.Eventually(client.WaitingGateCallers).Should(Equal(4))
	clk.Step(10 * time.Millisecond)
	wg.Wait()
	g.Expect(unauthorized.Load()).To(Equal(int32(4)))
	g.Expect(srv.Count(statsig.EndpointCheckGate)).To(Equal(1))
}

func TestMissingGateInAnswerIsInvalid(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.srv.Fault(statsig.EndpointCheckGate, statsigtest.Fault{Status: 200, Body: `{"other_gate":{"name":"other_gate","value":true,"rule_id":null,"group_name":null}}`})
	_, err := h.server().CheckGate(context.Background(), testUser, "a_gate", statsig.ReadOptions{})
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassInvalidResponse))
}

// BenchmarkBatcherConcurrentCallers measures how many check_gate calls the batcher makes per
// CheckGates request when many goroutines ask for overlapping gates for five users, on a real clock
// with the default batch window.
//
//	go test ./internal/statsig -run '^$' -bench BenchmarkBatcher -benchtime 2000x
func BenchmarkBatcherConcurrentCallers(b *testing.B) {
	srv := statsigtest.New(b)
	universe := gateNames(150)
	for _, n := range universe {
		srv.SetGateFunc(n, perUserGate(n))
	}
	o := srv.Options()
	pool, err := statsig.NewClients(o)
	if err != nil {
		b.Fatal(err)
	}
	client := pool.ForKey(srv.ServerKey)
	users := make([]statsig.User, 5)
	for i := range users {
		users[i] = statsig.User{UserID: fmt.Sprintf("user-%d", i)}
	}
	var seq atomic.Uint64
	b.SetParallelism(50)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seq.Add(1), 7))
		for pb.Next() {
			names := make([]string, 1+rng.IntN(8))
			for i := range names {
				names[i] = universe[rng.IntN(len(universe))]
			}
			if _, err := client.CheckGates(context.Background(), users[rng.IntN(len(users))], names, statsig.ReadOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	calls := srv.Count(statsig.EndpointCheckGate)
	b.ReportMetric(float64(calls)/float64(b.N), "calls/request")
	b.ReportMetric(float64(b.N)/float64(max(calls, 1)), "requests/call")
}

func TestCallerAfterCancelledCallGetsAFreshOne(t *testing.T) {
	g := NewWithT(t)
	srv, client, clk := batchHarness(t, gateNames(1))
	resume := srv.Pause(statsig.EndpointCheckGate)
	defer resume()

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := client.CheckGates(ctx, testUser, gateNames(1), statsig.ReadOptions{})
		first <- err
	}()
	g.Eventually(client.WaitingGateCallers).Should(Equal(1))
	clk.Step(10 * time.Millisecond)
	g.Eventually(func() int { return srv.Count(statsig.EndpointCheckGate) }).Should(Equal(1))
	cancel()
	g.Eventually(first).Should(Receive(MatchError(context.Canceled)))

	second := make(chan error, 1)
	go func() {
		_, err := client.CheckGates(context.Background(), testUser, gateNames(1), statsig.ReadOptions{})
		second <- err
	}()
	g.Eventually(client.WaitingGateCallers).Should(Equal(1))
	clk.Step(10 * time.Millisecond)
	g.Eventually(func() int { return srv.Count(statsig.EndpointCheckGate) }).Should(Equal(2))
	resume()
	g.Eventually(second).Should(Receive(Not(HaveOccurred())))
}

// checkAsync starts a gate check and returns where its outcome arrives.
func checkAsync(client *statsig.Client, user statsig.User, names []string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := client.CheckGates(context.Background(), user, names, statsig.ReadOptions{})
		errc <- err
	}()
	return errc
}

func TestBatchKeepsFillingWhileTheGroupsCallIsInFlight(t *testing.T) {
	g := NewWithT(t)
	universe := gateNames(60)
	srv, client, clk := batchHarness(t, universe)
	resume := srv.Pause(statsig.EndpointCheckGate)

	first := checkAsync(client, testUser, universe[:5])
	g.Eventually(client.WaitingGateCallers).Should(Equal(1))
	clk.Step(10 * time.Millisecond)
	g.Eventually(func() int { return srv.Count(statsig.EndpointCheckGate) }).Should(Equal(1))

	// While that call is in flight, checks keep arriving, each well after the window of the one
	// before: they all ride in one next call rather than one call each.
	var rest []<-chan error
	for i := 1; i < 12; i++ {
		rest = append(rest, checkAsync(client, testUser, universe[i*5:i*5+5]))
		g.Eventually(client.WaitingGateCallers).Should(Equal(1 + i))
		clk.Step(10 * time.Millisecond)
	}
	g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 50*time.Millisecond).Should(Equal(1))
	resume()
	g.Eventually(first).Should(Receive(BeNil()))
	// The stream ran 110 ms: the next call goes once it has paused for half of that.
	clk.Step(50 * time.Millisecond)
	for _, errc := range rest {
		g.Eventually(errc).Should(Receive(BeNil()))
	}
	reqs := srv.Requests(statsig.EndpointCheckGate)
	g.Expect(reqs).To(HaveLen(2))
	g.Expect(reqs[1].GateNames()).To(HaveLen(55))
}

func TestBatchKeepsFillingWhileItWaitsForTheRateLimit(t *testing.T) {
	g := NewWithT(t)
	universe := gateNames(250)
	srv := statsigtest.New(t)
	for _, n := range universe {
		srv.SetGateFunc(n, perUserGate(n))
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o := srv.Options()
	o.Clock = clk
	o.BatchWindow = 10 * time.Millisecond
	o.QPS, o.Burst = 1, 1
	pool, err := statsig.NewClients(o)
	g.Expect(err).NotTo(HaveOccurred())
	client := pool.ForKey(srv.ServerKey)

	// The first call takes the only token.
	firstc := checkAsync(client, testUser, universe[:1])
	g.Eventually(client.WaitingGateCallers).Should(Equal(1))
	clk.Step(10 * time.Millisecond)
	g.Eventually(firstc).Should(Receive(BeNil()))
	g.Eventually(client.WaitingGateCallers).Should(BeZero())

	// 50 checks of 5 gates arrive 10 ms apart while the key waits a second for its next token: the
	// batch they fill keeps taking names until the token comes, splitting only at 100 names.
	var errs []<-chan error
	for i := range 50 {
		errs = append(errs, checkAsync(client, testUser, universe[i*5:i*5+5]))
		g.Eventually(client.WaitingGateCallers).Should(Equal(i + 1))
		clk.Step(10 * time.Millisecond)
	}
	// Time moves a second at a time, whenever something waits on the clock, until every check is back.
	for _, errc := range errs {
		for range 20 {
			g.Eventually(func() bool { return len(errc) > 0 || clk.HasWaiters() }).Should(BeTrue())
			if len(errc) > 0 {
				break
			}
			clk.Step(time.Second)
		}
		g.Eventually(errc).Should(Receive(BeNil()))
	}
	var sizes []int
	for _, r := range srv.Requests(statsig.EndpointCheckGate)[1:] {
		sizes = append(sizes, len(r.GateNames()))
	}
	// ceil(250/100) calls after the first, never more than 100 names each.
	g.Expect(sizes).To(ConsistOf(100, 100, 50))
}

func TestBatchWindowSlidesWhileChecksKeepComing(t *testing.T) {
	g := NewWithT(t)
	universe := gateNames(80)
	srv, client, clk := batchHarness(t, universe)
	// 20 checks, 4 ms apart (a round coming off the work queue): 76 ms in all, far longer than the
	// 10 ms window, but never 10 ms without a newcomer.
	var errs []<-chan error
	for i := range 20 {
		errs = append(errs, checkAsync(client, testUser, universe[i*4:i*4+4]))
		g.Eventually(client.WaitingGateCallers).Should(Equal(i + 1))
		clk.Step(4 * time.Millisecond)
	}
	g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 50*time.Millisecond).Should(BeZero())
	// A stream this long must pause for half its length, 38 ms, before its call goes.
	clk.Step(30 * time.Millisecond)
	g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 50*time.Millisecond).Should(BeZero())
	clk.Step(10 * time.Millisecond)
	for _, errc := range errs {
		g.Eventually(errc).Should(Receive(BeNil()))
	}
	reqs := srv.Requests(statsig.EndpointCheckGate)
	g.Expect(reqs).To(HaveLen(1))
	g.Expect(reqs[0].GateNames()).To(HaveLen(80))
}

// TestWaveOfChecksFetchesEachNameOnce: a round of 40 checks of 5 gates each, drawn from 150 names,
// arrives 4 ms apart, with one pause of 25 ms (two and a half windows) after 120 ms: a round of hundreds of
// resources reaches the batcher in bursts. The first 100 names fill a batch long before the round
// ends; were it sent at once, or at the pause, its answer would be back before the later checks
// asked for the same names, and they would fetch them again.
func TestWaveOfChecksFetchesEachNameOnce(t *testing.T) {
	g := NewWithT(t)
	universe := gateNames(150)
	srv, client, clk := batchHarness(t, universe)
	rng := rand.New(rand.NewPCG(3, 4))
	distinct := map[string]bool{}
	var errs []<-chan error
	for i := range 40 {
		names := make([]string, 0, 5)
		for _, k := range rng.Perm(len(universe))[:5] {
			names = append(names, universe[k])
			distinct[universe[k]] = true
		}
		errs = append(errs, checkAsync(client, testUser, names))
		g.Eventually(client.WaitingGateCallers).Should(Equal(i + 1))
		if len(distinct) >= 100 {
			// The first batch is full: with nothing waiting on the clock it would be sent now.
			g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 20*time.Millisecond).Should(BeZero())
		}
		if i == 30 {
			// 120 ms into the stream, a pause shorter than half of it is bridged.
			clk.Step(25 * time.Millisecond)
			g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 20*time.Millisecond).Should(BeZero())
		} else {
			clk.Step(4 * time.Millisecond)
		}
	}
	// The last check came 177 ms into the stream: its calls go after an 88 ms pause.
	clk.Step(60 * time.Millisecond)
	g.Consistently(func() int { return srv.Count(statsig.EndpointCheckGate) }, 20*time.Millisecond).Should(BeZero())
	clk.Step(30 * time.Millisecond)
	for _, errc := range errs {
		g.Eventually(errc).Should(Receive(BeNil()))
	}
	g.Expect(len(distinct)).To(BeNumerically(">", 100))
	var sizes []int
	seen := map[string]int{}
	for _, r := range srv.Requests(statsig.EndpointCheckGate) {
		sizes = append(sizes, len(r.GateNames()))
		for _, n := range r.GateNames() {
			seen[n]++
		}
	}
	g.Expect(sizes).To(HaveLen((len(distinct)+99)/100), "calls for %d distinct names: %v", len(distinct), sizes)
	for n, k := range seen {
		g.Expect(k).To(Equal(1), "gate %s fetched %d times", n, k)
	}
}
