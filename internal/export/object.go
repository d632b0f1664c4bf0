package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"k8s.io/utils/clock"
)

// Part size and parallelism of object writes. A driver holds about
// partSize*(concurrency+1) bytes of parts (S3's transfer manager one more, the first part,
// which it reads on its own), so an upload's memory is some 20-25 MiB whatever the object's size.
// A plain export is bound by the upload, and three parts in flight keep it level with
// `aws s3 cp -` (make bench, P5: 0.92-0.94x its wall time, where two parts made 1.01x); a gzip
// export is bound by compression, whose blocks take the memory a third part would.
//
// minPartSize is S3's smallest part (every part but the last must hold at least 5 MiB). With it,
// S3's 10,000 parts take objects up to 48.8 GiB. The part size must be fixed before the first byte
// is uploaded, and a streamed report's stored size is not known then, so the trade-off is: small
// parts for every export whose size is unknown or at most 9,000 of them (43.9 GiB: flat memory),
// and parts just large enough for 9,000 of them when the download announces a size that needs more
// (memory then grows with the report, 4 parts' worth: a 100 GiB report holds some 46 MiB of parts;
// by estimate, not measured, the 64 MiB bound on an export's RSS growth gives way around 70 GiB). An export
// of more than 48.8 GiB whose size is not known up front fails at the 10,001st part and leaves
// nothing behind.
const (
	minPartSize      = 5 << 20
	writeConcurrency = 2
	// plainWriteConcurrency is the parallelism of an uncompressed export's data object.
	plainWriteConcurrency = 3
	// maxParts is S3's limit; partSizeFor aims below it so that an estimate a little short of
	// the real size still fits.
	maxParts    = 10000
	targetParts = 9000
)

// partSizeFor returns the part size for an object of about size bytes (-1 or 0: unknown).
func partSizeFor(size int64) int64 {
	if size <= minPartSize*targetParts {
		return minPartSize
	}
	const mib = 1 << 20
	return (size/targetParts + mib) / mib * mib
}

// maxManifestSize bounds what ReadManifest reads: a manifest is a few hundred bytes, and a bucket
// is not trusted to hold only what the operator wrote.
const maxManifestSize = 64 << 10

// ErrManifestNotFound reports that a date has no manifest: it has not been exported (or its export
// did not finish).
var ErrManifestNotFound = errors.New("manifest not found")

// ErrInvalidManifest reports a manifest that is not one the operator wrote for that date: too large,
// not JSON, or describing another date or object.
var ErrInvalidManifest = errors.New("invalid manifest")

// Manifest is the _manifest.json written after a date's data object is complete. A reader who sees
// it sees a whole file; the operator never exports a date whose manifest exists.
type Manifest struct {
	// Date is the report date, YYYY-MM-DD.
	Date string `json:"date"`
	// ReportType is the Statsig report type.
	ReportType string `json:"reportType"`
	// Object is the full key of the data object.
	Object string `json:"object"`
	// Bytes is the size of the stored object.
	Bytes int64 `json:"bytes"`
	// SHA256 is the lower-case hex SHA-256 of the stored object.
	SHA256 string `json:"sha256"`
	// CSVBytes is the size of the uncompressed CSV.
	CSVBytes int64 `json:"csvBytes"`
	// Rows is the number of data rows, the header excluded.
	Rows int64 `json:"rows"`
	// Compression is Gzip or None.
	Compression Compression `json:"compression"`
	// ExportedAt is when the data object was complete, UTC, to the second.
	ExportedAt time.Time `json:"exportedAt"`
	// ExportedBy names the resource that wrote the date (Kind/namespace/name); retention deletes
	// only what its own resource wrote.
	ExportedBy string `json:"exportedBy,omitempty"`
}

