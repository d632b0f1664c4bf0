package export_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		prefix, data, dataGz, manifest string
	}{
		{"statsig",
			"statsig/first_exposures/dt=2026-11-01/first_exposures-2026-11-01.csv",
			"statsig/first_exposures/dt=2026-11-01/first_exposures-2026-11-01.csv.gz",
			"statsig/first_exposures/dt=2026-11-01/_manifest.json"},
		{"/a/b/",
			"a/b/first_exposures/dt=2026-11-01/first_exposures-2026-11-01.csv",
			"a/b/first_exposures/dt=2026-11-01/first_exposures-2026-11-01.csv.gz",
			"a/b/first_exposures/dt=2026-11-01/_manifest.json"},
		{"",
			"first_exposures/dt=2026-11-01/first_exposures-2026-11-01.csv",
			"first_exposures/dt=2026-11-01/first_exposures-2026-11-01.csv.gz",
			"first_exposures/dt=2026-11-01/_manifest.json"},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			g := NewWithT(t)
			r := export.Report{Prefix: tc.prefix, ReportType: "first_exposures", Date: "2026-11-01"}
			g.Expect(r.Validate()).To(Succeed())
			g.Expect(r.DataKey(export.None)).To(Equal(tc.data))
			g.Expect(r.DataKey(export.Gzip)).To(Equal(tc.dataGz))
			g.Expect(r.ManifestKey()).To(Equal(tc.manifest))
		})
	}
}

func TestReportValidate(t *testing.T) {
	for _, r := range []export.Report{
		{ReportType: "first_exposures", Date: "2026-11-1"},
		{ReportType: "first_exposures", Date: "2026-02-30"},
		{ReportType: "first_exposures", Date: "2026-11-01T00:00:00Z"},
		{ReportType: "", Date: "2026-11-01"},
		{ReportType: "a/b", Date: "2026-11-01"},
		{ReportType: "..", Date: "2026-11-01"},
		{Prefix: "x/../y", ReportType: "first_exposures", Date: "2026-11-01"},
	} {
		NewWithT(t).Expect(r.Validate()).NotTo(Succeed(), "%+v", r)
	}
}

// TestManifestForAnotherDateIsAnError: a manifest that does not describe its date is reported,
// not taken for "exported" and not taken for "missing".
func TestManifestForAnotherDateIsAnError(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	b, err := objectstore.Open(ctx, objectstore.Destination{URL: "file://" + filepath.ToSlash(t.TempDir())},
		objectstore.Options{AllowFile: true})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = b.Close() }()
	r := export.Report{ReportType: "first_exposures", Date: "2026-11-01"}
	other := export.Report{ReportType: "first_exposures", Date: "2026-10-31"}
	g.Expect(export.WriteManifest(ctx, b, r, export.Manifest{
		Date: other.Date, ReportType: other.ReportType, Object: other.DataKey(export.Gzip), Compression: export.Gzip,
	})).To(Succeed())
	_, err = export.ReadManifest(ctx, b, r)
	g.Expect(err).To(HaveOccurred())
	g.Expect(errors.Is(err, export.ErrManifestNotFound)).To(BeFalse())

	g.Expect(b.WriteAll(ctx, r.ManifestKey(), []byte("{not json"), nil)).To(Succeed())
	_, err = export.ReadManifest(ctx, b, r)
	g.Expect(err).To(HaveOccurred())
	g.Expect(errors.Is(err, export.ErrManifestNotFound)).To(BeFalse())
}

// TestReexportAfterCrashBeforeManifest: a data object without a manifest (a crash between the
// two) counts as not exported, and the next export replaces it and then writes the manifest.
func TestReexportAfterCrashBeforeManifest(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	b, err := objectstore.Open(ctx, objectstore.Destination{URL: "file://" + filepath.ToSlash(t.TempDir())},
		objectstore.Options{AllowFile: true})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = b.Close() }()
	r := export.Report{Prefix: "p", ReportType: "pulse_daily", Date: "2026-11-01"}
	g.Expect(b.WriteAll(ctx, r.DataKey(export.None), []byte("left over from a crashed run"), nil)).To(Succeed())
	_, err = export.ReadManifest(ctx, b, r)
	g.Expect(errors.Is(err, export.ErrManifestNotFound)).To(BeTrue())

	plain, rows := reportBytes(1 << 20)
	m, err := export.Export(ctx, b, r, export.None, bytes.NewReader(plain), fixedClock)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Rows).To(Equal(rows))
	stored, err := b.ReadAll(ctx, r.DataKey(export.None))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bytes.Equal(stored, plain)).To(BeTrue())
	got, err := export.ReadManifest(ctx, b, r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(m))
}
