package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

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

const dailyReportExportKind = "DailyReportExport"

// ledgerMax is the most dates status.dates holds (the CRD's maxItems). It is also how far back a
// backfill reaches from the newest date: every date the resource is working on must fit the ledger,
// or a date could leave it and be exported again.
const ledgerMax = 400

// lookBackDates is how many dates before the newest complete one a first run tries when that one
// is not available yet: a week covers a report that is late by days.
const lookBackDates = 7

// Defaults of the reconciler's knobs.
const (
	defaultMaxDatesPerReconcile = 5
	defaultTransferTimeout      = 6 * time.Hour
	defaultMaxRequeue           = time.Hour
	// minRequeue keeps a resource that still has due work from spinning the workqueue.
	minRequeue = 50 * time.Millisecond
	// maxJitter is the largest fraction of a retry delay added to it, so that dates and resources
	// retried after the same failure do not all come back at once.
	maxJitter = 0.1
)

// reportSource asks Statsig where a report can be downloaded. Both calls return a short-lived URL
// on another host; a 400 (statsig.ClassBadRequest) means the report is not available.
type reportSource interface {
	GetReport(ctx context.Context, reportType, date string) (statsig.Report, error)
	GetLegacyDailyReport(ctx context.Context, reportType string) (statsig.Report, error)
}

// DailyReportExportReconciler exports each date of a Statsig daily report once, on a schedule, to
// object storage or a ConfigMap, and keeps a ledger of the dates in status.
type DailyReportExportReconciler struct {
	client.Client
	// APIReader reads ConfigMap destinations from the API server: the cache may not have seen the
	// write of the previous date yet, and a stale read would lose that date or call it a conflict.
	APIReader   client.Reader
	Credentials *credentials.Resolver
	// Reports returns the Statsig client for a key (a console key or a server secret key).
	Reports func(key string) reportSource
	// ConfigMaps writes configMap destinations; its Get must read live (see LiveConfigMapWriter).
	ConfigMaps *configmap.Writer
	// Download fetches reports from their download URLs. It must send no Statsig key; its transport
	// decides which CAs are trusted (the default one honours SSL_CERT_FILE).
	Download *http.Client
	// ObjectStore says which destinations the operator permits.
	ObjectStore objectstore.Options
	Events      eventRecorder
	Clock       clock.PassiveClock
	// Backoff spaces the attempts of a date; zero means schedule.DefaultBackoff.
	Backoff schedule.Backoff
	// Jitter returns a number in [0,1); nil uses math/rand.
	Jitter func() float64
	// MaxDatesPerReconcile bounds the dates attempted in one pass, so that status is written between
	// passes of a long backfill; the next pass follows at once. Zero means 5.
	MaxDatesPerReconcile int
	// TransferTimeout bounds one date's export, download included. Zero means 6 h.
	TransferTimeout time.Duration
	// MaxRequeue caps every wait, so that a clock step is noticed; zero means an hour. Tests that
	// move an injected clock shrink it.
	MaxRequeue time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles (different resources).
	MaxConcurrentReconciles int
	// Progress sizes how a long export pass shows in Reconciling.
	Progress ProgressOptions

	mu sync.Mutex
	// failedWith remembers, per resource, the generation and Secret versions of the last failure
	// that stopped a pass, so that fixing either retries at once instead of after the backoff.
	failedWith map[types.NamespacedName]string
}

// +kubebuilder:rbac:groups=statsig-operator.io,resources=dailyreportexports,verbs=get;list;watch
// +kubebuilder:rbac:groups=statsig-operator.io,resources=dailyreportexports/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile runs one DailyReportExport: a scheduled run when one is due, then the attempts of the
// dates whose turn has come.
func (r *DailyReportExportReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return reconcileShape(ctx, kindShape[*statsigv1alpha1.DailyReportExport]{
		kind: dailyReportExportKind, writer: r.Client, events: r.Events, progress: r.Progress,
		// Read live, not from the cache: the ledger and lastScheduleTime must be the ones the
		// previous reconcile wrote, or a run could start twice. Reconciles of this kind are rare (a
		// schedule, a date's retry), so the extra read costs little.
		reader: r.APIReader,
		newObj: func() *statsigv1alpha1.DailyReportExport { return &statsigv1alpha1.DailyReportExport{} },
		common: func(dre *statsigv1alpha1.DailyReportExport) *statsigv1alpha1.CommonStatus {
			return &dre.Status.CommonStatus
		},
		suspend: func(dre *statsigv1alpha1.DailyReportExport) bool { return dre.Spec.Suspend },
		forget: func(key types.NamespacedName) {
			r.forgetFailure(key)
			metrics.Forget(metrics.Object{Kind: dailyReportExportKind, Namespace: key.Namespace, Name: key.Name})
			metrics.ForgetExport(key.Namespace, key.Name)
		},
		suspended: r.hold,
	}, req, r.reconcile)
}

