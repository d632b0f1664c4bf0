package controllers

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	// Test binaries get no time/tzdata from cmd/main.go.
	_ "time/tzdata"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gocloud.dev/blob"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// The DailyReportExport tests run on an injected clock that starts at noon Pacific time on
// 2026-11-10: the newest complete report date is 2026-11-09, and "0 11 * * *" fires next at 11:00
// on 2026-11-11. The workqueue keeps real time; MaxRequeue makes the controller look at the clock
// every 100 ms, so that a test that steps the clock sees the effect at once.
var (
	pacific  = mustLocation("America/Los_Angeles")
	dreStart = time.Date(2026, 11, 10, 12, 0, 0, 0, pacific)
)

const reportType = "first_exposures"

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// dreEnv is the DailyReportExport controllers' environment in a harness: the clock they share
// across restarts of the manager, and the operator's flags.
type dreEnv struct {
	clock     *clocktesting.FakeClock
	allowFile bool
}

// withFileDestinations sets --allow-file-destinations (on by default in tests).
func withFileDestinations(allow bool) harnessOption {
	return func(h *harness) { h.export.allowFile = allow }
}

// setupExports runs the DailyReportExport reconciler in a test's manager.
func setupExports(mgr ctrl.Manager, h *harness) error {
	env := h.export
	return (&DailyReportExportReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Credentials: h.deps.Credentials,
		Secrets:     h.deps.Secrets,
		Reports:     ReportSourceFor(h.deps.Clients),
		ConfigMaps:  LiveConfigMapWriter(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetScheme()),
		// The fake's download host is TLS with its own CA; this client trusts it and carries
		// nothing else.
		Download:                h.fake.DownloadHTTPClient(),
		ObjectStore:             objectstore.Options{AllowFile: env.allowFile},
		Events:                  h.deps.Events,
		Clock:                   env.clock,
		Jitter:                  func() float64 { return 0 },
		TransferTimeout:         2 * time.Minute,
		MaxRequeue:              100 * time.Millisecond,
		MaxConcurrentReconciles: 4,
		Progress:                h.deps.Progress,
	}).SetupWithManager(mgr)
}

// Builders.

type dreOption func(*statsigv1alpha1.DailyReportExport)

func toStore(u, credentialsSecret, prefix string) dreOption {
	return func(d *statsigv1alpha1.DailyReportExport) {
		d.Spec.Destination = statsigv1alpha1.ExportDestination{ObjectStore: &statsigv1alpha1.ObjectStoreDestination{URL: u, Prefix: prefix}}
		if credentialsSecret != "" {
			d.Spec.Destination.ObjectStore.CredentialsSecretRef = &statsigv1alpha1.LocalSecretReference{Name: credentialsSecret}
		}
	}
}

func toConfigMap(name string) dreOption {
	return func(d *statsigv1alpha1.DailyReportExport) {
		d.Spec.Destination = statsigv1alpha1.ExportDestination{ConfigMap: &statsigv1alpha1.ConfigMapDestination{Name: statsigv1alpha1.ConfigMapName(name)}}
	}
}

func withStartDate(date string) dreOption {
	return func(d *statsigv1alpha1.DailyReportExport) { d.Spec.StartDate = date }
}

func withCompression(c statsigv1alpha1.Compression) dreOption {
	return func(d *statsigv1alpha1.DailyReportExport) { d.Spec.Compression = c }
}

func withLegacySource() dreOption {
	return func(d *statsigv1alpha1.DailyReportExport) { d.Spec.Source = statsigv1alpha1.SourceLegacy }
}

func withRetentionDays(days int32) dreOption {
	return func(d *statsigv1alpha1.DailyReportExport) { d.Spec.RetentionDays = &days }
}

