package controllers

// The export pass: one reconcile's attempts of the dates that are due, against the destination
// (a bucket or a ConfigMap) and Statsig. The reconciler in dailyreportexport_controller.go decides
// which dates are due; the ledger and the destinations' pure parts live in internal/export.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// pass is one reconcile's attempts: it opens the destination and the Statsig client on first use
// and closes them at the end.
type pass struct {
	r   *DailyReportExportReconciler
	dre *statsigv1alpha1.DailyReportExport
	sp  exportSpec
	led *export.Ledger

	opened  bool
	bucket  *blob.Bucket
	cm      *configMapFiles
	reports reportSource

	// dateFailure is the last date given up on in this pass (it makes Ready False).
	dateFailure *conditions.Failure
	// lookBackFrom is the newest date of a resource that has exported nothing yet, before its first
	// attempt: when it is not available, the pass exports the newest date before it that is (see
	// lookBack).
	lookBackFrom string

	// watch shows a long pass in Reconciling: the date being exported and the bytes downloaded.
	watch       *progressWatch
	date        atomic.Pointer[string]
	transferred atomic.Int64
}

// progress says what the pass is doing, for Reconciling.
func (p *pass) progress() string {
	date := ""
	if d := p.date.Load(); d != nil {
		date = *d
	}
	return fmt.Sprintf("Exporting %s %s: %d bytes downloaded", p.dre.Spec.ReportType, date, p.transferred.Load())
}

// begin marks the start of one date's export.
func (p *pass) begin(date string) {
	p.date.Store(&date)
	p.transferred.Store(0)
	p.watch.begin(p.progress)
}