// hold keeps a suspended resource's schedule moving without running it: a run that falls due while
// suspended is recorded as passed, so that resuming does not make it up.
func (r *DailyReportExportReconciler) hold(dre *statsigv1alpha1.DailyReportExport) ctrl.Result {
	dre.Status.NextScheduleTime = nil
	s, err := schedule.Parse(dre.Spec.Schedule, dre.Spec.TimeZone)
	if err != nil {
		return ctrl.Result{}
	}
	now := r.Clock.Now()
	dre.Status.LastScheduleTime = metaTime(s.Skip(timeOf(dre.Status.LastScheduleTime), now))
	return ctrl.Result{RequeueAfter: r.capWait(s.Next(now).Sub(now))}
}

// exportSpec is the parsed, checked spec.
type exportSpec struct {
	schedule *schedule.Schedule
	deadline time.Duration
	// start is spec.startDate, "" when none.
	start string
	// cutoff is the oldest date retention keeps, "" without retentionDays.
	cutoff      string
	compression export.Compression
}

func (r *DailyReportExportReconciler) parseSpec(dre *statsigv1alpha1.DailyReportExport, now time.Time) (exportSpec, error) {
	s := dre.Spec
	var sp exportSpec
	var err error
	if sp.schedule, err = schedule.Parse(s.Schedule, s.TimeZone); err != nil {
		return sp, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, "spec.schedule: "+err.Error())
	}
	if s.StartDate != "" {
		if _, err := schedule.ParseDate(s.StartDate); err != nil {
			return sp, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, "spec.startDate: "+err.Error())
		}
		if s.Source == statsigv1alpha1.SourceLegacy {
			return sp, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, "spec.startDate needs source Console: the Legacy endpoint serves only the latest date")
		}
		sp.start = s.StartDate
	}
	sp.deadline = 24 * time.Hour
	if s.AvailabilityDeadline != nil {
		sp.deadline = s.AvailabilityDeadline.Duration
	}
	if s.RetentionDays != nil {
		sp.cutoff = schedule.RetentionCutoff(now, *s.RetentionDays)
	}
	sp.compression = export.Gzip
	if s.Compression == statsigv1alpha1.CompressionNone {
		sp.compression = export.None
	}
	if s.Destination.ObjectStore == nil && s.Destination.ConfigMap == nil {
		return sp, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, "spec.destination sets neither objectStore nor configMap")
	}
	if store := s.Destination.ObjectStore; store != nil {
		if _, err := objectstore.ParseURL(store.URL); err != nil {
			return sp, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, "spec.destination.objectStore.url: "+err.Error())
		}
		probe := export.Report{Prefix: store.Prefix, ReportType: s.ReportType, Date: "2000-01-01"}
		if err := probe.Validate(); err != nil {
			return sp, conditions.Permanent(statsigv1alpha1.ReasonInvalidSpec, "spec.destination.objectStore.prefix: "+err.Error())
		}
	}
	return sp, nil
}

