package export_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strconv"
)

const csvHeader = "company_id,unit_id,unit_type,name,rule,experiment_group,user_dimensions,first_exposure_pst_date\n"

// reportSource generates a first_exposures-like CSV of at least size bytes, row by row, in constant
// memory. Some fields are quoted and hold commas, doubled quotes and line breaks, so that a row
// counter that splits on newlines gets it wrong.
type reportSource struct {
	size int64 // stop after the row that crosses size
	n    int64 // bytes produced
	rows int64 // data rows produced
	buf  []byte
	off  int
	// noTrailingNewline drops the final line break.
	noTrailingNewline bool
}

func newReport(size int64) *reportSource {
	return &reportSource{size: size, buf: append([]byte(nil), csvHeader...)}
}

func (s *reportSource) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if s.off == len(s.buf) {
			if s.n >= s.size {
				break
			}
			s.buf = appendRow(s.buf[:0], s.rows)
			s.rows++
			s.off = 0
			if s.n+int64(len(s.buf)) >= s.size && s.noTrailingNewline {
				s.buf = s.buf[:len(s.buf)-1]
			}
		}
		c := copy(p, s.buf[s.off:])
		s.off += c
		s.n += int64(c)
		p = p[c:]
		total += c
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

func appendRow(b []byte, i int64) []byte {
	// Hash-like IDs and varying numbers keep the data about as compressible as a real report;
	// a repetitive one would flatter gzip's speed.
	h := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	b = append(b, "acme,"...)
	b = strconv.AppendUint(b, h, 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, h*0x94D049BB133111EB, 36)
	b = append(b, ",userID,"...)
	switch i % 5 {
	case 0:
		b = append(b, `"gate, with comma",`...)
	case 1:
		b = append(b, "\"multi\nline\r\nname\","...)
	case 2:
		b = append(b, `"say ""hi""",`...)
	default:
		b = append(b, "plain_gate,"...)
	}
	b = append(b, "rule_"...)
	b = strconv.AppendInt(b, i%97, 10)
	b = append(b, `,Control,"{""country"":""US"",""session"":"`...)
	b = strconv.AppendUint(b, h>>7, 10)
	b = append(b, `}",2026-11-01 `...)
	b = strconv.AppendInt(b, int64(h%86400), 10)
	return append(b, '\n')
}

// reportBytes returns a whole generated report and its data row count.
func reportBytes(size int64) ([]byte, int64) {
	s := newReport(size)
	b, _ := io.ReadAll(s)
	return b, s.rows
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// failingReader returns r's bytes until after bytes have been read, then err (a download reset).
type failingReader struct {
	r     io.Reader
	after int64
	err   error
	n     int64
	// onFail runs once, when the failure point is reached, before err is returned (e.g. to stop a
	// server, so that the failure is the store's instead).
	onFail func()
	failed bool
}

var errReset = errors.New("connection reset by peer")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n >= f.after {
		if !f.failed {
			f.failed = true
			if f.onFail != nil {
				f.onFail()
			}
		}
		if f.err != nil {
			return 0, f.err
		}
		f.after = 1 << 62 // after onFail, deliver the rest
	}
	if rem := f.after - f.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := f.r.Read(p)
	f.n += int64(n)
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
