package export_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/export"
)

func TestDownloadRefusesHTTP(t *testing.T) {
	g := NewWithT(t)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	_, err := export.Download(context.Background(), srv.Client(), srv.URL+"/report.csv")
	g.Expect(errors.Is(err, export.ErrInsecureURL)).To(BeTrue(), "got %v", err)
	g.Expect(hits).To(BeZero())
}

func TestDownloadRefusesRedirectToHTTP(t *testing.T) {
	g := NewWithT(t)
	plainHits := 0
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits++ }))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/x", http.StatusFound))
	defer tls.Close()
	_, err := export.Download(context.Background(), tls.Client(), tls.URL+"/report.csv")
	g.Expect(errors.Is(err, export.ErrInsecureURL)).To(BeTrue(), "got %v", err)
	g.Expect(plainHits).To(BeZero())
}

func TestDownloadSendsNoCredentials(t *testing.T) {
	g := NewWithT(t)
	var got http.Header
	body := []byte("a,b\n1,2\n")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	rc, err := export.Download(context.Background(), srv.Client(), srv.URL+"/r.csv?X-Goog-Signature=abc")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(rc)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(data).To(Equal(body))
	for name := range got {
		g.Expect(strings.ToLower(name)).NotTo(ContainSubstring("statsig"))
		g.Expect(name).NotTo(Equal("Authorization"))
	}
}

func TestDownloadStatusError(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "expired", http.StatusForbidden)
	}))
	defer srv.Close()
	_, err := export.Download(context.Background(), srv.Client(), srv.URL+"/r.csv?sig=topsecret")
	var de *export.DownloadError
	g.Expect(errors.As(err, &de)).To(BeTrue())
	g.Expect(de.StatusCode).To(Equal(http.StatusForbidden))
	g.Expect(err.Error()).NotTo(ContainSubstring("topsecret"))
}

func TestDownloadErrorsDoNotQuoteTheSignature(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close() // nothing listens any more: the request fails in the transport
	_, err := export.Download(context.Background(), srv.Client(), srv.URL+"/r.csv?sig=topsecret")
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).NotTo(ContainSubstring("topsecret"))
}

// TestDownloadResetMidBody cuts the connection halfway through a body with a Content-Length: the
// reader must fail, not end cleanly, so that an upload fed from it is abandoned.
func TestDownloadResetMidBody(t *testing.T) {
	g := NewWithT(t)
	plain, _ := reportBytes(2 << 20)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(plain)))
		_, _ = w.Write(plain[:len(plain)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	rc, err := export.Download(context.Background(), srv.Client(), srv.URL+"/r.csv?sig=topsecret")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = rc.Close() }()
	_, err = export.Stream(context.Background(), io.Discard, rc, export.Gzip)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).NotTo(ContainSubstring("topsecret"))
}

func TestDownloadKeepsGzipEncodedBodyCompressed(t *testing.T) {
	g := NewWithT(t)
	plain, rows := reportBytes(1 << 20)
	zipped := gzipBytes(plain)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(zipped)
	}))
	defer srv.Close()
	rc, err := export.Download(context.Background(), srv.Client(), srv.URL+"/r.csv")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = rc.Close() }()
	var out bytes.Buffer
	st, err := export.Stream(context.Background(), &out, rc, export.Gzip)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.SourceGzip).To(BeTrue())
	g.Expect(out.Bytes()).To(Equal(zipped))
	g.Expect(st.Rows).To(Equal(rows))
}
