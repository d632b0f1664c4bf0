package export_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/export"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestStreamRowCounting(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		rows int64
	}{
		{"empty", "", 0},
		{"header only", "a,b\n", 0},
		{"header only without newline", "a,b", 0},
		{"two rows", "a,b\n1,2\n3,4\n", 2},
		{"no trailing newline", "a,b\n1,2\n3,4", 2},
		{"crlf", "a,b\r\n1,2\r\n3,4\r\n", 2},
		{"crlf without trailing newline", "a,b\r\n1,2\r\n3,4", 2},
		{"quoted newline", "a,b\n\"x\ny\",2\n3,4\n", 2},
		{"quoted crlf and comma", "a,b\n\"x,\r\ny\",2\n", 1},
		{"doubled quotes", "a,b\n\"say \"\"hi\"\"\nthere\",2\n", 1},
		{"doubled quotes then newline", "a,b\n\"\"\"\"\n1,2\n", 2},
		{"blank lines are not records", "a,b\n\n1,2\n\r\n3,4\n\n", 2},
		{"quote inside unquoted field is literal", "a,b\nx\"y,2\n3,4\n", 2},
		{"quoted last field without newline", "a,b\n1,\"two\nlines\"", 1},
		{"empty quoted field", "a,b\n\"\",\"\"\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var out bytes.Buffer
			st, err := export.Stream(context.Background(), &out, strings.NewReader(tc.in), export.None)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(st.Rows).To(Equal(tc.rows))
			g.Expect(st.CSVBytes).To(Equal(int64(len(tc.in))))
			g.Expect(out.String()).To(Equal(tc.in))
		})
	}
}

// TestStreamRowsMatchEncodingCSV checks the streaming counter against encoding/csv on random CSV
// cut into random read sizes, so that state carried across reads is exercised.
func TestStreamRowsMatchEncodingCSV(t *testing.T) {
	g := NewWithT(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "bc", ",", "\n", "\r\n", `"q,"`, "\"m\nl\"", `"d""q"`, `""`, " "}
	for i := 0; i < 300; i++ {
		var sb strings.Builder
		for j := rnd.IntN(60); j > 0; j-- {
			sb.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		in := sb.String()
		r := csv.NewReader(strings.NewReader(in))
		r.FieldsPerRecord = -1
		recs, err := r.ReadAll()
		if err != nil {
			continue // only well-formed CSV has a defined row count
		}
		want := int64(0)
		if len(recs) > 0 {
			want = int64(len(recs) - 1)
		}
		st, err := export.Stream(context.Background(), io.Discard, &choppyReader{s: in, rnd: rnd}, export.None)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.Rows).To(Equal(want), "input %q", in)
	}
}

// choppyReader returns its string in random small pieces.
type choppyReader struct {
	s   string
	rnd *rand.Rand
}

func (c *choppyReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := 1 + c.rnd.IntN(4)
	n = min(n, len(p), len(c.s))
	copy(p, c.s[:n])
	c.s = c.s[n:]
	return n, nil
}

func TestStreamCompression(t *testing.T) {
	plain, rows := reportBytes(3 << 20)
	zipped := gzipBytes(plain)
	for _, tc := range []struct {
		name    string
		src     []byte
		c       export.Compression
		srcGzip bool
		// same: the stored object must be the source, byte for byte.
		same bool
	}{
		{"plain to gzip", plain, export.Gzip, false, false},
		{"plain to none", plain, export.None, false, true},
		{"gzip source kept as is", zipped, export.Gzip, true, true},
		{"gzip source to none", zipped, export.None, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var out bytes.Buffer
			st, err := export.Stream(context.Background(), &out, bytes.NewReader(tc.src), tc.c)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(st.SourceGzip).To(Equal(tc.srcGzip))
			g.Expect(st.Bytes).To(Equal(int64(out.Len())))
			g.Expect(st.SHA256).To(Equal(sha(out.Bytes())))
			g.Expect(st.CSVBytes).To(Equal(int64(len(plain))))
			g.Expect(st.Rows).To(Equal(rows))
			if tc.same {
				g.Expect(bytes.Equal(out.Bytes(), tc.src)).To(BeTrue())
			}
			if tc.c == export.Gzip {
				g.Expect(bytes.Equal(gunzip(t, out.Bytes()), plain)).To(BeTrue())
			} else {
				g.Expect(bytes.Equal(out.Bytes(), plain)).To(BeTrue())
			}
		})
	}
}

