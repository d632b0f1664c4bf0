package bench

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/testservers"
)

// goalReads is the most get_config calls a snapshot round may make: 1.2× the distinct reads.
func goalReads(distinct int) int { return int(math.Floor(1.2 * float64(distinct))) }

// goalCalls is the most check_gate calls a round may make for limit = ceil(distinct/100): 1.1×.
func goalCalls(limit int) int { return int(math.Floor(1.1 * float64(limit))) }

// The smoke tests run each measurement at toy size in the normal test run. They assert that every
// number was produced and the goals that do not depend on the machine's speed (call counts, names
// per call, no 429, compressed size); never a wall time.

func TestSmokeGateCheckRounds(t *testing.T) {
	g := NewWithT(t)
	res := measureGateChecks(t, gateScenario{GateChecks: 30, GatesEach: 5, Universe: 150, Latency: 20 * time.Millisecond, Rounds: 1, Seed: 1})
	t.Logf("%+v", res)
	g.Expect(res.Distinct).To(BeNumerically(">", 100), "the scenario needs more than one call per round")
	g.Expect(res.ReadyAfter).To(BeNumerically(">", 0))
	g.Expect(res.NaturalCalls).To(HaveLen(1))
	// At toy size a round is a few calls, and on a loaded machine a batch can close between two
	// requeued checks: the smoke allows one call over the goal (the bench reports the goal itself);
	// the batching this guards against made 10-28x the fewest possible calls.
	smoke := goalCalls(res.Limit) + 1
	g.Expect(res.NaturalCalls).To(HaveEach(BeNumerically("<=", smoke)), "P1: natural round")
	g.Expect(res.TriggeredCalls).To(HaveLen(1))
	g.Expect(res.TriggeredCalls).To(HaveEach(BeNumerically("<=", smoke)), "P1: requested-at round")
	g.Expect(res.MaxNames).To(BeNumerically("<=", 100))
	g.Expect(res.Status429).To(BeZero())
	g.Expect(sequentialPeer(t, 20*time.Millisecond, 5)).To(BeNumerically(">", 0))
}

func TestSmokeSnapshotReads(t *testing.T) {
	g := NewWithT(t)
	res := measureSnapshots(t, snapshotScenario{Snapshots: 12, Gates: 5, Configs: 2, Experiments: 1, Latency: 20 * time.Millisecond, Seed: 1})
	t.Logf("%+v", res)
	g.Expect(res.DistinctReads).To(BeNumerically(">", 5))
	g.Expect(res.NaturalReads).To(BeNumerically("<=", goalReads(res.DistinctReads)), "P1: natural round")
	g.Expect(res.TriggeredReads).To(BeNumerically("<=", goalReads(res.DistinctReads)), "P1: requested-at round")
}

func TestSmokeMemory(t *testing.T) {
	g := NewWithT(t)
	res := measureMemory(t, memScenario{ConfigMaps: 40, Secrets: 40, GateChecks: 20})
	t.Logf("idle %.1f MiB, unrelated +%.1f MiB, GateChecks +%.1f MiB", mib(res.Idle), mib(res.UnrelatedGrowth), mib(res.CRGrowth))
	g.Expect(res.Idle).To(BeNumerically(">", 1<<20), "the operator's RSS was read")
}

func TestSmokeExport(t *testing.T) {
	g := NewWithT(t)
	g.Expect(awsCLI()).To(Succeed())
	s3 := testservers.StartMinIO(t)
	path := reportFile(t, 4<<20)
	for i, c := range []export.Compression{export.Gzip, export.None} {
		res := measureExport(t, s3, path, c, i)
		t.Logf("%+v", res)
		g.Expect(res.Rows).To(BeNumerically(">", 10000))
		g.Expect(res.OperatorWall).To(BeNumerically(">", 0))
		g.Expect(res.PeerWall).To(BeNumerically(">", 0))
		g.Expect(res.OperatorPeakRSSGrowth).To(BeNumerically(">", 0))
		if c == export.Gzip {
			g.Expect(float64(res.OperatorBytes)).To(BeNumerically("<=", 1.05*float64(res.PeerBytes)), "P5: size within 5%% of gzip -1")
		} else {
			g.Expect(res.OperatorBytes).To(Equal(res.PeerBytes))
		}
	}
}

