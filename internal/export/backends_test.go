package export_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/testservers"
)

// backend is one real store under test.
type backend struct {
	dest objectstore.Destination
	opts objectstore.Options
	// stop and restart take the store away mid-transfer and bring it back; nil where the store is
	// not a server (file://).
	stop    func()
	restart func(t testing.TB)
}

func (be backend) open(t *testing.T) *blob.Bucket {
	t.Helper()
	b, err := objectstore.Open(context.Background(), be.dest, be.opts)
	if err != nil {
		t.Fatalf("open %s: %v", be.dest.URL, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestExportS3(t *testing.T) {
	s := testservers.StartMinIO(t)
	runBackend(t, backend{
		dest: objectstore.Destination{URL: s.URL(s.Bucket), Credentials: s.Credentials()},
		stop: s.Stop, restart: s.Restart,
	})
}

func TestExportGCS(t *testing.T) {
	s := testservers.StartFakeGCS(t)
	runBackend(t, backend{
		dest: objectstore.Destination{URL: s.URL(s.Bucket), Credentials: s.Credentials()},
		stop: s.Stop, restart: s.Restart,
	})
	// The Secret's service account key was what the client authenticated with.
	NewWithT(t).Expect(s.TokenRequests()).To(BeNumerically(">", 0))
}

func TestExportAzure(t *testing.T) {
	s := testservers.StartAzurite(t)
	runBackend(t, backend{
		dest: objectstore.Destination{URL: s.URL(s.Container), Credentials: s.Credentials()},
		stop: s.Stop, restart: s.Restart,
	})
	t.Run("sas token", func(t *testing.T) {
		be := backend{dest: objectstore.Destination{URL: s.URL(s.Container), Credentials: s.SASCredentials(t, s.Container)}}
		exportAndReadBack(t, be.open(t), "sas", export.Gzip, false)
	})
}

func TestExportFile(t *testing.T) {
	dir := t.TempDir()
	runBackend(t, backend{
		dest: objectstore.Destination{URL: "file://" + filepath.ToSlash(dir) + "?no_tmp_dir=true"},
		opts: objectstore.Options{AllowFile: true},
	})
}

func runBackend(t *testing.T, be backend) {
	for _, tc := range []struct {
		c          export.Compression
		gzipSource bool
	}{
		{export.Gzip, false},
		{export.None, false},
		{export.Gzip, true},
		{export.None, true},
	} {
		name := string(tc.c)
		if tc.gzipSource {
			name += " from gzip source"
		}
		t.Run("round trip "+name, func(t *testing.T) {
			exportAndReadBack(t, be.open(t), "p/"+name, tc.c, tc.gzipSource)
		})
	}
	t.Run("source fails halfway", func(t *testing.T) { sourceFailsHalfway(t, be) })
	if be.stop != nil {
		t.Run("store fails halfway", func(t *testing.T) { storeFailsHalfway(t, be) })
	}
	t.Run("retention", func(t *testing.T) { retention(t, be.open(t)) })
}

var fixedClock = clocktesting.NewFakePassiveClock(time.Date(2026, 11, 2, 18, 30, 15, 123, time.UTC))

// exportAndReadBack exports a generated report and checks the stored object and manifest.
func exportAndReadBack(t *testing.T, b *blob.Bucket, prefix string, c export.Compression, gzipSource bool) {
	g := NewWithT(t)
	ctx := context.Background()
	plain, rows := reportBytes(3 << 20)
	src := plain
	if gzipSource {
		src = gzipBytes(plain)
	}
	r := export.Report{Prefix: prefix, ReportType: "first_exposures", Date: "2026-11-01"}

	_, err := export.ReadManifest(ctx, b, r)
	g.Expect(errors.Is(err, export.ErrManifestNotFound)).To(BeTrue(), "got %v", err)

	m, err := export.Export(ctx, b, r, c, bytes.NewReader(src), fixedClock)
	g.Expect(err).NotTo(HaveOccurred())

	stored, err := b.ReadAll(ctx, r.DataKey(c))
	g.Expect(err).NotTo(HaveOccurred())
	switch {
	case c == export.Gzip && gzipSource:
		g.Expect(bytes.Equal(stored, src)).To(BeTrue(), "a gzip source is stored byte for byte")
	case c == export.Gzip:
		g.Expect(bytes.Equal(gunzip(t, stored), plain)).To(BeTrue())
	default:
		g.Expect(bytes.Equal(stored, plain)).To(BeTrue())
	}

	want := export.Manifest{
		Date: "2026-11-01", ReportType: "first_exposures", Object: r.DataKey(c),
		Bytes: int64(len(stored)), SHA256: sha(stored), CSVBytes: int64(len(plain)), Rows: rows,
		Compression: c, ExportedAt: time.Date(2026, 11, 2, 18, 30, 15, 0, time.UTC),
	}
	g.Expect(m).To(Equal(want))
	got, err := export.ReadManifest(ctx, b, r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(want))
	g.Expect(export.Verify(ctx, b, got)).To(Succeed())

	// The manifest's wire form is the contract's.
	raw, err := b.ReadAll(ctx, r.ManifestKey())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(raw)).To(ContainSubstring(`"exportedAt": "2026-11-02T18:30:15Z"`))
	for _, field := range []string{"date", "reportType", "object", "bytes", "sha256", "csvBytes", "rows", "compression"} {
		g.Expect(string(raw)).To(ContainSubstring(`"` + field + `":`))
	}
}

// sourceFailsHalfway: a download reset halfway leaves nothing under the key and no manifest; a
// retry writes the whole object once.
func sourceFailsHalfway(t *testing.T, be backend) {
	g := NewWithT(t)
	ctx := context.Background()
	b := be.open(t)
	plain, rows := reportBytes(20 << 20)
	r := export.Report{Prefix: "src-fault", ReportType: "pulse_daily", Date: "2026-11-03"}

	src := &failingReader{r: bytes.NewReader(plain), after: int64(len(plain) / 2), err: errReset}
	_, err := export.Export(ctx, b, r, export.None, src, fixedClock)
	g.Expect(err).To(MatchError(errReset))
	expectNothingUnder(t, b, r)

	m, err := export.Export(ctx, b, r, export.None, bytes.NewReader(plain), fixedClock)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Rows).To(Equal(rows))
	stored, err := b.ReadAll(ctx, r.DataKey(export.None))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bytes.Equal(stored, plain)).To(BeTrue())
	g.Expect(listKeys(t, b, r.DateDir())).To(ConsistOf(r.DataKey(export.None), r.ManifestKey()))
}

