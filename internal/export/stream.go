// Package export moves a Statsig daily report from its download URL to its destination: a streaming
// conversion that measures what it stores, all-or-nothing object writes, the manifest that marks a
// date as exported, and retention.
//
// Nothing here holds a whole report: memory stays flat whatever the report's size.
package export

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"

	"github.com/klauspost/pgzip"
)

// Compression is how the stored object is encoded. The values are the DailyReportExport spec's.
type Compression string

const (
	// Gzip stores the report gzip-compressed, as <reportType>-<date>.csv.gz.
	Gzip Compression = "Gzip"
	// None stores the plain CSV, as <reportType>-<date>.csv.
	None Compression = "None"
)

// Valid reports whether c is one of the known compressions.
func (c Compression) Valid() bool { return c == Gzip || c == None }

// Stats describes one streamed report.
type Stats struct {
	// Bytes is the size of the stored object.
	Bytes int64
	// SHA256 is the lower-case hex SHA-256 of the stored object.
	SHA256 string
	// CSVBytes is the size of the uncompressed CSV.
	CSVBytes int64
	// Rows is the number of CSV records after the header.
	Rows int64
	// SourceGzip tells whether the download already was gzip (stored as is when Gzip is asked for).
	SourceGzip bool
}

// ErrTooLarge reports that a report did not fit the size limit of StreamToBytes.
var ErrTooLarge = errors.New("report exceeds the size limit")

// gzipLevel trades a little size for speed: reports are large, exports run on small shares of a
// CPU, and level 1 is several times faster than the default while compressing CSV nearly as well.
const gzipLevel = gzip.BestSpeed

// gzipBlockSize is what each of the parallel compressors takes at a time. The writer holds at most
// gzipBlocks() blocks in and out, so a few MiB whatever the report's size.
const gzipBlockSize = 512 << 10

// gzipBlocks is how many blocks compress at once: every core, at least two so that reading and
// compressing overlap, at most four to bound memory. Each block in flight holds about 2.4 MiB (its
// input, its output and the next block's dictionary in buffers of 544 KiB, and a level-1
// compressor of some 800 KiB): with eight, an export to S3 measured a peak live heap of 35 MiB and
// a peak heap of 45 MiB, too close to the 64 MiB bound on its RSS; four cores of gzip -1 already
// outrun most uploads.
func gzipBlocks() int { return min(max(2, runtime.GOMAXPROCS(0)), 4) }

// newGzipWriter compresses on every core (klauspost/pgzip: independent 512 KiB blocks, each primed with
// the end of the one before, written as one ordinary gzip member that any gunzip reads).
func newGzipWriter(w io.Writer) (io.WriteCloser, error) {
	zw, err := pgzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		return nil, err
	}
	if err := zw.SetConcurrency(gzipBlockSize, gzipBlocks()); err != nil {
		return nil, err
	}
	return zw, nil
}

// copyBufferSize is the one buffer each stage of the stream holds.
const copyBufferSize = 256 << 10

// Stream copies the report from src to dst, converting it to compression c, and measures it on the
// way: the stored bytes and their SHA-256, the uncompressed CSV size and its rows.
//
// A gzip source (recognised by its magic bytes, whatever the URL or headers say) is stored as is for
// Gzip and decompressed for None; a plain source is compressed for Gzip. A gzip source is always
// decompressed for the measurements, which also checks its integrity: a truncated or corrupt gzip
// source fails the stream.
//
// Stream stops at the first error of src, dst or ctx and returns it; what dst received until then
// must be thrown away, which WriteObject does.
func Stream(ctx context.Context, dst io.Writer, src io.Reader, c Compression) (Stats, error) {
	if !c.Valid() {
		return Stats{}, fmt.Errorf("unknown compression %q", c)
	}
	in := bufio.NewReaderSize(&ctxReader{ctx: ctx, r: src}, copyBufferSize)
	magic, err := in.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return Stats{}, fmt.Errorf("read report: %w", err)
	}
	srcGzip := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b

	stored := &measuringWriter{w: dst, h: sha256.New()}
	csv := &recordCounter{}
	buf := make([]byte, copyBufferSize)

	switch {
	case srcGzip && c == Gzip:
		// Store the downloaded bytes untouched, and decompress a copy of them only to measure.
		zr, err := gzip.NewReader(io.TeeReader(in, stored))
		if err != nil {
			return Stats{}, sourceError(err)
		}
		if _, err := io.CopyBuffer(csv, zr, buf); err != nil {
			return Stats{}, sourceError(err)
		}
		// gzip.Reader reads to the end of the last member, so nothing should be left; drain it
		// anyway so that the stored object is exactly the download.
		if _, err := io.CopyBuffer(io.Discard, io.TeeReader(in, stored), buf); err != nil {
			return Stats{}, sourceError(err)
		}
	case srcGzip && c == None:
		zr, err := gzip.NewReader(in)
		if err != nil {
			return Stats{}, sourceError(err)
		}
		if _, err := io.CopyBuffer(io.MultiWriter(stored, csv), zr, buf); err != nil {
			return Stats{}, sourceError(err)
		}
	case c == Gzip:
		zw, err := newGzipWriter(stored)
		if err != nil {
			return Stats{}, err
		}
		if _, err := io.CopyBuffer(io.MultiWriter(zw, csv), in, buf); err != nil {
			return Stats{}, sourceError(err)
		}
		if err := zw.Close(); err != nil {
			return Stats{}, sourceError(err)
		}
	default:
		if _, err := io.CopyBuffer(io.MultiWriter(stored, csv), in, buf); err != nil {
			return Stats{}, sourceError(err)
		}
	}
	if stored.err != nil {
		return Stats{}, stored.err
	}
	return Stats{
		Bytes:      stored.n,
		SHA256:     hex.EncodeToString(stored.h.Sum(nil)),
		CSVBytes:   csv.bytes,
		Rows:       csv.Rows(),
		SourceGzip: srcGzip,
	}, nil
}

// StreamToBytes is Stream into memory, for destinations that hold the whole file (a ConfigMap). It
// fails with ErrTooLarge as soon as the stored form exceeds limit bytes, without reading the rest
// of the report.
func StreamToBytes(ctx context.Context, src io.Reader, c Compression, limit int64) ([]byte, Stats, error) {
	w := &limitedBuffer{limit: limit}
	st, err := Stream(ctx, w, src, c)
	if err != nil {
		return nil, Stats{}, err
	}
	return w.buf, st, nil
}

// limitedBuffer collects at most limit bytes.
type limitedBuffer struct {
	buf   []byte
	limit int64
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if int64(len(b.buf))+int64(len(p)) > b.limit {
		return 0, fmt.Errorf("%w of %d bytes", ErrTooLarge, b.limit)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// measuringWriter counts and hashes what reaches the destination, and remembers the destination's
// error: a TeeReader or gzip.Writer in front of it may report it in words of its own.
type measuringWriter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error
}

func (m *measuringWriter) Write(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.w.Write(p)
	m.h.Write(p[:n])
	m.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		m.err = &writeError{err}
		return n, m.err
	}
	return n, nil
}

// ctxReader stops a read loop once ctx is done, even if the source itself ignores ctx.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// sourceError labels an error from the read side. Destination errors pass through untouched
// because measuringWriter already labelled them, and ErrTooLarge must stay recognisable.
func sourceError(err error) error {
	var we *writeError
	if errors.As(err, &we) || errors.Is(err, ErrTooLarge) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return fmt.Errorf("read report: truncated or corrupt: %w", err)
	}
	return fmt.Errorf("read report: %w", err)
}

// writeError marks errors that came from the destination.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write object: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