func (r *DailyReportExportReconciler) reconcile(ctx context.Context, dre *statsigv1alpha1.DailyReportExport, w *progressWatch) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(dre)
	st := &dre.Status
	now := r.Clock.Now()

	requested := false
	if v := dre.Annotations[statsigv1alpha1.AnnotationRequestedAt]; v != "" && v != st.LastHandledRequestedAt {
		requested = true
		st.LastHandledRequestedAt = v
	}
	sp, err := r.parseSpec(dre, now)
	if err != nil {
		markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, err, nil, "")
		st.NextScheduleTime = nil
		// Nothing to retry until the spec changes; then the dates waiting are retried at once.
		r.rememberFailure(ctx, dre)
		return ctrl.Result{}, nil
	}

	led := newLedger(st.Dates)
	if requested {
		// An explicit request is also the way to give up on giving up: Failed dates start over.
		led.retryNow(true)
	} else if r.fixedSinceFailure(ctx, dre) {
		led.retryNow(false)
	}

	due, fire := sp.schedule.Due(timeOf(st.LastScheduleTime), now)
	ran := due || requested
	if ran {
		r.startRun(sp, led, now)
		if due {
			st.LastScheduleTime = metaTime(&fire)
		}
	}
	if dre.Spec.Source != statsigv1alpha1.SourceLegacy {
		led.fillGaps(sp)
	}
	led.trim(sp)
	lookBackFrom := ""
	if sp.start == "" && dre.Spec.Source != statsigv1alpha1.SourceLegacy && !led.anySettled() {
		// Nothing exported or given up on yet, and the newest date not tried yet: its first
		// attempt looks back if it is not available (the Legacy source needs no look back, as
		// Statsig names its latest date, and a startDate already backfills). A first pass that a
		// missing Secret or a store error stopped counts no attempt, so the look back comes later.
		if e := led.get(led.newest()); e != nil && e.Attempts == 0 {
			lookBackFrom = e.Date
		}
	}

	work := led.due(now)
	bound := r.MaxDatesPerReconcile
	if bound <= 0 {
		bound = defaultMaxDatesPerReconcile
	}
	more := len(work) > bound
	work = work[:min(len(work), bound)]

	var p *pass
	var stop error
	if len(work) > 0 || (ran && sp.cutoff != "") {
		p = &pass{r: r, dre: dre, sp: sp, led: led, lookBackFrom: lookBackFrom, watch: w}
		stop = p.run(ctx, work, ran)
		p.close()
	}

	st.Dates = led.entries()
	st.LastExportedDate = led.newestExported()
	st.NextScheduleTime = nil
	if next := sp.schedule.Next(now); !next.IsZero() {
		st.NextScheduleTime = metaTime(&next)
	}

	switch {
	case stop != nil:
		markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, stop, nil, "")
		r.rememberFailure(ctx, dre)
	case p != nil && p.dateFailure != nil:
		markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, p.dateFailure, nil, "")
		r.forgetFailure(key)
	case p != nil || ran || specChangedSinceReady(dre):
		// A pass that met no failure, or a spec change that needed no attempt (a failure that
		// Ready still shows was about the previous spec).
		markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, nil, nil, led.summary())
		r.forgetFailure(key)
	}

	if more {
		return ctrl.Result{RequeueAfter: minRequeue}, nil
	}
	return ctrl.Result{RequeueAfter: r.capWait(led.nextWake(now, st.NextScheduleTime).Sub(now))}, nil
}

// specChangedSinceReady reports whether Ready is missing or was set for an older generation.
func specChangedSinceReady(dre *statsigv1alpha1.DailyReportExport) bool {
	c := meta.FindStatusCondition(dre.Status.Conditions, statsigv1alpha1.ConditionReady)
	return c == nil || c.ObservedGeneration != dre.Generation
}

// startRun adds the dates a run targets: for Console, the newest complete date (yesterday in
// Pacific time); for Legacy, the same date, which Statsig's answer then confirms or replaces.
func (r *DailyReportExportReconciler) startRun(sp exportSpec, led *ledger, now time.Time) {
	newest := schedule.NewestComplete(now)
	if sp.start != "" && newest < sp.start {
		return
	}
	if sp.cutoff != "" && newest < sp.cutoff {
		return
	}
	led.add(newest)
}

// capWait clamps a wait to [minRequeue, MaxRequeue].
func (r *DailyReportExportReconciler) capWait(d time.Duration) time.Duration {
	limit := r.MaxRequeue
	if limit <= 0 {
		limit = defaultMaxRequeue
	}
	return max(min(d, limit), minRequeue)
}

func (r *DailyReportExportReconciler) backoff(attempts int32, retryAfter time.Duration) time.Duration {
	b := r.Backoff
	if b.Base <= 0 {
		b = schedule.DefaultBackoff
	}
	d := b.Delay(attempts)
	j := rand.Float64
	if r.Jitter != nil {
		j = r.Jitter
	}
	d += time.Duration(float64(d) * maxJitter * j())
	return max(d, retryAfter)
}

