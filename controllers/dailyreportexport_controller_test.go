package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testservers"
)

const exported, pending, failed = statsigv1alpha1.PhaseExported, statsigv1alpha1.PhasePending, statsigv1alpha1.PhaseFailed

func TestDailyReportExportToS3(t *testing.T) {
	s := testservers.StartMinIO(t)
	exportToStore(t, s.URL(s.Bucket), s.Credentials(), statsigv1alpha1.CompressionGzip, false)
}

func TestDailyReportExportToGCS(t *testing.T) {
	s := testservers.StartFakeGCS(t)
	exportToStore(t, s.URL(s.Bucket), s.Credentials(), statsigv1alpha1.CompressionNone, false)
}

func TestDailyReportExportToAzure(t *testing.T) {
	s := testservers.StartAzurite(t)
	exportToStore(t, s.URL(s.Container), s.Credentials(), statsigv1alpha1.CompressionGzip, true)
}

func TestDailyReportExportToFile(t *testing.T) {
	exportToStore(t, fileStore(t), nil, statsigv1alpha1.CompressionNone, true)
}

// exportToStore exports one date through the controller and reads it back from the store.
func exportToStore(t *testing.T, storeURL string, creds map[string][]byte, c statsigv1alpha1.Compression, gzipSource bool) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	credsSecret := ""
	if creds != nil {
		credsSecret = "store"
		h.storeSecret(credsSecret, creds)
	}
	report := statsigtest.GeneratedReport("2026-11-09", 30_000, gzipSource)
	h.fake.SetReport(reportType, "2026-11-09", report)
	h.reportExport("exposures", toStore(storeURL, credsSecret, "statsig"), withCompression(c))

	g.Eventually(h.phases("exposures"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
	d := h.getExport("exposures")
	b := openStore(t, storeURL, creds)
	csv := csvOf(t, report)
	m := expectStored(t, b, "statsig", "2026-11-09", export.Compression(c), csv, entryOf(d, "2026-11-09"))
	if gzipSource && c == statsigv1alpha1.CompressionGzip {
		stored, err := b.ReadAll(context.Background(), m.Object)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(stored).To(Equal(gzipAsTheFakeDoes(csv)), "a gzip download is stored as it came")
	}
	g.Expect(listAll(t, b, "")).To(ConsistOf(m.Object, "statsig/first_exposures/dt=2026-11-09/_manifest.json"))

	g.Expect(h.exportReady("exposures")()).To(Equal("True"))
	g.Expect(conditionOf(d, statsigv1alpha1.ConditionStale).Status).To(Equal(metav1.ConditionFalse))
	g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
	g.Expect(d.Status.LastExportedDate).To(Equal("2026-11-09"))
	g.Expect(d.Status.LastScheduleTime.Time).To(BeTemporally("==", dreStart))
	g.Expect(d.Status.NextScheduleTime.Time).To(BeTemporally("==", time.Date(2026, 11, 11, 11, 0, 0, 0, pacific)))
	g.Expect(entryOf(d, "2026-11-09").Attempts).To(Equal(int32(1)))

	g.Eventually(func() int { return len(h.events("Exported")) }, wait, poll).Should(Equal(1))
	g.Expect(h.events("Exported")[0].Note).To(ContainSubstring(m.Object))
	g.Expect(h.filesExported("exposures")).To(Equal(1.0))
	g.Expect(counterValue(metrics.ExportBytes.WithLabelValues(h.ns, "exposures"))).To(Equal(float64(m.Bytes)))
	g.Expect(h.downloads("2026-11-09")).To(Equal(1))
	for _, r := range h.fake.Requests(statsig.EndpointConsoleReports) {
		g.Expect(r.Key()).To(Equal(h.fake.ConsoleKey))
	}
	h.expectNoKeyLeaks(g, "exposures")
	g.Expect(h.fake.Violations()).To(BeEmpty())
}

// TestDailyReportExportBackfill: ten dates from startDate, three of them not published at first.
// The seven available ones are exported oldest first while the three wait, Ready stays True, and
// once published all ten end Exported, each downloaded and stored exactly once.
func TestDailyReportExportBackfill(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	env := h.export
	h.serverSecret("statsig")
	dates := schedule.Dates("2026-10-31", "2026-11-09")
	g.Expect(dates).To(HaveLen(10))
	late := map[string]bool{"2026-11-01": true, "2026-11-04": true, "2026-11-09": true}
	reports := map[string]statsigtest.ReportContent{}
	for i, date := range dates {
		reports[date] = statsigtest.GeneratedReport(date, int64(500+i), false)
		if !late[date] {
			h.fake.SetReport(reportType, date, reports[date])
		}
	}
	storeURL := fileStore(t)
	h.reportExport("backfill", toStore(storeURL, "", "statsig"), withStartDate("2026-10-31"))

	want := map[string]statsigv1alpha1.DatePhase{}
	for _, date := range dates {
		want[date] = exported
		if late[date] {
			want[date] = pending
		}
	}
	g.Eventually(h.phases("backfill"), wait, poll).Should(Equal(want))
	// Each date was asked for once, oldest first, across passes of at most five dates.
	g.Expect(h.reportRequestDates()).To(Equal(dates))
	d := h.getExport("backfill")
	g.Expect(h.exportReady("backfill")()).To(Equal("True"), "pending dates are normal")
	for date := range late {
		e := entryOf(d, date)
		g.Expect(e.Attempts).To(Equal(int32(1)))
		g.Expect(e.Message).To(ContainSubstring("no first_exposures report for " + date + " yet"))
		g.Expect(e.NextAttemptTime.Time).To(BeTemporally("==", dreStart.Add(time.Minute)), "the first retry comes after a minute")
	}
	g.Expect(d.Status.LastExportedDate).To(Equal("2026-11-08"))

	for date := range late {
		h.fake.SetReport(reportType, date, reports[date])
	}
	env.clock.Step(time.Minute)
	for date := range want {
		want[date] = exported
	}
	g.Eventually(h.phases("backfill"), wait, poll).Should(Equal(want))

	d = h.getExport("backfill")
	var ledger []string
	for _, e := range d.Status.Dates {
		ledger = append(ledger, e.Date)
	}
	g.Expect(ledger).To(Equal(newestFirst("2026-10-31", "2026-11-09")), "the ledger is newest first")
	g.Expect(d.Status.LastExportedDate).To(Equal("2026-11-09"))
	b := openStore(t, storeURL, nil)
	var keys []string
	for _, date := range dates {
		rep := export.Report{Prefix: "statsig", ReportType: reportType, Date: date}
		keys = append(keys, rep.DataKey(export.Gzip), rep.ManifestKey())
		expectStored(t, b, "statsig", date, export.Gzip, csvOf(t, reports[date]), entryOf(d, date))
		g.Expect(h.downloads(date)).To(Equal(1), date)
		wantAttempts := int32(1)
		if late[date] {
			wantAttempts = 2
		}
		g.Expect(entryOf(d, date).Attempts).To(Equal(wantAttempts), date)
	}
	g.Expect(listAll(t, b, "")).To(ConsistOf(keys), "one object and one manifest per date, nothing else")
	g.Expect(h.filesExported("backfill")).To(Equal(10.0))
	g.Eventually(func() int { return len(h.events("Exported")) }, wait, poll).Should(Equal(10))
	for _, date := range dates {
		g.Expect(h.dateEvents("Exported", date)).To(HaveLen(1), date)
	}
	g.Expect(h.exportReady("backfill")()).To(Equal("True"))
}

// TestDailyReportExportFirstRunExportsNewestAvailable: created before Statsig has published
// yesterday's report, a resource exports the newest date that is available at once, and waits for
// the newer dates on their own.
func TestDailyReportExportFirstRunExportsNewestAvailable(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	env := h.export
	reports := map[string]statsigtest.ReportContent{}
	for _, date := range schedule.Dates("2026-11-06", "2026-11-09") {
		reports[date] = statsigtest.GeneratedReport(date, 20, false)
	}
	for _, date := range []string{"2026-11-06", "2026-11-07"} {
		h.fake.SetReport(reportType, date, reports[date])
	}
	// Applied before its Secret, as GitOps tools may: the first pass stops before any attempt.
	h.reportExport("fresh", toStore(fileStore(t), "", ""))
	g.Eventually(h.exportReady("fresh"), wait, poll).Should(Equal(statsigv1alpha1.ReasonSecretNotFound))
	h.serverSecret("statsig")

	// The first attempt asks newest first down to the first available date and exports that one;
	// nothing older is touched. The date in between is then a gap like any other: Pending.
	g.Eventually(h.phases("fresh"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{
		"2026-11-09": pending, "2026-11-08": pending, "2026-11-07": exported,
	}))
	g.Expect(h.reportRequestDates()).To(Equal([]string{"2026-11-09", "2026-11-08", "2026-11-07", "2026-11-08"}))
	d := h.getExport("fresh")
	g.Expect(d.Status.LastExportedDate).To(Equal("2026-11-07"))
	g.Expect(entryOf(d, "2026-11-07").Attempts).To(Equal(int32(1)))
	g.Expect(h.downloads("2026-11-06")).To(BeZero())
	g.Expect(h.exportReady("fresh")()).To(Equal("True"))

	// The newer reports arrive: their retries export them, and nothing older is asked for again.
	h.fake.SetReport(reportType, "2026-11-08", reports["2026-11-08"])
	h.fake.SetReport(reportType, "2026-11-09", reports["2026-11-09"])
	env.clock.Step(time.Minute)
	g.Eventually(h.phases("fresh"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{
		"2026-11-09": exported, "2026-11-08": exported, "2026-11-07": exported,
	}))
	g.Expect(h.reportRequestDates()).To(Equal([]string{"2026-11-09", "2026-11-08", "2026-11-07", "2026-11-08", "2026-11-08", "2026-11-09"}))
}

// TestDailyReportExportGivesUpAfterTheDeadline: a date that never arrives is retried with growing
// backoff, then Failed with an Event once availabilityDeadline has passed.
func TestDailyReportExportGivesUpAfterTheDeadline(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	env := h.export
	h.serverSecret("statsig")
	h.reportExport("late", toStore(fileStore(t), "", ""))

	g.Eventually(h.phases("late"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": pending}))
	g.Expect(h.exportReady("late")()).To(Equal("True"))
	env.clock.Step(time.Minute)
	g.Eventually(func() int32 { return entryOf(h.getExport("late"), "2026-11-09").Attempts }, wait, poll).Should(Equal(int32(2)))
	e := entryOf(h.getExport("late"), "2026-11-09")
	g.Expect(e.NextAttemptTime.Time).To(BeTemporally("==", dreStart.Add(3*time.Minute)), "the second retry waits two minutes")
	g.Expect(e.FirstAttemptTime.Time).To(BeTemporally("==", dreStart))

	env.clock.Step(24 * time.Hour)
	g.Eventually(func() statsigv1alpha1.DatePhase { return h.phases("late")()["2026-11-09"] }, wait, poll).Should(Equal(failed))
	d := h.getExport("late")
	e = entryOf(d, "2026-11-09")
	g.Expect(e.Message).To(ContainSubstring("still not available 24h0m0s after the first attempt"))
	g.Expect(e.NextAttemptTime).To(BeNil())
	g.Expect(h.exportReady("late")()).To(Equal(statsigv1alpha1.ReasonExportFailed))
	g.Expect(conditionOf(d, statsigv1alpha1.ConditionStale).Status).To(Equal(metav1.ConditionTrue))
	// One Event for the date (and one for Ready turning False).
	g.Eventually(func() int { return len(h.dateEvents(statsigv1alpha1.ReasonExportFailed, "2026-11-09")) }, wait, poll).Should(Equal(1))
	g.Expect(h.dateEvents(statsigv1alpha1.ReasonExportFailed, "2026-11-09")[0].Type).To(Equal(corev1.EventTypeWarning))
	// The clock passed 11:00 on the 11th: that run's date waits on its own, not held back.
	g.Expect(h.phases("late")()).To(HaveKeyWithValue("2026-11-10", pending))

	// requested-at starts a Failed date over.
	h.fake.SetReport(reportType, "2026-11-09", statsigtest.GeneratedReport("2026-11-09", 10, false))
	h.requestExportSync(g, "late")
	g.Eventually(func() statsigv1alpha1.DatePhase { return h.phases("late")()["2026-11-09"] }, wait, poll).Should(Equal(exported))
}

// TestDailyReportExportFaults breaks transfers halfway, against MinIO: the download, the store,
// and the operator itself. Each time nothing appears under the final key until a whole object is
// there, the ledger ends right, and the date is stored once.
func TestDailyReportExportFaults(t *testing.T) {
	s := testservers.StartMinIO(t)
	storeURL := s.URL(s.Bucket)
	csv := csvOf(t, statsigtest.GeneratedReport("2026-11-09", 120_000, false)) // ~24 MiB: several S3 parts

	t.Run("download-reset-halfway", func(t *testing.T) {
		g := NewWithT(t)
		h := newHarness(t)
		env := h.export
		h.serverSecret("statsig")
		h.storeSecret("store", s.Credentials())
		h.fake.SetReport(reportType, "2026-11-09", resetOnceAt(csv, len(csv)/2))
		h.reportExport("reset", toStore(storeURL, "store", "reset"), withCompression(statsigv1alpha1.CompressionNone))

		g.Eventually(h.exportReady("reset"), wait, poll).Should(Equal(statsigv1alpha1.ReasonExportFailed))
		d := h.getExport("reset")
		e := entryOf(d, "2026-11-09")
		g.Expect(e.Phase).To(Equal(pending))
		g.Expect(e.Attempts).To(Equal(int32(1)))
		g.Expect(e.Message).To(ContainSubstring("Attempt 1 failed"))
		g.Expect(conditionOf(d, statsigv1alpha1.ConditionStale).Status).To(Equal(metav1.ConditionTrue))
		b := openStore(t, storeURL, s.Credentials())
		g.Expect(listAll(t, b, "reset/")).To(BeEmpty(), "a reset download leaves nothing behind")

		env.clock.Step(time.Minute)
		g.Eventually(h.phases("reset"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
		g.Eventually(h.exportReady("reset"), wait, poll).Should(Equal("True"))
		expectStored(t, b, "reset", "2026-11-09", export.None, csv, entryOf(h.getExport("reset"), "2026-11-09"))
		g.Expect(h.downloads("2026-11-09")).To(Equal(2))
		g.Expect(h.filesExported("reset")).To(Equal(1.0))
	})

	t.Run("store-fails-halfway", func(t *testing.T) {
		g := NewWithT(t)
		h := newHarness(t)
		env := h.export
		h.serverSecret("statsig")
		h.storeSecret("store", s.Credentials())
		half := newGate(len(csv) / 2)
		defer half.Release()
		h.fake.SetReport(reportType, "2026-11-09", half.report(csv))
		h.reportExport("store", toStore(storeURL, "store", "store"), withCompression(statsigv1alpha1.CompressionNone))
		b := openStore(t, storeURL, s.Credentials())
		rep := export.Report{Prefix: "store", ReportType: reportType, Date: "2026-11-09"}

		waitForGate(t, half)
		g.Expect(exists(t, b, rep.DataKey(export.None))).To(BeFalse(), "nothing under the final key mid-transfer")
		s.Stop()
		half.Release()
		g.Eventually(h.exportReady("store"), 2*time.Minute, poll).Should(Equal(statsigv1alpha1.ReasonExportFailed))
		s.Restart(t)
		g.Expect(listAll(t, b, "store/")).To(BeEmpty(), "a failed upload leaves nothing behind")
		e := entryOf(h.getExport("store"), "2026-11-09")
		g.Expect(e.Phase).To(Equal(pending))
		g.Expect(e.Attempts).To(Equal(int32(1)))

		env.clock.Step(time.Minute)
		g.Eventually(h.phases("store"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
		expectStored(t, b, "store", "2026-11-09", export.None, csv, entryOf(h.getExport("store"), "2026-11-09"))
		g.Expect(h.downloads("2026-11-09")).To(Equal(2))
		g.Expect(h.filesExported("store")).To(Equal(1.0))
	})

	t.Run("operator-stopped-mid-transfer", func(t *testing.T) {
		g := NewWithT(t)
		h := newHarness(t)
		h.serverSecret("statsig")
		h.storeSecret("store", s.Credentials())
		half := newGate(len(csv) / 2)
		defer half.Release()
		h.fake.SetReport(reportType, "2026-11-09", half.report(csv))
		h.reportExport("crash", toStore(storeURL, "store", "crash"), withCompression(statsigv1alpha1.CompressionNone))
		b := openStore(t, storeURL, s.Credentials())
		rep := export.Report{Prefix: "crash", ReportType: reportType, Date: "2026-11-09"}

		waitForGate(t, half)
		h.stop() // cancels the transfer; its status write is lost with it
		half.Release()
		g.Expect(listAll(t, b, "crash/")).To(BeEmpty(), "an interrupted upload leaves nothing behind")
		g.Expect(h.getExport("crash").Status.LastExportedDate).To(BeEmpty())

		h.startManager()
		g.Eventually(h.phases("crash"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
		m := expectStored(t, b, "crash", "2026-11-09", export.None, csv, entryOf(h.getExport("crash"), "2026-11-09"))
		g.Expect(h.downloads("2026-11-09")).To(Equal(2))
		g.Expect(h.filesExported("crash")).To(Equal(1.0))
		attrs, err := b.Attributes(context.Background(), rep.DataKey(export.None))
		g.Expect(err).NotTo(HaveOccurred())

		// And once more, now that it is done: a requested run finds nothing to do.
		h.requestExportSync(g, "crash")
		g.Expect(h.downloads("2026-11-09")).To(Equal(2))
		again, err := export.ReadManifest(context.Background(), b, rep)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(again).To(Equal(m))
		after, err := b.Attributes(context.Background(), rep.DataKey(export.None))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(after.ETag).To(Equal(attrs.ETag))
	})
}

// TestDailyReportExportNeverExportsADateTwice: with the ledger lost (a crash after the manifest,
// before the status write), the manifest alone keeps the date from being exported again.
func TestDailyReportExportNeverExportsADateTwice(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	h.fake.SetReport(reportType, "2026-11-09", statsigtest.GeneratedReport("2026-11-09", 1000, false))
	storeURL := fileStore(t)
	h.reportExport("once", toStore(storeURL, "", "once"))
	g.Eventually(h.phases("once"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
	b := openStore(t, storeURL, nil)
	rep := export.Report{Prefix: "once", ReportType: reportType, Date: "2026-11-09"}
	manifestBefore, err := b.ReadAll(context.Background(), rep.ManifestKey())
	g.Expect(err).NotTo(HaveOccurred())
	attrsBefore, err := b.Attributes(context.Background(), rep.DataKey(export.Gzip))
	g.Expect(err).NotTo(HaveOccurred())
	calls := h.fake.Count(statsig.EndpointConsoleReports)

	d := h.getExport("once")
	d.Status = statsigv1alpha1.DailyReportExportStatus{}
	g.Expect(k8s.Status().Update(context.Background(), d)).To(Succeed())

	g.Eventually(func() string {
		e := entryOf(h.getExport("once"), "2026-11-09")
		if e == nil || e.Phase != exported {
			return ""
		}
		return e.Message
	}, wait, poll).Should(ContainSubstring("not exported again"))
	g.Expect(h.fake.Count(statsig.EndpointConsoleReports)).To(Equal(calls), "Statsig was not asked again")
	g.Expect(h.downloads("2026-11-09")).To(Equal(1))
	g.Expect(h.filesExported("once")).To(Equal(1.0))
	manifestAfter, err := b.ReadAll(context.Background(), rep.ManifestKey())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(manifestAfter).To(Equal(manifestBefore))
	attrsAfter, err := b.Attributes(context.Background(), rep.DataKey(export.Gzip))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(attrsAfter.ModTime).To(Equal(attrsBefore.ModTime))
	expectStored(t, b, "once", "2026-11-09", export.Gzip, csvOf(t, statsigtest.GeneratedReport("2026-11-09", 1000, false)), entryOf(h.getExport("once"), "2026-11-09"))
}

// TestDailyReportExportLegacySource: the Legacy endpoint serves only its latest date, with the
// server secret key; an older latest date is exported and the wanted one waits for its turn.
func TestDailyReportExportLegacySource(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	env := h.export
	h.serverSecret("statsig")
	older := statsigtest.GeneratedReport("2026-11-08", 700, false)
	h.fake.SetLegacyReport(reportType, "2026-11-08", older)
	storeURL := fileStore(t)
	h.reportExport("legacy", toStore(storeURL, "", ""), withLegacySource())

	g.Eventually(h.phases("legacy"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-08": exported, "2026-11-09": pending}))
	g.Expect(entryOf(h.getExport("legacy"), "2026-11-09").Message).To(ContainSubstring("latest first_exposures report is for 2026-11-08"))
	g.Expect(h.exportReady("legacy")()).To(Equal("True"))

	newer := statsigtest.GeneratedReport("2026-11-09", 900, true)
	h.fake.SetLegacyReport(reportType, "2026-11-09", newer)
	env.clock.Step(time.Minute)
	g.Eventually(h.phases("legacy"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-08": exported, "2026-11-09": exported}))

	b := openStore(t, storeURL, nil)
	d := h.getExport("legacy")
	expectStored(t, b, "", "2026-11-08", export.Gzip, csvOf(t, older), entryOf(d, "2026-11-08"))
	expectStored(t, b, "", "2026-11-09", export.Gzip, csvOf(t, newer), entryOf(d, "2026-11-09"))
	g.Expect(h.fake.Count(statsig.EndpointConsoleReports)).To(BeZero())
	for _, r := range h.fake.Requests(statsig.EndpointGetDailyReport) {
		g.Expect(r.Key()).To(Equal(h.fake.ServerKey))
	}
	h.expectNoKeyLeaks(g, "legacy")
}

// TestDailyReportExportToConfigMap: a small report lands in the ConfigMap as binary data; one
// that does not fit fails with ConfigMapTooLarge and leaves the ConfigMap as it was.
func TestDailyReportExportToConfigMap(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	small := statsigtest.GeneratedReport("2026-11-08", 200, false)
	h.fake.SetReport(reportType, "2026-11-08", small)
	big := statsigtest.GeneratedReport("2026-11-09", 8_000, false) // about 1.5 MiB of CSV
	h.fake.SetReport(reportType, "2026-11-09", big)
	g.Expect(len(csvOf(t, big))).To(BeNumerically(">", 1<<20))
	dre := h.reportExport("small", toConfigMap("small-reports"), withStartDate("2026-11-08"), withCompression(statsigv1alpha1.CompressionNone))

	g.Eventually(h.phases("small"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-08": exported, "2026-11-09": failed}))
	cm, err := h.configMap("small-reports")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.BinaryData).To(HaveLen(1))
	g.Expect(cm.BinaryData["first_exposures-2026-11-08.csv"]).To(Equal(csvOf(t, small)))
	g.Expect(cm.Labels).To(HaveKeyWithValue(statsigv1alpha1.LabelOwnerKind, "DailyReportExport"))
	g.Expect(cm.OwnerReferences).To(ConsistOf(HaveField("UID", dre.UID)))
	d := h.getExport("small")
	e := entryOf(d, "2026-11-08")
	g.Expect(e.Object).To(Equal("first_exposures-2026-11-08.csv"))
	g.Expect(e.SHA256).To(Equal(sha256Hex(csvOf(t, small))))
	g.Expect(e.Rows).To(Equal(int64(200)))
	g.Expect(entryOf(d, "2026-11-09").Message).To(ContainSubstring("does not fit ConfigMap"))
	g.Expect(h.exportReady("small")()).To(Equal(statsigv1alpha1.ReasonConfigMapTooLarge))
	g.Expect(conditionOf(d, statsigv1alpha1.ConditionStale).Status).To(Equal(metav1.ConditionTrue))
	g.Eventually(func() int { return len(h.dateEvents(statsigv1alpha1.ReasonConfigMapTooLarge, "2026-11-09")) }, wait, poll).Should(Equal(1))
	g.Expect(h.writes.Get("ConfigMap/create")+h.writes.Get("ConfigMap/update")).To(Equal(1), "the ConfigMap was written once, for the date that fits")
}

// TestDailyReportExportToConfigMapGzip: with Gzip (the default) the ConfigMap holds the .csv.gz.
// A ConfigMap destination that exists and is not the resource's own is TargetConflict before
// anything is downloaded, and is left as it was.
func TestDailyReportExportToSomeoneElsesConfigMap(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	h.fake.SetReport(reportType, "2026-11-09", statsigtest.GeneratedReport("2026-11-09", 20, false))
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "reports"}, Data: map[string]string{"keep": "me"}}
	g.Expect(k8s.Create(context.Background(), theirs)).To(Succeed())
	h.reportExport("theirs", toConfigMap("reports"))

	g.Eventually(h.exportReady("theirs"), wait, poll).Should(Equal(statsigv1alpha1.ReasonTargetConflict))
	g.Expect(conditionOf(h.getExport("theirs"), statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("was not created by this DailyReportExport"))
	g.Expect(h.downloads("2026-11-09")).To(BeZero())
	got, err := h.configMap("reports")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.ResourceVersion).To(Equal(theirs.ResourceVersion))
	g.Expect(got.Data).To(Equal(map[string]string{"keep": "me"}))
}

func TestDailyReportExportToConfigMapGzip(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	report := statsigtest.GeneratedReport("2026-11-09", 3_000, false)
	h.fake.SetReport(reportType, "2026-11-09", report)
	h.reportExport("zipped", toConfigMap("zipped-reports"))
	g.Eventually(h.phases("zipped"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
	cm, err := h.configMap("zipped-reports")()
	g.Expect(err).NotTo(HaveOccurred())
	stored := cm.BinaryData["first_exposures-2026-11-09.csv.gz"]
	g.Expect(gunzipAll(t, stored)).To(Equal(csvOf(t, report)))
	g.Expect(entryOf(h.getExport("zipped"), "2026-11-09").SHA256).To(Equal(sha256Hex(stored)))
	g.Expect(h.exportReady("zipped")()).To(Equal("True"))
}

// TestDailyReportExportFileRefusedWithoutTheFlag: file:// is refused before any Secret is read or
// Statsig is called.
func TestDailyReportExportFileRefusedWithoutTheFlag(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, withFileDestinations(false))
	// No Secret at all: the refusal must not depend on one.
	h.reportExport("local", toStore(fileStore(t), "", ""))
	g.Eventually(h.exportReady("local"), wait, poll).Should(Equal(statsigv1alpha1.ReasonDestinationNotAllowed))
	d := h.getExport("local")
	g.Expect(conditionOf(d, statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("--allow-file-destinations"))
	g.Expect(entryOf(d, "2026-11-09").Phase).To(Equal(pending))
	g.Expect(h.fake.Count(statsigtest.AllEndpoints)).To(BeZero())
	g.Eventually(func() int { return len(h.events(statsigv1alpha1.ReasonDestinationNotAllowed)) }, wait, poll).Should(Equal(1))
}

// TestDailyReportExportRefusesHTTPDownloadURL: a report URL that is not https is never fetched.
func TestDailyReportExportRefusesHTTPDownloadURL(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	var fetched atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte("a,b\n1,2\n"))
	}))
	defer plain.Close()
	h.fake.Fault(statsig.EndpointConsoleReports, statsigtest.Fault{Status: http.StatusOK,
		Body: `{"message":"Report URL generated successfully","data":[{"url":"` + plain.URL + `/first_exposures.csv"}]}`})
	storeURL := fileStore(t)
	h.reportExport("plain", toStore(storeURL, "", ""))

	g.Eventually(h.exportReady("plain"), wait, poll).Should(Equal(statsigv1alpha1.ReasonInvalidResponse))
	d := h.getExport("plain")
	g.Expect(conditionOf(d, statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("must be https"))
	g.Expect(entryOf(d, "2026-11-09").Phase).To(Equal(pending))
	g.Expect(fetched.Load()).To(BeZero())
	g.Expect(listAll(t, openStore(t, storeURL, nil), "")).To(BeEmpty())
}

// TestDailyReportExportUnauthorized: a key Statsig refuses stops the pass with the contract's
// reason, never quoting the key; a fixed key exports on the next attempt.
func TestDailyReportExportUnauthorized(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	env := h.export
	h.serverSecret("statsig")
	h.fake.SetReport(reportType, "2026-11-09", statsigtest.GeneratedReport("2026-11-09", 10, false))
	h.fake.Fault(statsig.EndpointConsoleReports, statsigtest.Fault{Status: http.StatusUnauthorized})
	h.reportExport("denied", toStore(fileStore(t), "", ""))
	g.Eventually(h.exportReady("denied"), wait, poll).Should(Equal(statsigv1alpha1.ReasonStatsigUnauthorized))
	h.expectNoKeyLeaks(g, "denied")
	g.Expect(entryOf(h.getExport("denied"), "2026-11-09").Phase).To(Equal(pending))

	h.fake.ClearFaults()
	env.clock.Step(time.Minute)
	g.Eventually(h.exportReady("denied"), wait, poll).Should(Equal("True"))
	g.Expect(h.phases("denied")()).To(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
	g.Expect(conditionOf(h.getExport("denied"), statsigv1alpha1.ConditionStale).Status).To(Equal(metav1.ConditionFalse))
}

// TestDailyReportExportSchedule follows the cron in its time zone across restarts and a suspend:
// each run happens once, a run that fell due while the operator was down happens when it is back,
// and a run that fell due while suspended is not made up.
func TestDailyReportExportSchedule(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	env := h.export
	h.serverSecret("statsig")
	for _, date := range []string{"2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13"} {
		h.fake.SetReport(reportType, date, statsigtest.GeneratedReport(date, 50, false))
	}
	h.reportExport("daily", toStore(fileStore(t), "", ""))
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, pacific) }
	runs := func() int { return h.fake.Count(statsig.EndpointConsoleReports) }
	scheduleTimes := func() []time.Time {
		d := h.getExport("daily")
		out := []time.Time{{}, {}}
		if d.Status.LastScheduleTime != nil {
			out[0] = d.Status.LastScheduleTime.Time
		}
		if d.Status.NextScheduleTime != nil {
			out[1] = d.Status.NextScheduleTime.Time
		}
		return out
	}
	sameInstants := func(want ...time.Time) func() bool {
		return func() bool {
			got := scheduleTimes()
			return got[0].Equal(want[0]) && got[1].Equal(want[1])
		}
	}

	// Created at noon: the first run at once, the next at 11:00 tomorrow.
	g.Eventually(h.phases("daily"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
	g.Eventually(sameInstants(dreStart, at(11, 11, 0)), wait, poll).Should(BeTrue())
	g.Expect(runs()).To(Equal(1))

	env.clock.SetTime(at(11, 10, 59))
	g.Consistently(runs, time.Second, poll).Should(Equal(1), "not before 11:00")
	env.clock.SetTime(at(11, 11, 1))
	g.Eventually(h.phases("daily"), wait, poll).Should(HaveKeyWithValue("2026-11-10", exported))
	g.Eventually(sameInstants(at(11, 11, 0), at(12, 11, 0)), wait, poll).Should(BeTrue())
	g.Expect(runs()).To(Equal(2))

	// A restart right after the run does not run it again.
	h.stop()
	h.startManager()
	g.Consistently(runs, time.Second, poll).Should(Equal(2), "a restart runs nothing twice")

	// Down across 11:00 on the 12th: the run happens when the operator is back.
	h.stop()
	env.clock.SetTime(at(12, 15, 0))
	h.startManager()
	g.Eventually(h.phases("daily"), wait, poll).Should(HaveKeyWithValue("2026-11-11", exported))
	g.Eventually(sameInstants(at(12, 11, 0), at(13, 11, 0)), wait, poll).Should(BeTrue())
	g.Expect(runs()).To(Equal(3))

	// Suspended across 11:00 on the 13th: nothing runs, and resuming does not make it up.
	setSuspend := func(v bool) {
		d := h.getExport("daily")
		d.Spec.Suspend = v
		g.Expect(k8s.Update(context.Background(), d)).To(Succeed())
	}
	setSuspend(true)
	g.Eventually(func() *metav1.Time { return h.getExport("daily").Status.NextScheduleTime }, wait, poll).Should(BeNil())
	env.clock.SetTime(at(13, 12, 0))
	g.Eventually(func() time.Time { return scheduleTimes()[0] }, wait, poll).Should(BeTemporally("==", at(13, 11, 0)))
	setSuspend(false)
	g.Eventually(sameInstants(at(13, 11, 0), at(14, 11, 0)), wait, poll).Should(BeTrue())
	g.Consistently(runs, time.Second, poll).Should(Equal(3), "the run missed while suspended is not made up")
	g.Expect(h.phases("daily")()).NotTo(HaveKey("2026-11-12"))

	// The next fire time runs as usual, and backfills the date the suspended run would have had:
	// without startDate, the ledger's first date is where gaps are filled from.
	env.clock.SetTime(at(14, 11, 30))
	g.Eventually(h.phases("daily"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{
		"2026-11-09": exported, "2026-11-10": exported, "2026-11-11": exported, "2026-11-12": exported, "2026-11-13": exported,
	}))
}

// TestDailyReportExportRetention deletes this resource's objects for dates past the limit and
// nothing else, and does not backfill dates that retention would delete.
func TestDailyReportExportRetention(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	storeURL := fileStore(t)
	b := openStore(t, storeURL, nil)
	ctx := context.Background()
	// What an earlier export by this resource (by name: say it was deleted and applied again) left:
	// an old date and a recent one; an old date another resource exported to the same prefix; and
	// objects that are not exports at all.
	for date, writer := range map[string]string{
		"2026-11-01": "DailyReportExport/" + h.ns + "/kept",
		"2026-11-08": "DailyReportExport/" + h.ns + "/kept",
		"2026-11-02": "DailyReportExport/" + h.ns + "/other",
	} {
		_, err := export.Export(ctx, b, export.Report{Prefix: "statsig", ReportType: reportType, Date: date, ExportedBy: writer}, export.Gzip,
			strings.NewReader("a,b\n1,2\n"), h.export.clock)
		g.Expect(err).NotTo(HaveOccurred())
	}
	others := []string{"statsig/first_exposures/notes.txt", "statsig/pulse_daily/dt=2026-11-01/_manifest.json", "elsewhere/first_exposures-2026-11-01.csv",
		"statsig/first_exposures/dt=2026-11-02/first_exposures-2026-11-02.csv.gz", "statsig/first_exposures/dt=2026-11-02/_manifest.json"}
	for _, key := range others[:3] {
		g.Expect(b.WriteAll(ctx, key, []byte("keep me"), nil)).To(Succeed())
	}
	for _, date := range []string{"2026-11-07", "2026-11-09"} {
		h.fake.SetReport(reportType, date, statsigtest.GeneratedReport(date, 20, false))
	}
	// Three days kept at noon on the 10th: the 7th is the oldest date kept.
	h.reportExport("kept", toStore(storeURL, "", "statsig"), withStartDate("2026-11-01"), withRetentionDays(3))

	g.Eventually(h.phases("kept"), wait, poll).Should(Equal(map[string]statsigv1alpha1.DatePhase{
		"2026-11-07": exported, "2026-11-08": exported, "2026-11-09": exported,
	}))
	g.Expect(slices.Min(h.reportRequestDates())).To(Equal("2026-11-07"), "nothing older than the cutoff was asked for")
	g.Expect(h.downloads("2026-11-08")).To(BeZero(), "the 8th was already exported")
	g.Eventually(func() []string { return listAll(t, b, "") }, wait, poll).Should(ConsistOf(append(others,
		"statsig/first_exposures/dt=2026-11-07/first_exposures-2026-11-07.csv.gz", "statsig/first_exposures/dt=2026-11-07/_manifest.json",
		"statsig/first_exposures/dt=2026-11-08/first_exposures-2026-11-08.csv.gz", "statsig/first_exposures/dt=2026-11-08/_manifest.json",
		"statsig/first_exposures/dt=2026-11-09/first_exposures-2026-11-09.csv.gz", "statsig/first_exposures/dt=2026-11-09/_manifest.json",
	)))
	g.Eventually(func() int { return len(h.events("RetentionApplied")) }, wait, poll).Should(Equal(1))
}

// TestDailyReportExportDeletedKeepsExports: deleting the resource drops its series and never
// touches what it exported.
func TestDailyReportExportDeletedKeepsExports(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	h.fake.SetReport(reportType, "2026-11-09", statsigtest.GeneratedReport("2026-11-09", 10, false))
	storeURL := fileStore(t)
	h.reportExport("gone", toStore(storeURL, "", ""))
	g.Eventually(h.phases("gone"), wait, poll).Should(HaveKeyWithValue("2026-11-09", exported))
	g.Expect(seriesIn(metrics.ExportFiles, h.ns)).To(Equal(1))
	g.Expect(k8s.Delete(context.Background(), h.getExport("gone"))).To(Succeed())
	g.Eventually(func() int { return seriesIn(metrics.ExportFiles, h.ns) }, wait, poll).Should(BeZero())
	g.Expect(seriesIn(metrics.ExportLastSuccess, h.ns)).To(BeZero())
	g.Expect(listAll(t, openStore(t, storeURL, nil), "")).To(HaveLen(2))
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: "gone"}, &statsigv1alpha1.DailyReportExport{})
	g.Expect(err).To(HaveOccurred())
}

// TestDailyReportExportInvalidSchedule: a schedule the CRD lets through but cron refuses is
// InvalidSpec without a call to Statsig; fixing it exports at once.
func TestDailyReportExportInvalidSchedule(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.serverSecret("statsig")
	h.fake.SetReport(reportType, "2026-11-09", statsigtest.GeneratedReport("2026-11-09", 10, false))
	h.reportExport("typo", toStore(fileStore(t), "", ""), func(d *statsigv1alpha1.DailyReportExport) { d.Spec.Schedule = "61 11 * * *" })
	g.Eventually(h.exportReady("typo"), wait, poll).Should(Equal(statsigv1alpha1.ReasonInvalidSpec))
	d := h.getExport("typo")
	g.Expect(conditionOf(d, statsigv1alpha1.ConditionReady).Message).To(ContainSubstring("spec.schedule"))
	g.Expect(d.Status.NextScheduleTime).To(BeNil())
	g.Expect(h.fake.Count(statsigtest.AllEndpoints)).To(BeZero())

	d.Spec.Schedule = "1 11 * * *"
	g.Expect(k8s.Update(context.Background(), d)).To(Succeed())
	g.Eventually(h.exportReady("typo"), wait, poll).Should(Equal("True"))
	g.Expect(h.phases("typo")()).To(Equal(map[string]statsigv1alpha1.DatePhase{"2026-11-09": exported}))
	g.Expect(h.getExport("typo").Status.ObservedGeneration).To(Equal(int64(2)))
}