func (h *harness) reportExport(name string, opts ...dreOption) *statsigv1alpha1.DailyReportExport {
	d := &statsigv1alpha1.DailyReportExport{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: statsigv1alpha1.DailyReportExportSpec{
			SecretRef:  &statsigv1alpha1.LocalSecretReference{Name: "statsig"},
			ReportType: reportType,
			Schedule:   "0 11 * * *",
		},
	}
	for _, o := range opts {
		o(d)
	}
	if err := k8s.Create(context.Background(), d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// storeSecret creates an object-store credentials Secret.
func (h *harness) storeSecret(name string, data map[string][]byte) {
	s := map[string]string{}
	for k, v := range data {
		s[k] = string(v)
	}
	h.secret(name, s)
}

// fileStore is a file:// destination in a fresh directory.
func fileStore(t *testing.T) string {
	return "file://" + filepath.ToSlash(t.TempDir()) + "?no_tmp_dir=true"
}

// Observers.

func (h *harness) getExport(name string) *statsigv1alpha1.DailyReportExport {
	d := &statsigv1alpha1.DailyReportExport{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// exportReady polls Ready: "True", or the reason when it is False ("" before the first reconcile).
func (h *harness) exportReady(name string) func() string {
	return func() string {
		c := meta.FindStatusCondition(h.getExport(name).Status.Conditions, statsigv1alpha1.ConditionReady)
		switch {
		case c == nil:
			return ""
		case c.Status == metav1.ConditionTrue:
			return "True"
		}
		return c.Reason
	}
}

// phases polls the ledger as date → phase.
func (h *harness) phases(name string) func() map[string]statsigv1alpha1.DatePhase {
	return func() map[string]statsigv1alpha1.DatePhase {
		out := map[string]statsigv1alpha1.DatePhase{}
		for _, e := range h.getExport(name).Status.Dates {
			out[e.Date] = e.Phase
		}
		return out
	}
}

func entryOf(d *statsigv1alpha1.DailyReportExport, date string) *statsigv1alpha1.ExportedDate {
	for i := range d.Status.Dates {
		if d.Status.Dates[i].Date == date {
			return &d.Status.Dates[i]
		}
	}
	return nil
}

func conditionOf(d *statsigv1alpha1.DailyReportExport, t string) *metav1.Condition {
	return meta.FindStatusCondition(d.Status.Conditions, t)
}

// downloads counts the report downloads the fake served (or began to serve) for date.
func (h *harness) downloads(date string) int {
	n := 0
	for _, r := range h.fake.Requests(statsigtest.EndpointDownload) {
		if strings.Contains(r.Path, "/"+date+"/") {
			n++
		}
	}
	return n
}

// reportRequestDates lists the dates asked of the Console reports endpoint, in order.
func (h *harness) reportRequestDates() []string {
	var out []string
	for _, r := range h.fake.Requests(statsig.EndpointConsoleReports) {
		out = append(out, r.Query.Get("date"))
	}
	return out
}

func counterValue(c prometheus.Counter) float64 {
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// filesExported is the export files counter of one resource.
func (h *harness) filesExported(name string) float64 {
	return counterValue(metrics.ExportFiles.WithLabelValues(h.ns, name))
}

// dateEvents lists the Events of one reason about one date's ledger entry.
func (h *harness) dateEvents(reason, date string) []eventsv1.Event {
	var out []eventsv1.Event
	for _, e := range h.events(reason) {
		if e.Related != nil && e.Related.FieldPath == "status.dates{"+date+"}" {
			out = append(out, e)
		}
	}
	return out
}

// expectNoKeyLeaks checks that no Statsig key reached status, Events or the download host.
func (h *harness) expectNoKeyLeaks(g Gomega, name string) {
	d := h.getExport(name)
	for _, key := range []string{h.fake.ServerKey, h.fake.ConsoleKey} {
		for _, c := range d.Status.Conditions {
			g.Expect(c.Message).NotTo(ContainSubstring(key))
		}
		for _, e := range d.Status.Dates {
			g.Expect(e.Message).NotTo(ContainSubstring(key))
		}
		list := &eventsv1.EventList{}
		g.Expect(k8s.List(context.Background(), list, client.InNamespace(h.ns))).To(Succeed())
		for _, e := range list.Items {
			g.Expect(e.Note).NotTo(ContainSubstring(key))
		}
	}
	g.Expect(h.fake.KeyLeaksToDownloadHost()).To(BeZero())
}

// Stores.

func openStore(t *testing.T, u string, creds map[string][]byte) *blob.Bucket {
	t.Helper()
	b, err := objectstore.Open(context.Background(), objectstore.Destination{URL: u, Credentials: creds}, objectstore.Options{AllowFile: true})
	if err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func exists(t *testing.T, b *blob.Bucket, key string) bool {
	t.Helper()
	ok, err := b.Exists(context.Background(), key)
	if err != nil {
		t.Fatalf("exists %s: %v", key, err)
	}
	return ok
}

func listAll(t *testing.T, b *blob.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return keys
		}
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		keys = append(keys, o.Key)
	}
}

// expectStored reads a date's object and manifest back and checks them against the CSV the fake
// served and the ledger entry: byte-identical content, sha256 and sizes matching the manifest.
func expectStored(t *testing.T, b *blob.Bucket, prefix, date string, c export.Compression, csv []byte, e *statsigv1alpha1.ExportedDate) export.Manifest {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	rep := export.Report{Prefix: prefix, ReportType: reportType, Date: date}
	m, err := export.ReadManifest(ctx, b, rep)
	g.Expect(err).NotTo(HaveOccurred())
	stored, err := b.ReadAll(ctx, rep.DataKey(c))
	g.Expect(err).NotTo(HaveOccurred())
	if c == export.Gzip {
		g.Expect(bytes.Equal(gunzipAll(t, stored), csv)).To(BeTrue(), "the stored gzip holds the report byte for byte")
	} else {
		g.Expect(bytes.Equal(stored, csv)).To(BeTrue(), "the stored CSV is the report byte for byte")
	}
	g.Expect(m.Object).To(Equal(rep.DataKey(c)))
	g.Expect(m.SHA256).To(Equal(sha256Hex(stored)))
	g.Expect(m.Bytes).To(Equal(int64(len(stored))))
	g.Expect(m.CSVBytes).To(Equal(int64(len(csv))))
	g.Expect(m.Rows).To(Equal(int64(bytes.Count(csv, []byte("\n")) - 1)))
	g.Expect(m.Compression).To(Equal(c))
	g.Expect(export.Verify(ctx, b, m)).To(Succeed())
	if e != nil {
		g.Expect(e.Phase).To(Equal(statsigv1alpha1.PhaseExported))
		g.Expect(e.Object).To(Equal(m.Object))
		g.Expect(e.SHA256).To(Equal(m.SHA256))
		g.Expect(e.Bytes).To(Equal(m.Bytes))
		g.Expect(e.Rows).To(Equal(m.Rows))
		g.Expect(e.ExportedAt.Time).To(BeTemporally("==", m.ExportedAt))
	}
	return m
}

// Reports.

// csvOf reads a report's CSV the way the fake serves it, before any gzip.
func csvOf(t *testing.T, rc statsigtest.ReportContent) []byte {
	t.Helper()
	data, err := io.ReadAll(rc.Open())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func gunzipAll(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gzipAsTheFakeDoes compresses data the way the fake's download host does (gzip.NewWriter's
// defaults), so that a test can tell that a gzip source was stored untouched.
func gzipAsTheFakeDoes(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// gate holds a report download at a byte offset until released, so that a test can act while a
// transfer is halfway through. Only the first download stops at the gate.
type gate struct {
	at       int
	reached  chan struct{}
	release  chan struct{}
	once     sync.Once
	released sync.Once
}

func newGate(at int) *gate {
	return &gate{at: at, reached: make(chan struct{}), release: make(chan struct{})}
}

// Release lets the held download go on (and every later one pass).
func (g *gate) Release() { g.released.Do(func() { close(g.release) }) }

// report serves csv through the gate.
func (g *gate) report(csv []byte) statsigtest.ReportContent {
	return statsigtest.ReportContent{Open: func() io.Reader { return &gatedReader{g: g, data: csv} }}
}

type gatedReader struct {
	g    *gate
	data []byte
	pos  int
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.pos == r.g.at {
		select {
		case <-r.g.release:
		default:
			r.g.once.Do(func() { close(r.g.reached) })
			select {
			case <-r.g.release:
			case <-time.After(2 * time.Minute): // never hold a test server forever
			}
		}
	}
	if r.pos >= len(r.data) {
		return 0, io.EOF
	}
	end := len(r.data)
	if r.pos < r.g.at {
		end = min(end, r.g.at)
	}
	n := copy(p, r.data[r.pos:end])
	r.pos += n
	return n, nil
}

// resetOnceAt serves csv, but the first download is cut off after at bytes the way a reset
// connection is: the chunked body never ends properly, so the client sees an unexpected EOF.
func resetOnceAt(csv []byte, at int) statsigtest.ReportContent {
	var done atomic.Bool
	return statsigtest.ReportContent{Open: func() io.Reader {
		if done.Swap(true) {
			return bytes.NewReader(csv)
		}
		return &resettingReader{data: csv[:at]}
	}}
}

type resettingReader struct{ data []byte }

func (r *resettingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		// The fake's handler is reading this: net/http aborts the connection on this panic.
		panic(http.ErrAbortHandler)
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// seriesIn counts the series of a metric vector that belong to namespace.
func seriesIn(c prometheus.Collector, namespace string) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for m := range ch {
		d := &dto.Metric{}
		if err := m.Write(d); err != nil {
			panic(err)
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "namespace" && l.GetValue() == namespace {
				n++
			}
		}
	}
	return n
}

// waitForGate waits until the held download reached the gate.
func waitForGate(t *testing.T, g *gate) {
	t.Helper()
	select {
	case <-g.reached:
	case <-time.After(wait):
		t.Fatal("the download never reached the halfway gate")
	}
}

// requestExportSync bumps requested-at and waits until the controller handled it.
func (h *harness) requestExportSync(g Gomega, name string) {
	d := h.getExport(name)
	v := time.Now().Format(time.RFC3339Nano)
	patch := client.MergeFrom(d.DeepCopy())
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[statsigv1alpha1.AnnotationRequestedAt] = v
	g.Expect(k8s.Patch(context.Background(), d, patch)).To(Succeed())
	g.Eventually(func() string { return h.getExport(name).Status.LastHandledRequestedAt }, wait, poll).Should(Equal(v))
}

// newestFirst is every date from first to last, newest first, as the ledger lists them.
func newestFirst(first, last string) []string {
	d := schedule.Dates(first, last)
	for i, j := 0, len(d)-1; i < j; i, j = i+1, j-1 {
		d[i], d[j] = d[j], d[i]
	}
	return d
}