// WriteObject writes one object under its final key, all or nothing. fill writes the content; if it
// fails, the upload's context is cancelled before the store sees the end of its input, which makes
// every gocloud driver abandon the object (an S3 multipart upload is aborted, a GCS resumable upload
// never finalised, Azure blocks never committed, a fileblob temp file never renamed), so the key
// keeps whatever it held before, if anything. If the store fails first, fill's next write fails.
//
// The content reaches the driver through a pipe and Bucket.Upload rather than through Writer.Write:
// the drivers' Upload path has no internal pipe of its own, and the Azure driver's pipe path can
// panic when an upload that is being closed fails.
func WriteObject(ctx context.Context, b *blob.Bucket, key, contentType string, fill func(w io.Writer) error) error {
	return writeObject(ctx, b, key, contentType, -1, writeConcurrency, fill)
}

// writeObject is WriteObject for an object of about size bytes (-1: unknown), which sets the part
// size, with concurrency parts uploaded at once.
func writeObject(ctx context.Context, b *blob.Bucket, key, contentType string, size int64, concurrency int, fill func(w io.Writer) error) error {
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	partSize := partSizeFor(size)
	pr, pw := io.Pipe()
	filled := make(chan error, 1)
	go func() {
		err := fill(pw)
		if err != nil {
			cancel() // first: the driver must not take the end of input for a complete object
			_ = pw.CloseWithError(err)
		} else {
			_ = pw.Close()
		}
		filled <- err
	}()
	err := b.Upload(uctx, key, pr, &blob.WriterOptions{
		// No Content-Encoding on purpose: with one, GCS and HTTP clients decompress on the fly and
		// a reader would no longer get the bytes that the manifest's sha256 describes.
		ContentType:    contentType,
		BufferSize:     int(partSize),
		MaxConcurrency: concurrency,
		BeforeWrite:    func(as func(any) bool) error { s3Uploads(b, as, partSize, concurrency); return nil },
	})
	if err != nil {
		// Unblock fill if the store gave up while it was still writing.
		_ = pr.CloseWithError(fmt.Errorf("upload %s: %w", key, err))
	}
	if ferr := <-filled; ferr != nil {
		return ferr
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// s3Uploads sets up an S3 upload's transfer manager (as reaches it; other stores ignore this) for
// flat memory. gocloud passes it the part size and concurrency but keeps the transfer manager's
// multipart threshold of 16 MiB, and the transfer manager reads that much into one growing slice
// before it knows that the upload is multipart: 16 MiB held until the second part is sent, plus as
// much again of garbage, on top of its pool of parts. With the threshold at the part size the first
// read is one part. The request checksum setting is the client's, as gocloud's own would be.
func s3Uploads(b *blob.Bucket, as func(any) bool, partSize int64, concurrency int) {
	var tm *transfermanager.Client
	var client *s3.Client
	if !as(&tm) || tm == nil || !b.As(&client) || client == nil {
		return
	}
	checksums := client.Options().RequestChecksumCalculation
	*tm = *transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = partSize
		o.Concurrency = concurrency
		o.MaxUploadParts = maxParts
		o.RequestChecksumCalculation = checksums
	})
}