func (r *DailyReportExportReconciler) transferTimeout() time.Duration {
	if r.TransferTimeout > 0 {
		return r.TransferTimeout
	}
	return defaultTransferTimeout
}

// failureSignature identifies what a fix would change: the spec and the Secrets it reads.
func (r *DailyReportExportReconciler) failureSignature(ctx context.Context, dre *statsigv1alpha1.DailyReportExport) string {
	sig := fmt.Sprintf("gen=%d", dre.Generation)
	refs := []*types.NamespacedName{credentials.LocalRef(dre.Namespace, dre.Spec.SecretRef)}
	if d := dre.Spec.Destination.ObjectStore; d != nil && d.CredentialsSecretRef != nil {
		refs = append(refs, &types.NamespacedName{Namespace: dre.Namespace, Name: d.CredentialsSecretRef.Name})
	}
	for _, ref := range refs {
		// Only the version is kept: a Secret that appears, changes or becomes usable changes it.
		if c, err := r.Credentials.Resolve(ctx, dre.Namespace, ref); err == nil {
			sig += ";" + c.Secret.String() + "=" + c.Version
		} else {
			sig += ";unresolved"
		}
	}
	return sig
}

func (r *DailyReportExportReconciler) rememberFailure(ctx context.Context, dre *statsigv1alpha1.DailyReportExport) {
	sig := r.failureSignature(ctx, dre)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failedWith == nil {
		r.failedWith = map[types.NamespacedName]string{}
	}
	r.failedWith[client.ObjectKeyFromObject(dre)] = sig
}

func (r *DailyReportExportReconciler) forgetFailure(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failedWith, key)
}

// fixedSinceFailure reports whether the spec or a Secret changed since the last failure that
// stopped a pass.
func (r *DailyReportExportReconciler) fixedSinceFailure(ctx context.Context, dre *statsigv1alpha1.DailyReportExport) bool {
	r.mu.Lock()
	was, failed := r.failedWith[client.ObjectKeyFromObject(dre)]
	r.mu.Unlock()
	return failed && was != r.failureSignature(ctx, dre)
}

