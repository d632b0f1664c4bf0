package export_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"gocloud.dev/blob"

	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/testservers"
)

// maxHeapGrowth is the bound on peak heap growth during an export, whatever its size.
const maxHeapGrowth = 64 << 20

// sizeFromEnv reads a report size in bytes from name, or returns def.
func sizeFromEnv(t testing.TB, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q is not a positive byte count", name, v)
	}
	return n
}

// peakHeapGrowth runs fn while sampling the heap, and returns the largest growth of HeapInuse
// over its value before fn started (after a GC), in bytes.
func peakHeapGrowth(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	if peak < base {
		return 0
	}
	return peak - base
}

// fileBucket opens a fresh fileblob bucket.
func fileBucket(t testing.TB) *blob.Bucket {
	dir := t.TempDir()
	b, err := objectstore.Open(context.Background(),
		objectstore.Destination{URL: "file://" + filepath.ToSlash(dir) + "?no_tmp_dir=true"},
		objectstore.Options{AllowFile: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// exportGenerated exports a generated report of size bytes to b (the driver's buffers included;
// nothing of the report is held by the test).
func exportGenerated(t testing.TB, b *blob.Bucket, c export.Compression, size int64) export.Manifest {
	src := newReport(size)
	r := export.Report{Prefix: "mem", ReportType: "first_exposures", Date: "2026-11-01"}
	m, err := export.Export(context.Background(), b, r, c, src, fixedClock)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if m.CSVBytes != src.n || m.Rows != src.rows {
		t.Fatalf("manifest says %d bytes, %d rows; the source made %d bytes, %d rows", m.CSVBytes, m.Rows, src.n, src.rows)
	}
	return m
}

// TestExportMemoryIsFlat streams a large generated report (256 MiB by default; set
// STATSIG_OPERATOR_MEMTEST_BYTES for more) and bounds the peak heap growth.
func TestExportMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Log("-short: streaming 64 MiB instead of 256 MiB")
	}
	size := sizeFromEnv(t, "STATSIG_OPERATOR_MEMTEST_BYTES", 256<<20)
	if testing.Short() {
		size = 64 << 20
	}
	s3 := testservers.StartMinIO(t)
	s3b, err := objectstore.Open(context.Background(),
		objectstore.Destination{URL: s3.URL(s3.Bucket), Credentials: s3.Credentials()}, objectstore.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s3b.Close() })
	for _, store := range []struct {
		name string
		b    *blob.Bucket
	}{{"file", fileBucket(t)}, {"s3", s3b}} {
		for _, c := range []export.Compression{export.None, export.Gzip} {
			t.Run(store.name+"/"+string(c), func(t *testing.T) {
				g := NewWithT(t)
				var m export.Manifest
				growth := peakHeapGrowth(func() { m = exportGenerated(t, store.b, c, size) })
				t.Logf("%s %s: %d MiB of CSV, %d rows, stored %d MiB, peak heap growth %.1f MiB",
					store.name, c, m.CSVBytes>>20, m.Rows, m.Bytes>>20, float64(growth)/(1<<20))
				g.Expect(m.CSVBytes).To(BeNumerically(">=", size))
				g.Expect(growth).To(BeNumerically("<", maxHeapGrowth))
			})
		}
	}
}

// BenchmarkExport exports a generated 1 GiB report (STATSIG_OPERATOR_BENCH_BYTES to change it) to
// fileblob, reporting throughput over the CSV bytes and the peak heap growth. Run with
// -benchtime=1x: one op is the whole report.
func BenchmarkExport(b *testing.B) {
	size := sizeFromEnv(b, "STATSIG_OPERATOR_BENCH_BYTES", 1<<30)
	for _, c := range []export.Compression{export.None, export.Gzip} {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(size)
			var peak uint64
			for i := 0; i < b.N; i++ {
				peak = max(peak, peakHeapGrowth(func() { exportGenerated(b, fileBucket(b), c, size) }))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
