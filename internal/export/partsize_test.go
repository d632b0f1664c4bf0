package export

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	. "github.com/onsi/gomega"
)

func TestPartSizeFor(t *testing.T) {
	g := NewWithT(t)
	const mib, gib = int64(1 << 20), int64(1 << 30)
	// Unknown sizes and anything up to 9,000 parts of 5 MiB (about 44 GiB) take the smallest part,
	// which keeps an upload's memory flat.
	for _, size := range []int64{-1, 0, 1, 5 * mib, gib, 43 * gib, minPartSize * targetParts} {
		g.Expect(partSizeFor(size)).To(BeEquivalentTo(minPartSize), "size %d", size)
	}
	g.Expect(int64(minPartSize)*maxParts).To(BeNumerically(">", 48*gib), "the largest object of unknown size")
	// Above that, parts grow so that the object fits in 9,000 of them, up to S3's largest object.
	for _, size := range []int64{minPartSize*targetParts + 1, 45 * gib, 100 * gib, 1 << 40, 5 << 40} {
		p := partSizeFor(size)
		g.Expect(p%mib).To(BeZero(), "size %d: whole MiB", size)
		g.Expect(p).To(BeNumerically(">", minPartSize), "size %d", size)
		g.Expect((size+p-1)/p).To(BeNumerically("<=", targetParts), "size %d: parts", size)
		g.Expect(p).To(BeNumerically("<=", 5*gib), "size %d: S3's largest part", size)
	}
}

// sized is a source that announces its size, as Download's body does (and bytes.Reader, which
// the cases below hide behind a struct so that each says what it means).
type sized struct {
	io.Reader
	n int64
}

func (s sized) Size() int64 { return s.n }

func TestStoredSizeHint(t *testing.T) {
	g := NewWithT(t)
	plain := bytes.Repeat([]byte("a,b,c\n"), 1000)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write(plain)
	_ = zw.Close()
	zipped := zb.Bytes()

	for _, tc := range []struct {
		name string
		src  io.Reader
		c    Compression
		want int64
		data []byte
	}{
		{"no size", io.MultiReader(bytes.NewReader(plain)), None, -1, plain},
		{"unknown size", sized{bytes.NewReader(plain), -1}, Gzip, -1, plain},
		{"plain to gzip", sized{bytes.NewReader(plain), int64(len(plain))}, Gzip, int64(len(plain)), plain},
		{"plain to plain", sized{bytes.NewReader(plain), int64(len(plain))}, None, int64(len(plain)), plain},
		{"gzip as is", sized{bytes.NewReader(zipped), int64(len(zipped))}, Gzip, int64(len(zipped)), zipped},
		{"gzip to plain", sized{bytes.NewReader(zipped), int64(len(zipped))}, None, 16 * int64(len(zipped)), zipped},
	} {
		n, r := storedSizeHint(tc.src, tc.c)
		g.Expect(n).To(Equal(tc.want), tc.name)
		// Looking at the magic bytes loses nothing of the source.
		got, err := io.ReadAll(r)
		g.Expect(err).NotTo(HaveOccurred(), tc.name)
		g.Expect(got).To(Equal(tc.data), tc.name)
	}
}