// counted counts what is read from a download, for progress.
func (p *pass) counted(body io.ReadCloser) io.ReadCloser {
	return countingReader{ReadCloser: body, n: &p.transferred}
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (p *pass) close() {
	if p.bucket != nil {
		_ = p.bucket.Close()
	}
}

// run attempts the due dates, oldest first, and applies retention on a scheduled run. A failure
// that is not a date's own (credentials, Statsig, the store) stops the pass: every remaining due
// date then waits as long as the failed one.
func (p *pass) run(ctx context.Context, work []*statsigv1alpha1.ExportedDate, ran bool) error {
	if err := p.open(ctx); err != nil {
		p.deferAll(work, err)
		return err
	}
	if ran && p.sp.cutoff != "" {
		if err := p.retention(ctx); err != nil {
			return err
		}
	}
	for i, e := range work {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.sp.cutoff != "" && e.Date < p.sp.cutoff {
			p.led.Remove(e.Date)
			continue
		}
		if err := p.attempt(ctx, e); err != nil {
			p.deferAll(work[i+1:], err)
			return err
		}
	}
	if p.lookBackFrom != "" {
		// Only once its first attempt, in this pass, found it not available.
		if e := p.led.Get(p.lookBackFrom); e != nil && e.Phase == statsigv1alpha1.PhasePending && e.Attempts > 0 {
			return p.lookBack(ctx, p.lookBackFrom)
		}
	}
	return nil
}

// lookBack finds the newest available date before newest, which is not available yet, and exports
// it: on creation a resource exports the newest available date at once, rather than nothing until
// Statsig publishes yesterday's report. It records only the date it exports; the dates between
// that one and the newest then fill in as Pending like any gap. It looks at most lookBackDates back.
func (p *pass) lookBack(ctx context.Context, newest string) error {
	for i := 1; i <= lookBackDates; i++ {
		date := schedule.AddDays(newest, -i)
		if (p.sp.cutoff != "" && date < p.sp.cutoff) || p.led.Get(date) != nil {
			return nil // retention would delete it, or the ledger already works on it
		}
		res, err := p.exportDate(ctx, date)
		if err == nil && res.manifest == nil && res.failed == nil {
			continue // not available either
		}
		e := p.led.Add(date)
		e.FirstAttemptTime = metaTimeAt(p.r.Clock.Now())
		e.Attempts = 1
		return p.settle(ctx, e, res, err)
	}
	return nil
}

// deferAll gives dates that a pass-stopping failure kept from their attempt the same wait as the
// date that failed, without counting an attempt.
func (p *pass) deferAll(work []*statsigv1alpha1.ExportedDate, err error) {
	f := conditions.Classify(err)
	now := p.r.Clock.Now()
	for _, e := range work {
		if e.Phase != statsigv1alpha1.PhasePending {
			continue
		}
		e.NextAttemptTime = metaTimeAt(now.Add(p.r.backoff(max(e.Attempts, 1), f.RetryAfter)))
		e.Message = "Waiting: " + f.Message
	}
}

// open opens the destination, then the Statsig client, so that a destination the operator refuses
// is reported without reading any Secret.
func (p *pass) open(ctx context.Context) error {
	if p.opened {
		return nil
	}
	dre := p.dre
	if d := dre.Spec.Destination.ObjectStore; d != nil {
		b, err := p.r.openBucket(ctx, dre.Namespace, d)
		if err != nil {
			return err
		}
		p.bucket = b
	} else {
		cm, err := p.r.loadConfigMap(ctx, dre)
		if err != nil {
			return err
		}
		p.cm = cm
	}
	keyName := statsigv1alpha1.SecretKeyConsole
	if dre.Spec.Source == statsigv1alpha1.SourceLegacy {
		keyName = statsigv1alpha1.SecretKeyServer
	}
	creds, err := p.r.Credentials.Resolve(ctx, dre.Namespace, credentials.LocalRef(dre.Namespace, dre.Spec.SecretRef))
	if err != nil {
		return err
	}
	key, err := creds.Key(keyName)
	if err != nil {
		return err
	}
	p.reports = p.r.Reports(key)
	p.opened = true
	return nil
}

func (r *DailyReportExportReconciler) openBucket(ctx context.Context, namespace string, d *statsigv1alpha1.ObjectStoreDestination) (*blob.Bucket, error) {
	u, err := objectstore.ParseURL(d.URL)
	if err != nil {
		return nil, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, err.Error())
	}
	if u.Scheme == objectstore.SchemeFile && !r.ObjectStore.AllowFile {
		// Checked before any Secret is read: the refusal does not depend on one.
		return nil, conditions.Permanent(statsigv1alpha1.ReasonDestinationNotAllowed,
			"file:// destinations are disabled in this operator (--allow-file-destinations)")
	}
	var creds map[string][]byte
	if ref := d.CredentialsSecretRef; ref != nil {
		c, err := r.Credentials.Resolve(ctx, namespace, &types.NamespacedName{Namespace: namespace, Name: ref.Name})
		if err != nil {
			return nil, err
		}
		creds = c.Data()
		if creds == nil {
			// A named Secret without data is still a Secret: never fall back to ambient credentials.
			creds = map[string][]byte{}
		}
	}
	b, err := objectstore.Open(ctx, objectstore.Destination{URL: d.URL, Credentials: creds}, r.ObjectStore)
	switch {
	case errors.Is(err, objectstore.ErrNotAllowed):
		return nil, conditions.Permanent(statsigv1alpha1.ReasonDestinationNotAllowed, err.Error())
	case errors.Is(err, objectstore.ErrInvalidDestination):
		return nil, conditions.Permanent(statsigv1alpha1.ReasonDestinationError, err.Error())
	case err != nil:
		return nil, destinationError(err)
	}
	return b, nil
}

// attempt tries one date. It returns an error only for a failure that is not the date's own; the
// date's outcome (exported, not available yet, given up) is written to its ledger entry.
func (p *pass) attempt(ctx context.Context, e *statsigv1alpha1.ExportedDate) error {
	now := p.r.Clock.Now()
	if e.FirstAttemptTime == nil {
		e.FirstAttemptTime = metaTimeAt(now)
	}
	e.Attempts++
	res, err := p.exportDate(ctx, e.Date)
	return p.settle(ctx, e, res, err)
}

