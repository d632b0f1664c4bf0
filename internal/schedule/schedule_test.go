package schedule

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func la(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseRefusesWhatTheContractDoesNotAllow(t *testing.T) {
	for _, expr := range []string{
		"@daily",
		"@every 1h",
		"0 0 11 * * *", // seconds field
		"0 11 * *",
		"CRON_TZ=UTC 0 11 * * *",
		"TZ=UTC 0 11 * * *",
		"61 11 * * *",
		"0 25 * * *",
		"",
	} {
		t.Run(expr, func(t *testing.T) {
			_, err := Parse(expr, "UTC")
			NewWithT(t).Expect(err).To(HaveOccurred())
		})
	}
	_, err := Parse("0 11 * * *", "Mars/Olympus_Mons")
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("Mars/Olympus_Mons")))
}

func TestNextIsReadInTheTimeZoneAcrossDaylightSaving(t *testing.T) {
	g := NewWithT(t)
	loc := la(t)
	s, err := Parse(" 0 11 * * * ", "America/Los_Angeles")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.String()).To(Equal("0 11 * * *"))

	// 2026-03-08 is the spring-forward day in Los Angeles; 11:00 stays 11:00 local, so the UTC
	// instant moves by an hour.
	before := time.Date(2026, 3, 7, 12, 0, 0, 0, loc)
	n1 := s.Next(before)
	g.Expect(n1).To(BeTemporally("==", time.Date(2026, 3, 8, 11, 0, 0, 0, loc)))
	g.Expect(n1.UTC().Hour()).To(Equal(18))
	g.Expect(s.Next(time.Date(2026, 3, 6, 12, 0, 0, 0, loc)).UTC().Hour()).To(Equal(19))

	// The operator's own zone does not matter: the same instant gives the same answer in UTC.
	g.Expect(s.Next(before.UTC())).To(BeTemporally("==", n1))

	utc, err := Parse("0 11 * * *", "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(utc.Location()).To(Equal(time.UTC))
	g.Expect(utc.Next(time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC))).To(BeTemporally("==", time.Date(2026, 3, 8, 11, 0, 0, 0, time.UTC)))
}

func TestDueNeitherSkipsNorRepeats(t *testing.T) {
	g := NewWithT(t)
	loc := la(t)
	s, err := Parse("0 11 * * *", "America/Los_Angeles")
	g.Expect(err).NotTo(HaveOccurred())
	created := time.Date(2026, 11, 5, 9, 30, 0, 0, loc)

	// First run: at once.
	due, fire := s.Due(nil, created)
	g.Expect(due).To(BeTrue())
	g.Expect(fire).To(Equal(created))
	last := fire

	// Not again until 11:00.
	due, _ = s.Due(&last, created.Add(time.Hour))
	g.Expect(due).To(BeFalse())
	eleven := time.Date(2026, 11, 5, 11, 0, 0, 0, loc)
	due, fire = s.Due(&last, eleven)
	g.Expect(due).To(BeTrue())
	g.Expect(fire).To(BeTemporally("==", eleven))
	last = fire

	// A restart a minute later finds the run recorded: not due twice.
	due, _ = s.Due(&last, eleven.Add(time.Minute))
	g.Expect(due).To(BeFalse())

	// Down for three days: one run, stamped with the newest missed fire time.
	later := time.Date(2026, 11, 8, 15, 0, 0, 0, loc)
	due, fire = s.Due(&last, later)
	g.Expect(due).To(BeTrue())
	g.Expect(fire).To(BeTemporally("==", time.Date(2026, 11, 8, 11, 0, 0, 0, loc)))
	last = fire
	due, _ = s.Due(&last, later)
	g.Expect(due).To(BeFalse())

	// A minutely schedule missed for a long time is still answered, and quickly.
	m, err := Parse("* * * * *", "UTC")
	g.Expect(err).NotTo(HaveOccurred())
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 8, 15, 0, 30, 0, time.UTC)
	due, fire = m.Due(&old, now)
	g.Expect(due).To(BeTrue())
	g.Expect(fire).To(Equal(now), "past the walk's bound the run is stamped with now")
}

func TestSkipHoldsRunsWithoutMakingThemUp(t *testing.T) {
	g := NewWithT(t)
	s, err := Parse("0 11 * * *", "UTC")
	g.Expect(err).NotTo(HaveOccurred())
	last := time.Date(2026, 11, 5, 11, 0, 0, 0, time.UTC)
	g.Expect(s.Skip(nil, last)).To(BeNil(), "a resource that never ran keeps its first run")
	g.Expect(*s.Skip(&last, last.Add(time.Hour))).To(Equal(last))
	skipped := s.Skip(&last, time.Date(2026, 11, 9, 12, 0, 0, 0, time.UTC))
	g.Expect(*skipped).To(Equal(time.Date(2026, 11, 9, 11, 0, 0, 0, time.UTC)))
	due, _ := s.Due(skipped, time.Date(2026, 11, 9, 12, 0, 0, 0, time.UTC))
	g.Expect(due).To(BeFalse())
}

func TestReportDates(t *testing.T) {
	g := NewWithT(t)
	// 2026-11-02 06:59 UTC is still 11-01 in Los Angeles (PST, UTC-8 after 11-01 02:00).
	g.Expect(ReportDate(time.Date(2026, 11, 2, 7, 59, 0, 0, time.UTC))).To(Equal("2026-11-01"))
	g.Expect(ReportDate(time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC))).To(Equal("2026-11-02"))
	// In summer (PDT, UTC-7).
	g.Expect(ReportDate(time.Date(2026, 7, 2, 6, 59, 0, 0, time.UTC))).To(Equal("2026-07-01"))
	g.Expect(NewestComplete(time.Date(2026, 7, 2, 7, 0, 0, 0, time.UTC))).To(Equal("2026-07-01"))
	// Whatever zone now is expressed in.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(NewestComplete(time.Date(2026, 1, 1, 9, 0, 0, 0, tokyo))).To(Equal("2025-12-30"))

	g.Expect(AddDays("2026-02-28", 1)).To(Equal("2026-03-01"))
	g.Expect(AddDays("2024-03-01", -1)).To(Equal("2024-02-29"))
	g.Expect(AddDays("2026-03-09", -1)).To(Equal("2026-03-08"), "no daylight-saving drift")
	g.Expect(DaysBetween("2026-03-01", "2026-03-31")).To(Equal(30))
	g.Expect(DaysBetween("2026-03-31", "2026-03-01")).To(Equal(-30))
	g.Expect(Dates("2026-10-30", "2026-11-02")).To(Equal([]string{"2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02"}))
	g.Expect(Dates("2026-11-02", "2026-11-01")).To(BeEmpty())
	g.Expect(RetentionCutoff(time.Date(2026, 11, 10, 20, 0, 0, 0, time.UTC), 7)).To(Equal("2026-11-03"))

	for _, bad := range []string{"2026-02-30", "2026-1-01", "20261101", "2026-11-01T00:00:00Z"} {
		_, err := ParseDate(bad)
		g.Expect(err).To(HaveOccurred(), bad)
	}
}

func TestBackoffGrowsFromMinutesToAnHour(t *testing.T) {
	g := NewWithT(t)
	var got []time.Duration
	for a := int32(1); a <= 9; a++ {
		got = append(got, DefaultBackoff.Delay(a))
	}
	g.Expect(got).To(Equal([]time.Duration{
		time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute,
		time.Hour, time.Hour, time.Hour,
	}))
	g.Expect(DefaultBackoff.Delay(1000)).To(Equal(time.Hour))
}
