package schedule

import (
	"fmt"
	"math"
	"time"
)

// ReportZone is the zone of report dates: Statsig's daily reports cover US Pacific calendar days,
// whatever zone the schedule is read in.
const ReportZone = "America/Los_Angeles"

// DateLayout is how a report date is written.
const DateLayout = "2006-01-02"

var reportLoc = mustLoad(ReportZone)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// The binary embeds the zone database (time/tzdata), so this only fails in a build that
		// dropped it, which must not start.
		panic(fmt.Sprintf("load %s: %v", name, err))
	}
	return loc
}

// ReportDate is the Pacific-time calendar date of t.
func ReportDate(t time.Time) string { return t.In(reportLoc).Format(DateLayout) }

// NewestComplete is the newest report date whose day has ended in Pacific time at now: yesterday
// in America/Los_Angeles. Statsig publishes a date's report some hours after that (around 10:00
// Pacific), so a run before then finds the date not available yet and retries it with backoff.
func NewestComplete(now time.Time) string { return AddDays(ReportDate(now), -1) }

// RetentionCutoff is the oldest report date that retention keeps at now: dates strictly before it
// are more than days days old (counted in Pacific calendar days) and are deleted.
func RetentionCutoff(now time.Time, days int32) string {
	return AddDays(ReportDate(now), -int(days))
}

// ParseDate parses a report date strictly: exactly YYYY-MM-DD and a real calendar day.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil || t.Format(DateLayout) != s {
		return time.Time{}, fmt.Errorf("date %q is not a YYYY-MM-DD calendar date", s)
	}
	return t, nil
}

// AddDays adds n calendar days to a valid date. Dates are handled as UTC midnights, which have no
// daylight-saving gaps. It panics on an invalid date: callers parse user input with ParseDate first.
func AddDays(date string, n int) string {
	t, err := ParseDate(date)
	if err != nil {
		panic(err)
	}
	return t.AddDate(0, 0, n).Format(DateLayout)
}

// DaysBetween is the number of calendar days from a to b (negative when b is before a).
func DaysBetween(a, b string) int {
	ta, tb := mustParse(a), mustParse(b)
	return int(math.Round(tb.Sub(ta).Hours() / 24))
}

// Dates lists every date from first to last inclusive, oldest first; nil when last is before first.
func Dates(first, last string) []string {
	n := DaysBetween(first, last)
	if n < 0 {
		return nil
	}
	out := make([]string, 0, n+1)
	for i := 0; i <= n; i++ {
		out = append(out, AddDays(first, i))
	}
	return out
}

func mustParse(date string) time.Time {
	t, err := ParseDate(date)
	if err != nil {
		panic(err)
	}
	return t
}

// Backoff is the retry delay of a date that is not available yet: Base after the first attempt,
// doubling with each attempt up to Max.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff retries after a minute, then 2, 4, ... up to an hour.
var DefaultBackoff = Backoff{Base: time.Minute, Max: time.Hour}

// Delay is the wait after attempt number attempts (1 for the first).
func (b Backoff) Delay(attempts int32) time.Duration {
	d := b.Base
	for i := int32(1); i < attempts && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}