// settle writes one attempt's outcome to the date's ledger entry; it returns err when the failure
// is not the date's own.
func (p *pass) settle(ctx context.Context, e *statsigv1alpha1.ExportedDate, res dateResult, err error) error {
	log := logf.FromContext(ctx).WithValues("date", e.Date)
	now := p.r.Clock.Now()
	if err != nil {
		f := conditions.Classify(err)
		e.NextAttemptTime = metaTimeAt(now.Add(p.r.backoff(e.Attempts, f.RetryAfter)))
		e.Message = fmt.Sprintf("Attempt %d failed: %s", e.Attempts, f.Message)
		return err
	}
	switch {
	case res.manifest != nil:
		p.exported(ctx, e, res)
	case res.failed != nil:
		p.giveUp(e, res.failed)
	default:
		// Not available yet: Pending until the deadline, counted from the first attempt.
		if now.Sub(e.FirstAttemptTime.Time) >= p.sp.deadline {
			p.giveUp(e, conditions.Permanent(statsigv1alpha1.ReasonExportFailed,
				fmt.Sprintf("%s; still not available %s after the first attempt (availabilityDeadline)", res.notAvailable, p.sp.deadline)))
			break
		}
		e.NextAttemptTime = metaTimeAt(now.Add(p.r.backoff(e.Attempts, 0)))
		e.Message = fmt.Sprintf("%s (attempt %d); next attempt at %s", res.notAvailable, e.Attempts, e.NextAttemptTime.UTC().Format(time.RFC3339))
		log.V(1).Info("Report not available yet", "attempts", e.Attempts, "next", e.NextAttemptTime.Time)
	}
	if res.other != "" {
		p.addDate(res.other)
	}
	return nil
}

// addDate puts a date that Statsig offers (the Legacy source's latest) into the ledger, due now,
// unless the ledger already tracks it or it is older than what the resource keeps.
func (p *pass) addDate(date string) {
	if p.led.Get(date) != nil || (p.sp.cutoff != "" && date < p.sp.cutoff) {
		return
	}
	if newest := p.led.Newest(); newest != "" && schedule.DaysBetween(date, newest) >= export.LedgerMax {
		return
	}
	p.led.Add(date)
}

func (p *pass) exported(ctx context.Context, e *statsigv1alpha1.ExportedDate, res dateResult) {
	m := res.manifest
	dre := p.dre
	e.Phase = statsigv1alpha1.PhaseExported
	e.Object, e.Bytes, e.SHA256, e.Rows = m.Object, m.Bytes, m.SHA256, m.Rows
	e.ExportedAt = metaTimeAt(m.ExportedAt)
	e.NextAttemptTime = nil
	e.Message = ""
	if !res.fresh {
		logf.FromContext(ctx).Info("Date already exported; not exporting it again", "date", e.Date, "object", m.Object)
		e.Message = "Found already exported (its manifest exists); not exported again"
		p.r.Events.Eventf(dre, dateRef(dre, e.Date), corev1.EventTypeNormal, "Exported", "Export",
			"%s for %s was already exported to %s; not exported again", dre.Spec.ReportType, e.Date, m.Object)
		return
	}
	logf.FromContext(ctx).Info("Exported report date", "date", e.Date, "object", m.Object, "bytes", m.Bytes, "rows", m.Rows, "duration", res.took)
	p.r.Events.Eventf(dre, dateRef(dre, e.Date), corev1.EventTypeNormal, "Exported", "Export",
		"Exported %s for %s to %s (%d bytes, %d rows, sha256 %s)", dre.Spec.ReportType, e.Date, m.Object, m.Bytes, m.Rows, m.SHA256)
	metrics.ExportFiles.WithLabelValues(dre.Namespace, dre.Name).Inc()
	metrics.ExportBytes.WithLabelValues(dre.Namespace, dre.Name).Add(float64(m.Bytes))
	metrics.ExportDuration.WithLabelValues(dre.Namespace, dre.Name).Observe(res.took.Seconds())
	metrics.ExportLastSuccess.WithLabelValues(dre.Namespace, dre.Name).Set(float64(p.r.Clock.Now().Unix()))
}

