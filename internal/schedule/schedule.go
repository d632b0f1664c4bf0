// Package schedule holds the time arithmetic of scheduled exports: 5-field cron expressions read in
// a time zone, the due-run decision that survives restarts, Pacific-time report dates, and the
// backoff of dates that are not available yet.
//
// Everything takes "now" as an argument, so that callers inject their clock and tests never wait
// for a real cron time.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// maxMissedFireTimes bounds the walk over fire times missed while the operator was down: a
// minutely schedule missed for two months is 90,000 steps, far more than a daily report needs.
// Past the bound the due run is stamped with "now" instead of the exact fire time, which changes
// nothing but the value shown in status.
const maxMissedFireTimes = 100_000

// parser reads exactly the five standard fields. Descriptors (@daily, @every 1h) and seconds are
// not part of the API contract, so they are refused rather than half-supported.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Schedule is a cron expression read in a time zone.
type Schedule struct {
	expr string
	loc  *time.Location
	spec cron.Schedule
}

// Parse reads a 5-field cron expression (minute hour day-of-month month day-of-week) in the IANA
// time zone timeZone ("" means UTC). A TZ= or CRON_TZ= prefix is refused: the zone has a field of
// its own.
func Parse(expr, timeZone string) (*Schedule, error) {
	trimmed := strings.TrimSpace(expr)
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: put the time zone in timeZone, not in the expression", expr)
	}
	if n := len(strings.Fields(trimmed)); n != 5 {
		return nil, fmt.Errorf("schedule %q has %d fields; want 5 (minute hour day-of-month month day-of-week)", expr, n)
	}
	loc, err := LoadLocation(timeZone)
	if err != nil {
		return nil, err
	}
	spec, err := parser.Parse(trimmed)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	ss, ok := spec.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("schedule %q: unexpected schedule type %T", expr, spec)
	}
	// The parser defaults to time.Local, which is the operator's zone, not the user's.
	ss.Location = loc
	return &Schedule{expr: trimmed, loc: loc, spec: ss}, nil
}

// LoadLocation loads an IANA time zone; "" is UTC. The binary embeds the zone database, so this
// works in a scratch image.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

// String is the expression as parsed.
func (s *Schedule) String() string { return s.expr }

// Location is the zone the expression is read in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next is the first fire time strictly after t. It is the zero time for an expression that never
// fires (for example the 30th of February).
func (s *Schedule) Next(t time.Time) time.Time { return s.spec.Next(t) }

// Due decides whether a run is due at now, given the fire time of the last run (nil before the
// first run).
//
// The first run is due at once. After that a run is due when a fire time has passed since the last
// one; fire times missed while the operator was down are coalesced into one run, so a restart
// neither skips a due run nor runs one twice as long as the caller persists the returned fire time
// as the new last run. The returned time is the newest fire time not after now (now itself for the
// first run).
func (s *Schedule) Due(last *time.Time, now time.Time) (bool, time.Time) {
	if last == nil {
		return true, now
	}
	next := s.Next(*last)
	if next.IsZero() || next.After(now) {
		return false, time.Time{}
	}
	return true, s.latestNotAfter(next, now)
}

// Skip is the last-run time to record while runs are held (suspend): the newest fire time not
// after now, so that a run that fell due while held is not made up afterwards. It returns last
// unchanged when no fire time passed since.
func (s *Schedule) Skip(last *time.Time, now time.Time) *time.Time {
	if last == nil {
		return nil
	}
	due, fire := s.Due(last, now)
	if !due {
		return last
	}
	return &fire
}

// latestNotAfter walks from a fire time that is not after now to the newest one.
func (s *Schedule) latestNotAfter(fire, now time.Time) time.Time {
	for range maxMissedFireTimes {
		n := s.Next(fire)
		if n.IsZero() || n.After(now) {
			return fire
		}
		fire = n
	}
	return now
}
