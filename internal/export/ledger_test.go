package export

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
)

var ledgerStart = time.Date(2026, 11, 10, 20, 0, 0, 0, time.UTC)

func at(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func pending(date string, next *metav1.Time) statsigv1alpha1.ExportedDate {
	return statsigv1alpha1.ExportedDate{Date: date, Phase: statsigv1alpha1.PhasePending, NextAttemptTime: next}
}

func phased(date string, p statsigv1alpha1.DatePhase) statsigv1alpha1.ExportedDate {
	return statsigv1alpha1.ExportedDate{Date: date, Phase: p}
}

func dates(in []*statsigv1alpha1.ExportedDate) []string {
	out := []string{}
	for _, e := range in {
		out = append(out, e.Date)
	}
	return out
}

// TestLedgerDueFollowsTheClock: a Pending date is due once its next attempt has come, and never
// before; settled dates never are. The clock steps between the rows.
func TestLedgerDueFollowsTheClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(ledgerStart)
	l := NewLedger([]statsigv1alpha1.ExportedDate{
		pending("2026-11-09", nil),
		pending("2026-11-08", at(ledgerStart.Add(time.Minute))),
		pending("2026-11-07", at(ledgerStart.Add(time.Hour))),
		phased("2026-11-06", statsigv1alpha1.PhaseExported),
		phased("2026-11-05", statsigv1alpha1.PhaseFailed),
	})
	for _, row := range []struct {
		step time.Duration
		want []string
	}{
		{0, []string{"2026-11-09"}},
		{59 * time.Second, []string{"2026-11-09"}},
		{time.Second, []string{"2026-11-08", "2026-11-09"}},
		{time.Hour, []string{"2026-11-07", "2026-11-08", "2026-11-09"}},
	} {
		clk.Step(row.step)
		NewWithT(t).Expect(dates(l.Due(clk.Now()))).To(Equal(row.want), "at %s", clk.Now())
	}
}

func TestLedgerNextWake(t *testing.T) {
	clk := clocktesting.NewFakeClock(ledgerStart)
	next := at(ledgerStart.Add(24 * time.Hour))
	cases := []struct {
		name    string
		entries []statsigv1alpha1.ExportedDate
		nextRun *metav1.Time
		want    time.Time
	}{
		{"nothing at all: look again after idle", nil, nil, ledgerStart.Add(time.Hour)},
		{"only the schedule", []statsigv1alpha1.ExportedDate{phased("2026-11-09", statsigv1alpha1.PhaseExported)}, next, next.Time},
		{"a due date wakes now", []statsigv1alpha1.ExportedDate{pending("2026-11-09", nil)}, next, ledgerStart},
		{"the earliest retry", []statsigv1alpha1.ExportedDate{
			pending("2026-11-09", at(ledgerStart.Add(2*time.Hour))), pending("2026-11-08", at(ledgerStart.Add(time.Hour)))},
			next, ledgerStart.Add(time.Hour)},
		{"a retry after the next run", []statsigv1alpha1.ExportedDate{pending("2026-11-09", at(ledgerStart.Add(48*time.Hour)))}, next, next.Time},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := NewLedger(tc.entries).NextWake(clk.Now(), tc.nextRun, time.Hour)
			NewWithT(t).Expect(got).To(BeTemporally("==", tc.want))
		})
	}
}

