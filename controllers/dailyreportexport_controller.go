package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
	"github.com/statsig-operator/statsig-operator/internal/secretwatch"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

const dailyReportExportKind = "DailyReportExport"

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
	// Secrets watches the Secrets exports read, in their namespaces only.
	Secrets *secretwatch.Watcher
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
		reader: getFrom(r.APIReader),
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
		_ = markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, err, nil, "")
		st.NextScheduleTime = nil
		// Nothing to retry until the spec changes; then the dates waiting are retried at once.
		r.rememberFailure(ctx, dre)
		return ctrl.Result{}, nil
	}

	led := export.NewLedger(st.Dates)
	if requested {
		// An explicit request is also the way to give up on giving up: Failed dates start over.
		led.RetryNow(true)
	} else if r.fixedSinceFailure(ctx, dre) {
		led.RetryNow(false)
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
		led.FillGaps(sp.start, sp.cutoff)
	}
	led.Trim(sp.start, sp.cutoff)
	lookBackFrom := ""
	if sp.start == "" && dre.Spec.Source != statsigv1alpha1.SourceLegacy && !led.AnySettled() {
		// Nothing exported or given up on yet, and the newest date not tried yet: its first
		// attempt looks back if it is not available (the Legacy source needs no look back, as
		// Statsig names its latest date, and a startDate already backfills). A first pass that a
		// missing Secret or a store error stopped counts no attempt, so the look back comes later.
		if e := led.Get(led.Newest()); e != nil && e.Attempts == 0 {
			lookBackFrom = e.Date
		}
	}

	work := led.Due(now)
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

	st.Dates = led.Entries()
	st.LastExportedDate = led.NewestExported()
	st.NextScheduleTime = nil
	if next := sp.schedule.Next(now); !next.IsZero() {
		st.NextScheduleTime = metaTime(&next)
	}

	switch {
	case stop != nil:
		_ = markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, stop, nil, "")
		r.rememberFailure(ctx, dre)
	case p != nil && p.dateFailure != nil:
		_ = markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, p.dateFailure, nil, "")
		r.forgetFailure(key)
	case p != nil || ran || specChangedSinceReady(dre):
		// A pass that met no failure, or a spec change that needed no attempt (a failure that
		// Ready still shows was about the previous spec).
		_ = markOutcome(ctx, dailyReportExportKind, dre, &st.CommonStatus, now, nil, nil, led.Summary())
		r.forgetFailure(key)
	}

	if more {
		return ctrl.Result{RequeueAfter: minRequeue}, nil
	}
	return ctrl.Result{RequeueAfter: r.capWait(led.NextWake(now, st.NextScheduleTime, defaultMaxRequeue).Sub(now))}, nil
}

// specChangedSinceReady reports whether Ready is missing or was set for an older generation.
func specChangedSinceReady(dre *statsigv1alpha1.DailyReportExport) bool {
	c := meta.FindStatusCondition(dre.Status.Conditions, statsigv1alpha1.ConditionReady)
	return c == nil || c.ObservedGeneration != dre.Generation
}

// startRun adds the dates a run targets: for Console, the newest complete date (yesterday in
// Pacific time); for Legacy, the same date, which Statsig's answer then confirms or replaces.
func (r *DailyReportExportReconciler) startRun(sp exportSpec, led *export.Ledger, now time.Time) {
	newest := schedule.NewestComplete(now)
	if sp.start != "" && newest < sp.start {
		return
	}
	if sp.cutoff != "" && newest < sp.cutoff {
		return
	}
	led.Add(newest)
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

// SetupWithManager registers the controller: DailyReportExports (spec and annotation changes), the
// ConfigMaps they own, and the Secrets they read.
func (r *DailyReportExportReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := watchSecrets(mgr, r.Secrets, dailyReportExportKind, &statsigv1alpha1.DailyReportExport{}, func(o client.Object) []types.NamespacedName {
		return exportSecretRefs(o.(*statsigv1alpha1.DailyReportExport), r.Credentials.DefaultSecret)
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&statsigv1alpha1.DailyReportExport{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(ownedBy(dailyReportExportKind))).
		WatchesRawSource(r.Secrets.Source(handler.EnqueueRequestsFromMapFunc(forSecret(r.Client, &statsigv1alpha1.DailyReportExportList{})))).
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