// storeFailsHalfway: the server dies halfway through the upload; when it is back, there is nothing
// under the key, and a retry writes the whole object once.
func storeFailsHalfway(t *testing.T, be backend) {
	g := NewWithT(t)
	b := be.open(t)
	plain, _ := reportBytes(24 << 20)
	r := export.Report{Prefix: "store-fault", ReportType: "pulse_daily", Date: "2026-11-04"}

	// Bound the failing attempt: some SDKs retry a dead server for a while before giving up.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := &failingReader{r: bytes.NewReader(plain), after: int64(len(plain) / 2), onFail: be.stop}
	_, err := export.Export(ctx, b, r, export.None, src, fixedClock)
	g.Expect(err).To(HaveOccurred())
	be.restart(t)
	expectNothingUnder(t, b, r)

	_, err = export.Export(context.Background(), b, r, export.None, bytes.NewReader(plain), fixedClock)
	g.Expect(err).NotTo(HaveOccurred())
	stored, err := b.ReadAll(context.Background(), r.DataKey(export.None))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bytes.Equal(stored, plain)).To(BeTrue())
}

func expectNothingUnder(t *testing.T, b *blob.Bucket, r export.Report) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	for _, key := range []string{r.DataKey(export.None), r.DataKey(export.Gzip), r.ManifestKey()} {
		ok, err := b.Exists(ctx, key)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(BeFalse(), "%s must not exist", key)
	}
	_, err := export.ReadManifest(ctx, b, r)
	g.Expect(errors.Is(err, export.ErrManifestNotFound)).To(BeTrue())
	g.Expect(listKeys(t, b, r.DateDir())).To(BeEmpty())
}