func TestLedgerFillGapsAndTrim(t *testing.T) {
	cases := []struct {
		name          string
		entries       []statsigv1alpha1.ExportedDate
		start, cutoff string
		want          []string // newest first
	}{
		{"gap between the oldest and the newest", []statsigv1alpha1.ExportedDate{
			phased("2026-11-09", statsigv1alpha1.PhaseExported), phased("2026-11-06", statsigv1alpha1.PhaseExported)}, "", "",
			[]string{"2026-11-09", "2026-11-08", "2026-11-07", "2026-11-06"}},
		{"from startDate", []statsigv1alpha1.ExportedDate{pending("2026-11-09", nil)}, "2026-11-07", "",
			[]string{"2026-11-09", "2026-11-08", "2026-11-07"}},
		{"not before the retention cutoff", []statsigv1alpha1.ExportedDate{pending("2026-11-09", nil)}, "2026-11-01", "2026-11-08",
			[]string{"2026-11-09", "2026-11-08"}},
		{"a moved startDate drops Pending dates before it, not exported ones", []statsigv1alpha1.ExportedDate{
			pending("2026-11-09", nil), pending("2026-11-05", nil), phased("2026-11-04", statsigv1alpha1.PhaseExported)}, "2026-11-08", "",
			[]string{"2026-11-09", "2026-11-08", "2026-11-04"}},
		{"empty stays empty", nil, "2026-11-01", "", []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger(tc.entries)
			l.FillGaps(tc.start, tc.cutoff)
			l.Trim(tc.start, tc.cutoff)
			got := []string{}
			for _, e := range l.Entries() {
				got = append(got, e.Date)
			}
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}

func TestLedgerHorizonKeepsLedgerMaxDates(t *testing.T) {
	g := NewWithT(t)
	newest := "2026-11-09"
	l := NewLedger([]statsigv1alpha1.ExportedDate{pending(newest, nil), phased(schedule.AddDays(newest, -LedgerMax), statsigv1alpha1.PhaseExported)})
	l.FillGaps("", "")
	l.Trim("", "")
	e := l.Entries()
	g.Expect(e).To(HaveLen(LedgerMax))
	g.Expect(e[len(e)-1].Date).To(Equal(schedule.AddDays(newest, -(LedgerMax - 1))))
}

func TestLedgerRetryNow(t *testing.T) {
	clk := clocktesting.NewFakeClock(ledgerStart)
	later := at(ledgerStart.Add(time.Hour))
	entries := func() []statsigv1alpha1.ExportedDate {
		failed := phased("2026-11-07", statsigv1alpha1.PhaseFailed)
		failed.FirstAttemptTime = at(ledgerStart.Add(-48 * time.Hour))
		return []statsigv1alpha1.ExportedDate{pending("2026-11-09", later), phased("2026-11-08", statsigv1alpha1.PhaseExported), failed}
	}
	for _, tc := range []struct {
		failed bool
		due    []string
	}{{false, []string{"2026-11-09"}}, {true, []string{"2026-11-07", "2026-11-09"}}} {
		l := NewLedger(entries())
		g := NewWithT(t)
		g.Expect(l.Due(clk.Now())).To(BeEmpty())
		l.RetryNow(tc.failed)
		g.Expect(dates(l.Due(clk.Now()))).To(Equal(tc.due))
		if tc.failed {
			g.Expect(l.Get("2026-11-07").FirstAttemptTime).To(BeNil(), "a restarted date gets a new deadline")
		}
	}
}

func TestLedgerSummary(t *testing.T) {
	g := NewWithT(t)
	l := NewLedger(nil)
	g.Expect(l.AnySettled()).To(BeFalse())
	g.Expect(l.NewestExported()).To(BeEmpty())
	l.Add("2026-11-09")
	l.Add("2026-11-08").Phase = statsigv1alpha1.PhaseExported
	l.Add("2026-11-07").Phase = statsigv1alpha1.PhaseExported
	l.Add("2026-11-06").Phase = statsigv1alpha1.PhaseFailed
	g.Expect(l.Add("2026-11-09").Phase).To(Equal(statsigv1alpha1.PhasePending), "Add keeps an existing entry")
	g.Expect(l.AnySettled()).To(BeTrue())
	g.Expect(l.Newest()).To(Equal("2026-11-09"))
	g.Expect(l.NewestExported()).To(Equal("2026-11-08"))
	g.Expect(l.Summary()).To(Equal("2 dates exported, 1 pending, 1 failed; newest exported 2026-11-08"))
	l.Remove("2026-11-09")
	g.Expect(l.Get("2026-11-09")).To(BeNil())
}