func (p *pass) giveUp(e *statsigv1alpha1.ExportedDate, f *conditions.Failure) {
	dre := p.dre
	e.Phase = statsigv1alpha1.PhaseFailed
	e.NextAttemptTime = nil
	e.Message = f.Message
	p.dateFailure = &conditions.Failure{Reason: f.Reason, Message: fmt.Sprintf("Gave up on %s: %s", e.Date, f.Message)}
	p.r.Events.Eventf(dre, dateRef(dre, e.Date), corev1.EventTypeWarning, f.Reason, "Export",
		"Gave up on %s for %s after %d attempts: %s", dre.Spec.ReportType, e.Date, e.Attempts, f.Message)
}

// dateRef points an Event at one date's ledger entry, the way kubelet points at a container
// (spec.containers{name}). Besides telling the dates apart, it keeps the recorder from folding the
// Events of different dates into one series, which would keep only the first date's note.
func dateRef(dre *statsigv1alpha1.DailyReportExport, date string) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		APIVersion: statsigv1alpha1.GroupVersion.String(), Kind: dailyReportExportKind,
		Namespace: dre.Namespace, Name: dre.Name, UID: dre.UID,
		FieldPath: "status.dates{" + date + "}",
	}
}

// dateResult is what one date's attempt came to, when it did not fail the pass.
type dateResult struct {
	// manifest is set when the date is exported; fresh tells whether this attempt exported it.
	manifest *export.Manifest
	fresh    bool
	took     time.Duration
	// notAvailable says why Statsig has no report for the date yet.
	notAvailable string
	// failed gives the date up for good.
	failed *conditions.Failure
	// other is another date Statsig offers (Legacy), to add to the ledger.
	other string
}

// exportDate exports one date unless it already is: the manifest (or ConfigMap key) is checked
// before Statsig is asked, so a date is never exported twice, even after a crash that lost the
// status write.
func (p *pass) exportDate(ctx context.Context, date string) (dateResult, error) {
	p.begin(date)
	if p.bucket != nil {
		return p.exportToBucket(ctx, date)
	}
	return p.exportToConfigMap(ctx, date)
}

func (p *pass) report(date string) export.Report {
	r := export.Report{ReportType: p.dre.Spec.ReportType, Date: date, ExportedBy: exportedBy(p.dre)}
	if d := p.dre.Spec.Destination.ObjectStore; d != nil {
		r.Prefix = d.Prefix
	}
	return r
}

func (p *pass) exportToBucket(ctx context.Context, date string) (dateResult, error) {
	rep := p.report(date)
	m, err := export.ReadManifest(ctx, p.bucket, rep)
	switch {
	case err == nil:
		return dateResult{manifest: &m}, nil
	case !errors.Is(err, export.ErrManifestNotFound):
		return dateResult{}, destinationError(err)
	}
	return p.download(ctx, date, func(ctx context.Context, body io.Reader) (dateResult, error) {
		m, err := export.Export(ctx, p.bucket, rep, p.sp.compression, body, p.r.Clock)
		if err != nil {
			return dateResult{}, transferError(err)
		}
		return dateResult{manifest: &m}, nil
	})
}

// download is the path both destinations share: ask Statsig for the date's URL, download it within
// the transfer timeout, and hand the body to store. A date with no report now comes back with
// dateResult saying why, and store is not called.
func (p *pass) download(ctx context.Context, date string, store func(context.Context, io.Reader) (dateResult, error)) (dateResult, error) {
	res, url, err := p.reportURL(ctx, date)
	if err != nil || url == "" {
		return res, err
	}
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, p.r.transferTimeout())
	defer cancel()
	body, err := export.Download(tctx, p.r.Download, url)
	if err != nil {
		return dateResult{}, downloadError(err)
	}
	defer func() { _ = body.Close() }()
	res, err = store(tctx, p.counted(body))
	if err != nil {
		return dateResult{}, err
	}
	if res.manifest != nil {
		res.fresh, res.took = true, time.Since(start)
	}
	return res, nil
}

