package main

import (
	"context"
	"io"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// TestReportDownloadClientTrustsSSLCertFile: the operator's download client trusts a CA given
// through SSL_CERT_FILE, as a private CA or a TLS-inspecting proxy needs. The system roots are read
// once per process, on first use, so this test sets the variable before any TLS handshake and is
// the only one in this package that makes one.
func TestReportDownloadClientTrustsSSLCertFile(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	t.Setenv("SSL_CERT_FILE", fake.DownloadCAFile())
	t.Setenv("SSL_CERT_DIR", t.TempDir())
	report := statsigtest.GeneratedReport("2026-11-09", 100, false)
	fake.SetReport("first_exposures", "2026-11-09", report)

	clients, err := statsig.NewClients(fake.Options())
	g.Expect(err).NotTo(HaveOccurred())
	rep, err := clients.ForKey(fake.ConsoleKey).GetReport(context.Background(), "first_exposures", "2026-11-09")
	g.Expect(err).NotTo(HaveOccurred())

	body, err := export.Download(context.Background(), reportDownloadClient(), rep.URL)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = body.Close() }()
	got, err := io.ReadAll(body)
	g.Expect(err).NotTo(HaveOccurred())
	want, err := io.ReadAll(report.Open())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(want))
	g.Expect(fake.KeyLeaksToDownloadHost()).To(BeZero())
}