// BenchmarkGoals is `make bench`: every measurement at full size (STATSIG_OPERATOR_BENCH_SCALE
// shrinks the object counts and the report, e.g. 0.1), STATSIG_OPERATOR_BENCH_RUNS runs each
// (default 3), and one table. Run it with -benchtime=1x.
func BenchmarkGoals(b *testing.B) {
	scale := envFloat(b, "STATSIG_OPERATOR_BENCH_SCALE", 1)
	runs := int(envFloat(b, "STATSIG_OPERATOR_BENCH_RUNS", 3))
	n := func(full int) int { return max(1, int(float64(full)*scale)) }
	// STATSIG_OPERATOR_BENCH_ONLY=P1,P3 measures only those goals.
	only := os.Getenv("STATSIG_OPERATOR_BENCH_ONLY")
	want := func(goal string) bool { return only == "" || slices.Contains(strings.Split(only, ","), goal) }
	tab := &table{}
	// The table is printed even when a measurement fails, with what was measured until then.
	b.Cleanup(func() { fmt.Fprintf(os.Stdout, "\nstatsig-operator bench (scale %g, %d runs)\n%s", scale, runs, tab) })
	for range b.N {
		// P1: 200 GateChecks sharing a Secret and user, 5 gates of 300.
		for run := range runs * boolInt(want("P1")) {
			r := measure(b, func(t testing.TB) gateResult {
				return measureGateChecks(t, gateScenario{GateChecks: n(200), GatesEach: 5, Universe: 300, Latency: 100 * time.Millisecond, Rounds: 1, Seed: uint64(run + 1)})
			})
			lim := float64(r.Limit)
			tab.add("P1 requested-at round: calls ÷ ceil(distinct/100)", "×", float64(r.TriggeredCalls[0])/lim, "≤ 1.1", le(1.1))
			tab.add("P1 natural round: calls ÷ ceil(distinct/100)", "×", float64(r.NaturalCalls[0])/lim, "≤ 1.1", le(1.1))
			tab.add("P1 requested-at round: check_gate calls", "calls", float64(r.TriggeredCalls[0]), "", nil)
			tab.add("P1 natural round: check_gate calls", "calls", float64(r.NaturalCalls[0]), "", nil)
			tab.add("P1 distinct gates", "gates", float64(r.Distinct), "", nil)
			tab.add("P1 most names in one call", "names", float64(r.MaxNames), "≤ 100", le(100))
		}
		// P1: 50 ConfigSnapshots sharing a user: 5 gates of 300, 2 configs of 20, 1 experiment of 10.
		for run := range runs * boolInt(want("P1")) {
			r := measure(b, func(t testing.TB) snapshotResult {
				return measureSnapshots(t, snapshotScenario{Snapshots: n(50), Gates: 5, Configs: 2, Experiments: 1, Latency: 100 * time.Millisecond, Seed: uint64(run + 1)})
			})
			d := float64(r.DistinctReads)
			tab.add("P1 snapshots natural round: reads ÷ distinct reads", "×", float64(r.NaturalReads)/d, "≤ 1.2", le(1.2))
			tab.add("P1 snapshots requested-at round: reads ÷ distinct", "×", float64(r.TriggeredReads)/d, "≤ 1.2", le(1.2))
		}
		// P3: 1,000 GateChecks, 5 gates each, against a sequential peer (one call per gate; timed
		// over 100 calls and scaled, since the whole peer takes about nine minutes per run).
		for run := range runs * boolInt(want("P3")) {
			sc := gateScenario{GateChecks: n(1000), GatesEach: 5, Universe: 300, Latency: 100 * time.Millisecond, Seed: uint64(run + 10)}
			r := measure(b, func(t testing.TB) gateResult { return measureGateChecks(t, sc) })
			const sample = 100
			peer := measure(b, func(t testing.TB) time.Duration { return sequentialPeer(t, sc.Latency, sample) }) * time.Duration(sc.GateChecks*sc.GatesEach) / sample
			tab.add("P3 operator: all Ready after last create", "s", r.ReadyAfter.Seconds(), "", nil)
			tab.add("P3 sequential peer (100 calls, scaled)", "s", peer.Seconds(), "", nil)
			tab.add("P3 speed-up over the peer", "×", peer.Seconds()/r.ReadyAfter.Seconds(), "≥ 50", ge(50))
			tab.add("P3 429 answers from Statsig", "count", float64(r.Status429), "0", le(0))
			tab.add("P3 check_gate calls", "calls", float64(r.FirstSyncCalls), "", nil)
		}
		// P4: 20,000 ConfigMaps and 5,000 Secrets unrelated, then 1,000 GateChecks.
		for range runs * boolInt(want("P4")) {
			r := measure(b, func(t testing.TB) memResult {
				return measureMemory(t, memScenario{ConfigMaps: n(20000), Secrets: n(5000), GateChecks: n(1000)})
			})
			tab.add("P4 idle RSS", "MiB", mib(r.Idle), "", nil)
			tab.add("P4 unrelated ConfigMaps+Secrets: RSS growth held", "MiB", mib(r.UnrelatedGrowth), "≤ 5", le(5))
			tab.add("P4 1,000 GateChecks: RSS growth held", "MiB", mib(r.CRGrowth), "≤ 20", le(20))
			tab.add("P4 unrelated: RSS growth right after (garbage too)", "MiB", mib(r.UnrelatedGrowthAtOnce), "", nil)
			tab.add("P4 1,000 GateChecks: RSS growth right after", "MiB", mib(r.CRGrowthAtOnce), "", nil)
			tab.add("P4 unrelated: live Go heap growth", "MiB", mib(r.UnrelatedLive), "", nil)
			tab.add("P4 1,000 GateChecks: live Go heap growth", "MiB", mib(r.CRLive), "", nil)
		}
		// P5: a 1 GiB first_exposures report to MinIO, against curl | [gzip -1 |] aws s3 cp -.
		if !want("P5") {
			continue
		}
		if err := awsCLI(); err != nil {
			b.Fatal(err)
		}
		s3 := testservers.StartMinIO(b)
		path := reportFile(b, int64(float64(1<<30)*scale))
		for run := range runs {
			for _, c := range []export.Compression{export.Gzip, export.None} {
				r := measure(b, func(t testing.TB) exportResult { return measureExport(t, s3, path, c, run*2+len(c)) })
				name := "P5 " + string(c)
				tab.add(name+": operator wall", "s", r.OperatorWall.Seconds(), "", nil)
				tab.add(name+": peer wall", "s", r.PeerWall.Seconds(), "", nil)
				if c == export.Gzip {
					tab.add(name+": wall ÷ peer", "×", r.OperatorWall.Seconds()/r.PeerWall.Seconds(), "≤ 0.75", le(0.75))
					tab.add(name+": size ÷ peer", "×", float64(r.OperatorBytes)/float64(r.PeerBytes), "≤ 1.05", le(1.05))
				} else {
					tab.add(name+": wall ÷ peer", "×", r.OperatorWall.Seconds()/r.PeerWall.Seconds(), "≤ 1.0", le(1.0))
				}
				tab.add(name+": peak RSS growth", "MiB", mib(r.OperatorPeakRSSGrowth), "≤ 64", le(64))
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// table collects samples per row, in the order rows first appear.
type table struct {
	order []string
	rows  map[string]*row
}

type row struct {
	unit, goal string
	met        func(float64) bool
	samples    []float64
}

func (t *table) add(name, unit string, v float64, goal string, met func(float64) bool) {
	// Progress, as it is measured: the benchmark's own output comes only at its end.
	fmt.Fprintf(os.Stderr, "bench: %s = %.3f %s\n", name, v, unit)
	if t.rows == nil {
		t.rows = map[string]*row{}
	}
	r := t.rows[name]
	if r == nil {
		r = &row{unit: unit, goal: goal, met: met}
		t.rows[name] = r
		t.order = append(t.order, name)
	}
	r.samples = append(r.samples, v)
}

// String prints min / median / max per row; a goal is met when the median meets it.
func (t *table) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-52s %8s %10s %10s %10s  %-8s %s\n", "measurement", "unit", "min", "median", "max", "goal", "met")
	for _, name := range t.order {
		r := t.rows[name]
		s := slices.Clone(r.samples)
		slices.Sort(s)
		med := s[len(s)/2]
		if len(s)%2 == 0 {
			med = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		met := ""
		if r.met != nil {
			met = "no"
			if r.met(med) {
				met = "yes"
			}
		}
		fmt.Fprintf(&sb, "%-52s %8s %10.3f %10.3f %10.3f  %-8s %s\n", name, r.unit, s[0], med, s[len(s)-1], r.goal, met)
	}
	return sb.String()
}

func le(limit float64) func(float64) bool { return func(v float64) bool { return v <= limit } }
func ge(limit float64) func(float64) bool { return func(v float64) bool { return v >= limit } }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func envFloat(t testing.TB, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return f
}