// Export writes the date's report from src to b: the data object under its final key, then, once
// that is complete and has the size that was streamed, the manifest. It returns the manifest.
//
// On any error nothing new is visible: neither the data object (if it did not exist before) nor the
// manifest. A retry after a failure or a crash, even one between the data object and the manifest,
// overwrites the data object and then writes the manifest. Callers check ReadManifest first so that
// an exported date is never exported again.
func Export(ctx context.Context, b *blob.Bucket, r Report, c Compression, src io.Reader, clk clock.PassiveClock) (Manifest, error) {
	if err := r.Validate(); err != nil {
		return Manifest{}, err
	}
	if !c.Valid() {
		return Manifest{}, fmt.Errorf("unknown compression %q", c)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	key := r.DataKey(c)
	contentType := "text/csv"
	if c == Gzip {
		contentType = "application/gzip"
	}
	var st Stats
	size, src := storedSizeHint(src, c)
	concurrency := writeConcurrency
	if c == None {
		concurrency = plainWriteConcurrency
	}
	err := writeObject(ctx, b, key, contentType, size, concurrency, func(w io.Writer) error {
		var err error
		st, err = Stream(ctx, w, src, c)
		return err
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("export %s: %w", key, err)
	}
	// A cheap check that the store holds what was streamed before the manifest vouches for it.
	attrs, err := b.Attributes(ctx, key)
	if err != nil {
		return Manifest{}, fmt.Errorf("check %s: %w", key, err)
	}
	if attrs.Size != st.Bytes {
		return Manifest{}, fmt.Errorf("check %s: store reports %d bytes, %d were written", key, attrs.Size, st.Bytes)
	}
	m := Manifest{
		Date:        r.Date,
		ReportType:  r.ReportType,
		Object:      key,
		Bytes:       st.Bytes,
		SHA256:      st.SHA256,
		CSVBytes:    st.CSVBytes,
		Rows:        st.Rows,
		Compression: c,
		ExportedAt:  clk.Now().UTC().Truncate(time.Second),
		ExportedBy:  r.ExportedBy,
	}
	if err := WriteManifest(ctx, b, r, m); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// storedSizeHint estimates the stored object's size from the size that src announces (Download's
// body does, from Content-Length), or returns -1, and returns the reader to stream from instead of
// src. The stored form of a plain report is at most its size (gzip shrinks CSV), and that of a
// gzip one stored as is its size; a gzip report stored plain is counted at 16 times its size, more
// than gzip -1 usually gains on CSV (4-10 times).
func storedSizeHint(src io.Reader, c Compression) (int64, io.Reader) {
	s, ok := src.(interface{ Size() int64 })
	if !ok || s.Size() <= 0 {
		return -1, src
	}
	n := s.Size()
	if c == Gzip {
		return n, src
	}
	// Only a gzip source grows: look at its magic bytes. Stream's own buffer reads past this small
	// one once it is drained.
	br := bufio.NewReaderSize(src, 512)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		n *= 16
	}
	return n, br
}

// WriteManifest writes m as the date's manifest, all or nothing.
func WriteManifest(ctx context.Context, b *blob.Bucket, r Report, m Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	data = append(data, '\n')
	key := r.ManifestKey()
	if err := WriteObject(ctx, b, key, "application/json", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// ReadManifest reads the date's manifest. It returns an error wrapping ErrManifestNotFound when
// there is none, and one wrapping ErrInvalidManifest when there is one that does not describe this
// date (a controller should report that rather than export over it).
func ReadManifest(ctx context.Context, b *blob.Bucket, r Report) (Manifest, error) {
	if err := r.Validate(); err != nil {
		return Manifest{}, err
	}
	key := r.ManifestKey()
	rd, err := b.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return Manifest{}, fmt.Errorf("%s: %w", key, ErrManifestNotFound)
		}
		return Manifest{}, fmt.Errorf("read %s: %w", key, err)
	}
	defer func() { _ = rd.Close() }()
	data, err := io.ReadAll(io.LimitReader(rd, maxManifestSize+1))
	if err != nil {
		return Manifest{}, fmt.Errorf("read %s: %w", key, err)
	}
	if len(data) > maxManifestSize {
		return Manifest{}, fmt.Errorf("read %s: larger than %d bytes: %w", key, maxManifestSize, ErrInvalidManifest)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("decode %s: %w: %w", key, ErrInvalidManifest, err)
	}
	if m.Date != r.Date || m.ReportType != r.ReportType || !m.Compression.Valid() || m.Object != r.DataKey(m.Compression) {
		return Manifest{}, fmt.Errorf("%s describes %s %s at %s, not this date: %w", key, m.ReportType, m.Date, m.Object, ErrInvalidManifest)
	}
	return m, nil
}

// Verify reads the object that m describes and checks its size and SHA-256, streaming.
func Verify(ctx context.Context, b *blob.Bucket, m Manifest) error {
	rd, err := b.NewReader(ctx, m.Object, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", m.Object, err)
	}
	defer func() { _ = rd.Close() }()
	h := sha256.New()
	n, err := io.CopyBuffer(h, rd, make([]byte, copyBufferSize))
	if err != nil {
		return fmt.Errorf("read %s: %w", m.Object, err)
	}
	if n != m.Bytes {
		return fmt.Errorf("%s holds %d bytes, the manifest says %d", m.Object, n, m.Bytes)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != m.SHA256 {
		return fmt.Errorf("%s has sha256 %s, the manifest says %s", m.Object, sum, m.SHA256)
	}
	return nil
}
