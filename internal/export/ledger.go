package export

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
)

// LedgerMax is the most dates status.dates holds (the CRD's maxItems). It is also how far back a
// backfill reaches from the newest date: every date the resource is working on must fit the ledger,
// or a date could leave it and be exported again.
const LedgerMax = 400

// Ledger is status.dates by date: which report dates a DailyReportExport works on and where each
// stands. It holds no clock; every time it needs is passed in.
type Ledger struct {
	byDate map[string]*statsigv1alpha1.ExportedDate
}

// NewLedger reads a ledger from status.dates.
func NewLedger(in []statsigv1alpha1.ExportedDate) *Ledger {
	l := &Ledger{byDate: make(map[string]*statsigv1alpha1.ExportedDate, len(in))}
	for i := range in {
		e := in[i]
		l.byDate[e.Date] = &e
	}
	return l
}

// Get returns the entry of date, nil when the ledger has none.
func (l *Ledger) Get(date string) *statsigv1alpha1.ExportedDate { return l.byDate[date] }

// Add returns the entry of date, adding it Pending and due now if it is new.
func (l *Ledger) Add(date string) *statsigv1alpha1.ExportedDate {
	if e := l.byDate[date]; e != nil {
		return e
	}
	e := &statsigv1alpha1.ExportedDate{Date: date, Phase: statsigv1alpha1.PhasePending, Message: "Waiting for its first attempt"}
	l.byDate[date] = e
	return e
}

// Remove drops date.
func (l *Ledger) Remove(date string) { delete(l.byDate, date) }

// RetryNow makes every Pending date due now, and with failed also restarts Failed dates.
func (l *Ledger) RetryNow(failed bool) {
	for _, e := range l.byDate {
		switch {
		case e.Phase == statsigv1alpha1.PhasePending:
			e.NextAttemptTime = nil
		case e.Phase == statsigv1alpha1.PhaseFailed && failed:
			e.Phase = statsigv1alpha1.PhasePending
			e.NextAttemptTime, e.FirstAttemptTime = nil, nil
			e.Message = "Retrying on request"
		}
	}
}

// sorted returns the dates, oldest first.
func (l *Ledger) sorted() []string {
	out := make([]string, 0, len(l.byDate))
	for d := range l.byDate {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Newest is the newest date, "" for an empty ledger.
func (l *Ledger) Newest() string {
	s := l.sorted()
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// FillGaps adds, Pending, every date the resource should have and the ledger lacks: from startDate
// (or the oldest date it ever targeted) to the newest one, within the ledger's reach.
func (l *Ledger) FillGaps(start, cutoff string) {
	s := l.sorted()
	if len(s) == 0 {
		return
	}
	first, newest := s[0], s[len(s)-1]
	if start != "" {
		first = start
	}
	first = max(first, l.horizon(newest, cutoff))
	for _, d := range schedule.Dates(first, newest) {
		l.Add(d)
	}
}

// horizon is the oldest date the ledger keeps: ledgerMax dates back from the newest, and never
// before the retention cutoff (retention deletes older dates; exporting them would only feed it).
func (l *Ledger) horizon(newest, cutoff string) string {
	return max(schedule.AddDays(newest, -(LedgerMax-1)), cutoff)
}

// Trim drops dates outside the horizon, and Pending dates before a (moved) startDate.
func (l *Ledger) Trim(start, cutoff string) {
	newest := l.Newest()
	if newest == "" {
		return
	}
	h := l.horizon(newest, cutoff)
	for d, e := range l.byDate {
		if d < h || (start != "" && d < start && e.Phase == statsigv1alpha1.PhasePending) {
			delete(l.byDate, d)
		}
	}
}

// Due lists the Pending dates whose next attempt has come, oldest first.
func (l *Ledger) Due(now time.Time) []*statsigv1alpha1.ExportedDate {
	var out []*statsigv1alpha1.ExportedDate
	for _, d := range l.sorted() {
		e := l.byDate[d]
		if e.Phase == statsigv1alpha1.PhasePending && (e.NextAttemptTime == nil || !e.NextAttemptTime.After(now)) {
			out = append(out, e)
		}
	}
	return out
}

// Entries is the ledger for status: newest first.
func (l *Ledger) Entries() []statsigv1alpha1.ExportedDate {
	s := l.sorted()
	out := make([]statsigv1alpha1.ExportedDate, 0, len(s))
	for i := len(s) - 1; i >= 0; i-- {
		out = append(out, *l.byDate[s[i]])
	}
	return out
}

// AnySettled reports whether any date is Exported or Failed.
func (l *Ledger) AnySettled() bool {
	for _, e := range l.byDate {
		if e.Phase != statsigv1alpha1.PhasePending {
			return true
		}
	}
	return false
}

// NewestExported is the newest Exported date, "".
func (l *Ledger) NewestExported() string {
	s := l.sorted()
	for i := len(s) - 1; i >= 0; i-- {
		if l.byDate[s[i]].Phase == statsigv1alpha1.PhaseExported {
			return s[i]
		}
	}
	return ""
}

// NextWake is the earliest of the next scheduled run and the next Pending attempt.
func (l *Ledger) NextWake(now time.Time, nextRun *metav1.Time, idle time.Duration) time.Time {
	wake := time.Time{}
	if nextRun != nil {
		wake = nextRun.Time
	}
	for _, e := range l.byDate {
		if e.Phase != statsigv1alpha1.PhasePending {
			continue
		}
		t := now
		if e.NextAttemptTime != nil {
			t = e.NextAttemptTime.Time
		}
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	if wake.IsZero() {
		// Nothing scheduled at all (a cron that never fires): look again after idle.
		return now.Add(idle)
	}
	return wake
}

// Summary counts the dates by phase, for Ready's message.
func (l *Ledger) Summary() string {
	var exported, pending, failed int
	for _, e := range l.byDate {
		switch e.Phase {
		case statsigv1alpha1.PhaseExported:
			exported++
		case statsigv1alpha1.PhasePending:
			pending++
		case statsigv1alpha1.PhaseFailed:
			failed++
		}
	}
	msg := fmt.Sprintf("%d dates exported, %d pending, %d failed", exported, pending, failed)
	if n := l.NewestExported(); n != "" {
		msg += "; newest exported " + n
	}
	return msg
}