func listKeys(t *testing.T, b *blob.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return keys
		}
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		keys = append(keys, obj.Key)
	}
}

// retention deletes this resource's own objects for dates before the cutoff, and nothing else.
func retention(t *testing.T, b *blob.Bucket) {
	g := NewWithT(t)
	ctx := context.Background()
	put := func(key string) {
		g.Expect(b.WriteAll(ctx, key, []byte("x"), nil)).To(Succeed())
	}
	const me, other = "DailyReportExport/analytics/exposures", "DailyReportExport/team-b/exposures"
	exportAs := func(writer, prefix, date string, c export.Compression) export.Report {
		r := export.Report{Prefix: prefix, ReportType: "first_exposures", Date: date, ExportedBy: writer}
		if _, err := export.Export(ctx, b, r, c, bytes.NewReader([]byte("h\n1\n")), fixedClock); err != nil {
			t.Fatalf("export %s: %v", date, err)
		}
		return r
	}
	own := func(date string, c export.Compression) export.Report { return exportAs(me, "ret/statsig", date, c) }
	old1 := own("2026-01-01", export.Gzip)
	old2 := own("2026-01-02", export.None)
	keep := own("2026-01-03", export.Gzip)
	// Another resource exporting to the same prefix, and a manifest nobody claims.
	theirs := exportAs(other, "ret/statsig", "2025-12-30", export.Gzip)
	unclaimed := exportAs("", "ret/statsig", "2025-12-29", export.None)
	m, err := export.ReadManifest(ctx, b, theirs)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.ExportedBy).To(Equal(other), "the manifest names its writer")
	survivors := []string{
		keep.DataKey(export.Gzip), keep.ManifestKey(),
		theirs.DataKey(export.Gzip), theirs.ManifestKey(),
		unclaimed.DataKey(export.None), unclaimed.ManifestKey(),
		old1.DateDir() + "notes.txt",                             // not ours, in an old date's folder
		"ret/statsig/first_exposures/dt=2026-1-1/x.csv",          // not a strict date
		"ret/statsig/first_exposures/dt=2026-02-30/x",            // not a calendar date
		"ret/statsig/first_exposures/misc/2025.csv",              // not a date folder
		"ret/statsig/pulse_daily/dt=2025-01-01/_manifest.json",   // another report type
		"ret/other/first_exposures/dt=2025-01-01/_manifest.json", // another prefix
		"ret/statsig/first_exposures-2025-01-01.csv",             // beside the folders
	}
	for _, k := range survivors[6:] {
		put(k)
	}

	deleted, err := export.DeleteBefore(ctx, b, "ret/statsig/", "first_exposures", "2026-01-03", me)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(deleted).To(Equal([]string{"2026-01-01", "2026-01-02"}))
	g.Expect(listKeys(t, b, "ret/")).To(ConsistOf(survivors))
	for _, r := range []export.Report{old1, old2} {
		_, err := export.ReadManifest(ctx, b, r)
		g.Expect(errors.Is(err, export.ErrManifestNotFound)).To(BeTrue())
	}

	// Nothing left to delete: a second run is a no-op.
	deleted, err = export.DeleteBefore(ctx, b, "ret/statsig", "first_exposures", "2026-01-03", me)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(deleted).To(BeEmpty())
	_, err = b.Attributes(ctx, old1.DataKey(export.Gzip))
	g.Expect(gcerrors.Code(err)).To(Equal(gcerrors.NotFound))
}