// reportURL asks Statsig for the date's download URL. An empty URL with a nil error means the date
// has no report to download now (res says why).
func (p *pass) reportURL(ctx context.Context, date string) (dateResult, string, error) {
	rt := p.dre.Spec.ReportType
	if p.dre.Spec.Source != statsigv1alpha1.SourceLegacy {
		rep, err := p.reports.GetReport(ctx, rt, date)
		if statsig.Classify(err) == statsig.ClassBadRequest {
			return dateResult{notAvailable: fmt.Sprintf("Statsig has no %s report for %s yet", rt, date)}, "", nil
		}
		if err != nil {
			return dateResult{}, "", fmt.Errorf("get %s report for %s: %w", rt, date, err)
		}
		return dateResult{}, rep.URL, nil
	}
	rep, err := p.reports.GetLegacyDailyReport(ctx, rt)
	if statsig.Classify(err) == statsig.ClassBadRequest {
		return dateResult{notAvailable: fmt.Sprintf("Statsig has no %s report available yet", rt)}, "", nil
	}
	if err != nil {
		return dateResult{}, "", fmt.Errorf("get latest %s report: %w", rt, err)
	}
	switch {
	case rep.Date == date:
		return dateResult{}, rep.URL, nil
	case rep.Date < date:
		return dateResult{notAvailable: fmt.Sprintf("Statsig's latest %s report is for %s, not %s yet", rt, rep.Date, date), other: rep.Date}, "", nil
	default:
		return dateResult{other: rep.Date, failed: conditions.Permanent(statsigv1alpha1.ReasonExportFailed,
			fmt.Sprintf("the Legacy source serves only the latest date, which is now %s", rep.Date))}, "", nil
	}
}

// retention deletes what this resource wrote for dates before the cutoff, and nothing else.
func (p *pass) retention(ctx context.Context) error {
	if p.bucket != nil {
		d := p.dre.Spec.Destination.ObjectStore
		deleted, err := export.DeleteBefore(ctx, p.bucket, d.Prefix, p.dre.Spec.ReportType, p.sp.cutoff, exportedBy(p.dre))
		if err != nil {
			return destinationError(fmt.Errorf("retention: %w", err))
		}
		if len(deleted) > 0 {
			logf.FromContext(ctx).Info("Deleted exports past retention", "dates", deleted, "cutoff", p.sp.cutoff)
			p.r.Events.Eventf(p.dre, nil, corev1.EventTypeNormal, "RetentionApplied", "Delete",
				"Deleted the exports of %d dates before %s (%s to %s)", len(deleted), p.sp.cutoff, deleted[0], deleted[len(deleted)-1])
		}
		return nil
	}
	return p.cm.expire(ctx, p.r, p.dre, p.sp.cutoff)
}

// exportedBy names a resource in its manifests, the way the owner annotation of a written ConfigMap
// does: by name rather than UID, so that a resource deleted and applied again from Git keeps its
// retention over what it exported before.
func exportedBy(dre *statsigv1alpha1.DailyReportExport) string {
	return dailyReportExportKind + "/" + dre.Namespace + "/" + dre.Name
}

// destinationError is a store failure; retried with backoff.
func destinationError(err error) error {
	return &conditions.Failure{Reason: statsigv1alpha1.ReasonDestinationError, Message: err.Error(), Transient: true}
}

// downloadError is a failure to start the report download. An http:// URL is Statsig's answer at
// fault (InvalidResponse); anything else (an expired URL, the host down) is retried.
func downloadError(err error) error {
	if errors.Is(err, export.ErrInsecureURL) {
		return &conditions.Failure{Reason: statsigv1alpha1.ReasonInvalidResponse, Message: err.Error(), Transient: true}
	}
	return &conditions.Failure{Reason: statsigv1alpha1.ReasonExportFailed, Message: err.Error(), Transient: true}
}

// transferError is a failure in the middle of a transfer: the download reset, the store failed, the
// report was corrupt. Nothing was left under the final key; the date is retried.
func transferError(err error) error {
	return &conditions.Failure{Reason: statsigv1alpha1.ReasonExportFailed, Message: statsig.Redact(err.Error()), Transient: true}
}

// configMapFiles is the binaryData of a configMap destination, as this pass knows it.
type configMapFiles struct {
	name  string
	files map[string][]byte
}