// pass is one reconcile's attempts: it opens the destination and the Statsig client on first use
// and closes them at the end.
type pass struct {
	r   *DailyReportExportReconciler
	dre *statsigv1alpha1.DailyReportExport
	sp  exportSpec
	led *ledger

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
			p.led.remove(e.Date)
			continue
		}
		if err := p.attempt(ctx, e); err != nil {
			p.deferAll(work[i+1:], err)
			return err
		}
	}
	if p.lookBackFrom != "" {
		// Only once its first attempt, in this pass, found it not available.
		if e := p.led.get(p.lookBackFrom); e != nil && e.Phase == statsigv1alpha1.PhasePending && e.Attempts > 0 {
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
		if (p.sp.cutoff != "" && date < p.sp.cutoff) || p.led.get(date) != nil {
			return nil // retention would delete it, or the ledger already works on it
		}
		res, err := p.exportDate(ctx, date)
		if err == nil && res.manifest == nil && res.failed == nil {
			continue // not available either
		}
		e := p.led.add(date)
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
	if p.led.get(date) != nil || (p.sp.cutoff != "" && date < p.sp.cutoff) {
		return
	}
	if newest := p.led.newest(); newest != "" && schedule.DaysBetween(date, newest) >= ledgerMax {
		return
	}
	p.led.add(date)
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
	body = p.counted(body)
	m, err = export.Export(tctx, p.bucket, rep, p.sp.compression, body, p.r.Clock)
	if err != nil {
		return dateResult{}, transferError(err)
	}
	res.manifest, res.fresh, res.took = &m, true, time.Since(start)
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

// SetupWithManager registers the controller: DailyReportExports (spec and annotation changes), the
// ConfigMaps they own, and the Secrets they read.
func (r *DailyReportExportReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &statsigv1alpha1.DailyReportExport{}, secretIndex,
		func(o client.Object) []string {
			dre := o.(*statsigv1alpha1.DailyReportExport)
			var out []string
			for _, ref := range exportSecretRefs(dre, r.Credentials.DefaultSecret) {
				out = append(out, ref.String())
			}
			return out
		}); err != nil {
		return fmt.Errorf("index DailyReportExports by Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&statsigv1alpha1.DailyReportExport{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(forSecret(r.Client, &statsigv1alpha1.DailyReportExportList{}))).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(forDefaultSecretUsers(r.Client, &statsigv1alpha1.DailyReportExportList{}, r.Credentials.DefaultSecret)),
			builder.WithPredicates(labelsChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("dailyreportexport").
		Complete(r)
}

// ReportSourceFor adapts the client pool to the controller's interface.
func ReportSourceFor(c *statsig.Clients) func(key string) reportSource {
	return func(key string) reportSource { return c.ForKey(key) }
}

// LiveConfigMapWriter is a ConfigMap writer whose reads go to the API server (reader) while its
// writes go through c. The export controller needs it: it adds a key to the same ConfigMap for date
// after date, faster than the cache follows its own writes.
func LiveConfigMapWriter(c client.Client, reader client.Reader, scheme *runtime.Scheme) *configmap.Writer {
	return &configmap.Writer{Client: liveGets{Client: c, reader: reader}, Live: reader, Scheme: scheme}
}

// liveGets serves Get from the API server.
type liveGets struct {
	client.Client
	reader client.Reader
}

func (l liveGets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return l.reader.Get(ctx, key, obj, opts...)
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
	body = p.counted(body)
	room := int64(configmap.MaxSize - configmap.Size(nil, p.cm.files) - len(key))
	data, st, err := export.StreamToBytes(tctx, body, p.sp.compression, max(room, 0))
	if errors.Is(err, export.ErrTooLarge) {
		res.failed = conditions.Permanent(statsigv1alpha1.ReasonConfigMapTooLarge,
			fmt.Sprintf("the %s file does not fit ConfigMap %s/%s: it has %d of its %d bytes left; use an objectStore destination",
				key, p.dre.Namespace, p.cm.name, max(room, 0), configmap.MaxSize))
		return res, nil
	}
	if err != nil {
		return dateResult{}, transferError(err)
	}
	files := maps.Clone(p.cm.files)
	files[key] = data
	if err := p.cm.write(ctx, p.r, p.dre, files); err != nil {
		var f *conditions.Failure
		if errors.As(err, &f) && f.Reason == statsigv1alpha1.ReasonConfigMapTooLarge {
			res.failed = f
			return res, nil
		}
		return dateResult{}, err
	}
	m := p.configMapManifest(date, key, st)
	res.manifest, res.fresh, res.took = &m, true, time.Since(start)
	return res, nil
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
	prefix := dre.Spec.ReportType + "-"
	kept := map[string][]byte{}
	for k, v := range c.files {
		date, ok := strings.CutPrefix(k, prefix)
		if ok && len(date) >= len(schedule.DateLayout) {
			date = date[:len(schedule.DateLayout)]
			if _, err := schedule.ParseDate(date); err == nil && date < cutoff {
				continue
			}
		}
		kept[k] = v
	}
	if len(kept) == len(c.files) {
		return nil
	}
	return c.write(ctx, r, dre, kept)
}

// ledger is status.dates by date.
type ledger struct {
	byDate map[string]*statsigv1alpha1.ExportedDate
}

func newLedger(in []statsigv1alpha1.ExportedDate) *ledger {
	l := &ledger{byDate: make(map[string]*statsigv1alpha1.ExportedDate, len(in))}
	for i := range in {
		e := in[i]
		l.byDate[e.Date] = &e
	}
	return l
}

func (l *ledger) get(date string) *statsigv1alpha1.ExportedDate { return l.byDate[date] }

// add returns the entry of date, adding it Pending and due now if it is new.
func (l *ledger) add(date string) *statsigv1alpha1.ExportedDate {
	if e := l.byDate[date]; e != nil {
		return e
	}
	e := &statsigv1alpha1.ExportedDate{Date: date, Phase: statsigv1alpha1.PhasePending, Message: "Waiting for its first attempt"}
	l.byDate[date] = e
	return e
}

func (l *ledger) remove(date string) { delete(l.byDate, date) }

// retryNow makes every Pending date due now, and with failed also restarts Failed dates.
func (l *ledger) retryNow(failed bool) {
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
func (l *ledger) sorted() []string {
	out := make([]string, 0, len(l.byDate))
	for d := range l.byDate {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func (l *ledger) newest() string {
	s := l.sorted()
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// fillGaps adds, Pending, every date the resource should have and the ledger lacks: from startDate
// (or the oldest date it ever targeted) to the newest one, within the ledger's reach.
func (l *ledger) fillGaps(sp exportSpec) {
	s := l.sorted()
	if len(s) == 0 {
		return
	}
	first, newest := s[0], s[len(s)-1]
	if sp.start != "" {
		first = sp.start
	}
	first = max(first, l.horizon(newest, sp))
	for _, d := range schedule.Dates(first, newest) {
		l.add(d)
	}
}

// horizon is the oldest date the ledger keeps: ledgerMax dates back from the newest, and never
// before the retention cutoff (retention deletes older dates; exporting them would only feed it).
func (l *ledger) horizon(newest string, sp exportSpec) string {
	return max(schedule.AddDays(newest, -(ledgerMax-1)), sp.cutoff)
}

// trim drops dates outside the horizon, and Pending dates before a (moved) startDate.
func (l *ledger) trim(sp exportSpec) {
	newest := l.newest()
	if newest == "" {
		return
	}
	h := l.horizon(newest, sp)
	for d, e := range l.byDate {
		if d < h || (sp.start != "" && d < sp.start && e.Phase == statsigv1alpha1.PhasePending) {
			delete(l.byDate, d)
		}
	}
}

// due lists the Pending dates whose next attempt has come, oldest first.
func (l *ledger) due(now time.Time) []*statsigv1alpha1.ExportedDate {
	var out []*statsigv1alpha1.ExportedDate
	for _, d := range l.sorted() {
		e := l.byDate[d]
		if e.Phase == statsigv1alpha1.PhasePending && (e.NextAttemptTime == nil || !e.NextAttemptTime.After(now)) {
			out = append(out, e)
		}
	}
	return out
}

// entries is the ledger for status: newest first.
func (l *ledger) entries() []statsigv1alpha1.ExportedDate {
	s := l.sorted()
	out := make([]statsigv1alpha1.ExportedDate, 0, len(s))
	for i := len(s) - 1; i >= 0; i-- {
		out = append(out, *l.byDate[s[i]])
	}
	return out
}

// anySettled reports whether any date is Exported or Failed.
func (l *ledger) anySettled() bool {
	for _, e := range l.byDate {
		if e.Phase != statsigv1alpha1.PhasePending {
			return true
		}
	}
	return false
}

func (l *ledger) newestExported() string {
	s := l.sorted()
	for i := len(s) - 1; i >= 0; i-- {
		if l.byDate[s[i]].Phase == statsigv1alpha1.PhaseExported {
			return s[i]
		}
	}
	return ""
}

// nextWake is the earliest of the next scheduled run and the next Pending attempt.
func (l *ledger) nextWake(now time.Time, nextRun *metav1.Time) time.Time {
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
		// Nothing scheduled at all (a cron that never fires): look again later.
		return now.Add(defaultMaxRequeue)
	}
	return wake
}

func (l *ledger) summary() string {
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
	if n := l.newestExported(); n != "" {
		msg += "; newest exported " + n
	}
	return msg
}

// exportSecretRefs are the Secrets a DailyReportExport reads: its Statsig Secret (or the operator's
// default) and its object-store credentials.
func exportSecretRefs(dre *statsigv1alpha1.DailyReportExport, def types.NamespacedName) []types.NamespacedName {
	var out []types.NamespacedName
	if ref := credentials.LocalRef(dre.Namespace, dre.Spec.SecretRef); ref != nil {
		out = append(out, *ref)
	} else if def.Name != "" {
		out = append(out, def)
	}
	if d := dre.Spec.Destination.ObjectStore; d != nil && d.CredentialsSecretRef != nil {
		out = append(out, types.NamespacedName{Namespace: dre.Namespace, Name: d.CredentialsSecretRef.Name})
	}
	return out
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

// metaTime converts for status, to the second: status keeps seconds, and a finer in-memory value
// would make every status comparison see a change.
func metaTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return metaTimeAt(*t)
}

func metaTimeAt(t time.Time) *metav1.Time {
	m := metav1.NewTime(t.Truncate(time.Second))
	return &m
}