func TestStreamMultiMemberGzipSource(t *testing.T) {
	g := NewWithT(t)
	a, b := "h\n1\n", "2\n3\n"
	src := append(gzipBytes([]byte(a)), gzipBytes([]byte(b))...)
	var out bytes.Buffer
	st, err := export.Stream(context.Background(), &out, bytes.NewReader(src), export.Gzip)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Bytes()).To(Equal(src))
	g.Expect(st.Rows).To(Equal(int64(3)))
	g.Expect(st.CSVBytes).To(Equal(int64(len(a + b))))
}

func TestStreamRejectsBrokenGzipSource(t *testing.T) {
	plain, _ := reportBytes(1 << 20)
	zipped := gzipBytes(plain)
	corrupt := append([]byte(nil), zipped...)
	corrupt[len(corrupt)/2] ^= 0xff
	for name, src := range map[string][]byte{
		"truncated": zipped[:len(zipped)/2],
		"corrupt":   corrupt,
	} {
		for _, c := range []export.Compression{export.Gzip, export.None} {
			t.Run(name+"/"+string(c), func(t *testing.T) {
				g := NewWithT(t)
				_, err := export.Stream(context.Background(), io.Discard, bytes.NewReader(src), c)
				g.Expect(err).To(HaveOccurred())
			})
		}
	}
}

func TestStreamSourceErrorSurfaces(t *testing.T) {
	for _, c := range []export.Compression{export.Gzip, export.None} {
		t.Run(string(c), func(t *testing.T) {
			g := NewWithT(t)
			src := &failingReader{r: newReport(4 << 20), after: 2 << 20, err: errReset}
			_, err := export.Stream(context.Background(), io.Discard, src, c)
			g.Expect(err).To(MatchError(errReset))
		})
	}
}

func TestStreamHonoursContext(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	src := &failingReader{r: newReport(4 << 20), after: 1 << 20, onFail: cancel}
	_, err := export.Stream(ctx, io.Discard, src, export.None)
	g.Expect(err).To(MatchError(context.Canceled))
}

func TestStreamToBytes(t *testing.T) {
	t.Run("fits", func(t *testing.T) {
		g := NewWithT(t)
		plain, rows := reportBytes(200 << 10)
		data, st, err := export.StreamToBytes(context.Background(), bytes.NewReader(plain), export.Gzip, 1<<20)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(gunzip(t, data)).To(Equal(plain))
		g.Expect(st.Rows).To(Equal(rows))
		g.Expect(st.SHA256).To(Equal(sha(data)))
	})
	t.Run("too large stops reading early", func(t *testing.T) {
		g := NewWithT(t)
		src := &countingReader{r: newReport(64 << 20)}
		_, _, err := export.StreamToBytes(context.Background(), src, export.None, 1<<20)
		g.Expect(errors.Is(err, export.ErrTooLarge)).To(BeTrue(), "got %v", err)
		// The limit plus the stream's read-ahead, not the 64 MiB report.
		g.Expect(src.n).To(BeNumerically("<", 4<<20))
	})
	t.Run("exactly at the limit fits", func(t *testing.T) {
		g := NewWithT(t)
		data, _, err := export.StreamToBytes(context.Background(), strings.NewReader("a\n1\n"), export.None, 4)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(data)).To(Equal("a\n1\n"))
	})
}

func TestStreamRejectsUnknownCompression(t *testing.T) {
	g := NewWithT(t)
	_, err := export.Stream(context.Background(), io.Discard, strings.NewReader("a\n"), "Zstd")
	g.Expect(err).To(HaveOccurred())
}