// loadConfigMap reads the destination ConfigMap. A ConfigMap that exists and was not written by
// this resource is a TargetConflict before anything is downloaded.
func (r *DailyReportExportReconciler) loadConfigMap(ctx context.Context, dre *statsigv1alpha1.DailyReportExport) (*configMapFiles, error) {
	name := string(dre.Spec.Destination.ConfigMap.Name)
	out := &configMapFiles{name: name, files: map[string][]byte{}}
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: dre.Namespace, Name: name}, cm)
	switch {
	case apierrors.IsNotFound(err):
		return out, nil
	case err != nil:
		return nil, fmt.Errorf("get ConfigMap %s/%s: %w", dre.Namespace, name, err)
	}
	if err := configmap.CheckOwner(cm, dre, dailyReportExportKind); err != nil {
		return nil, err
	}
	for k, v := range cm.BinaryData {
		out.files[k] = v
	}
	return out, nil
}

func (p *pass) exportToConfigMap(ctx context.Context, date string) (dateResult, error) {
	key := path.Base(p.report(date).DataKey(p.sp.compression))
	if data, ok := p.cm.files[key]; ok {
		// Already stored: describe what is there (a crash may have lost the status write).
		st, err := export.Stream(ctx, io.Discard, bytes.NewReader(data), p.sp.compression)
		if err != nil {
			return dateResult{}, fmt.Errorf("read back %s from ConfigMap %s: %w", key, p.cm.name, err)
		}
		m := p.configMapManifest(date, key, st)
		return dateResult{manifest: &m}, nil
	}
	return p.download(ctx, date, func(ctx context.Context, body io.Reader) (dateResult, error) {
		room := export.FileRoom(p.cm.files, key)
		data, st, err := export.StreamToBytes(ctx, body, p.sp.compression, room)
		if errors.Is(err, export.ErrTooLarge) {
			return dateResult{failed: conditions.Permanent(statsigv1alpha1.ReasonConfigMapTooLarge,
				fmt.Sprintf("the %s file does not fit ConfigMap %s/%s: it has %d of its %d bytes left; use an objectStore destination",
					key, p.dre.Namespace, p.cm.name, room, configmap.MaxSize))}, nil
		}
		if err != nil {
			return dateResult{}, transferError(err)
		}
		files := maps.Clone(p.cm.files)
		files[key] = data
		if err := p.cm.write(ctx, p.r, p.dre, files); err != nil {
			var f *conditions.Failure
			if errors.As(err, &f) && f.Reason == statsigv1alpha1.ReasonConfigMapTooLarge {
				return dateResult{failed: f}, nil
			}
			return dateResult{}, err
		}
		m := p.configMapManifest(date, key, st)
		return dateResult{manifest: &m}, nil
	})
}

// configMapManifest describes a date stored under key in the destination ConfigMap, as a bucket's
// manifest would (a ConfigMap holds no manifest of its own).
func (p *pass) configMapManifest(date, key string, st export.Stats) export.Manifest {
	return export.Manifest{Date: date, ReportType: p.dre.Spec.ReportType, Object: key, Bytes: st.Bytes, SHA256: st.SHA256,
		CSVBytes: st.CSVBytes, Rows: st.Rows, Compression: p.sp.compression, ExportedAt: p.r.Clock.Now().UTC().Truncate(time.Second)}
}

// write stores files as the ConfigMap's whole binaryData.
func (c *configMapFiles) write(ctx context.Context, r *DailyReportExportReconciler, dre *statsigv1alpha1.DailyReportExport, files map[string][]byte) error {
	res, err := r.ConfigMaps.Apply(ctx, dre, dailyReportExportKind, configmap.Desired{Namespace: dre.Namespace, Name: c.name, BinaryData: files})
	if err != nil {
		return err
	}
	countWrite(dailyReportExportKind, res)
	c.files = files
	return nil
}

// expire drops the files of dates before cutoff from the ConfigMap.
func (c *configMapFiles) expire(ctx context.Context, r *DailyReportExportReconciler, dre *statsigv1alpha1.DailyReportExport, cutoff string) error {
	kept, changed := export.ExpireFiles(c.files, dre.Spec.ReportType, cutoff)
	if !changed {
		return nil
	}
	return c.write(ctx, r, dre, kept)
}
