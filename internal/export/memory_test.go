package export_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"gocloud.dev/blob"

	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/testservers"
)

// maxHeapGrowth is the bound on peak RSS growth during an export, whatever its size, here
// on the heap.
const maxHeapGrowth = 64 << 20

// maxLiveHeapGrowth bounds what an export holds at once, S3's parts included: 3 parts of 5 MiB
// and the first one that the transfer manager reads on its own, the parallel gzip's blocks, the
// stream's buffers: some 30 MiB at most, 22 MiB measured for gzip to MinIO. It keeps the RSS
// (about twice the live heap at worst, plus the runtime) under 64 MiB. The code before the 5 MiB
// parts held up to 16 MiB more of first part and 9 MiB more of parts.
const maxLiveHeapGrowth = 36 << 20

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

// heapGrowth is how much the heap grew over its size before a run (after a GC), at its peak.
type heapGrowth struct {
	// Alloc is the peak of HeapAlloc (and HeapInuse): live objects and garbage not yet collected,
	// what the process's RSS follows. It depends on when collections happen to run.
	Alloc uint64
	// Live is the peak of the heap that a collection found live (runtime/metrics'
	// /gc/heap/live:bytes): the buffers the code holds at once, whatever the GC's timing. The
	// RSS is about twice this (GOGC=100) plus the runtime's own.
	Live uint64
}

func (h heapGrowth) String() string {
	return fmt.Sprintf("peak heap growth %.1f MiB, peak live heap growth %.1f MiB",
		float64(h.Alloc)/(1<<20), float64(h.Live)/(1<<20))
}

// peakHeapGrowth runs fn while sampling the heap every 5 ms, and returns its peak growth.
func peakHeapGrowth(fn func()) heapGrowth {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	base, baseLive := ms.HeapInuse, live[0].Value.Uint64()
	peak, peakLive := base, baseLive
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		metrics.Read(live)
		peak = max(peak, m.HeapInuse, m.HeapAlloc)
		peakLive = max(peakLive, live[0].Value.Uint64())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
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
	sample()
	return heapGrowth{Alloc: peak - min(peak, base), Live: peakLive - min(peakLive, baseLive)}
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
				t.Logf("%s %s: %d MiB of CSV, %d rows, stored %d MiB, %s",
					store.name, c, m.CSVBytes>>20, m.Rows, m.Bytes>>20, growth)
				g.Expect(m.CSVBytes).To(BeNumerically(">=", size))
				g.Expect(growth.Alloc).To(BeNumerically("<", maxHeapGrowth))
				g.Expect(growth.Live).To(BeNumerically("<", maxLiveHeapGrowth))
				if store.name == "s3" {
					// A multipart object's ETag ends in its number of parts: 5 MiB ones.
					attrs, err := store.b.Attributes(context.Background(), m.Object)
					g.Expect(err).NotTo(HaveOccurred())
					parts := (m.Bytes + 5<<20 - 1) / (5 << 20)
					g.Expect(strings.Trim(attrs.ETag, `"`)).To(HaveSuffix(fmt.Sprintf("-%d", parts)))
				}
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
			var peak heapGrowth
			for i := 0; i < b.N; i++ {
				h := peakHeapGrowth(func() { exportGenerated(b, fileBucket(b), c, size) })
				peak = heapGrowth{Alloc: max(peak.Alloc, h.Alloc), Live: max(peak.Live, h.Live)}
			}
			b.ReportMetric(float64(peak.Alloc)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peak.Live)/(1<<20), "peak-live-heap-MiB")
		})
	}
}
