package statsigtest

import (
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ReportContent is a report the download host serves.
type ReportContent struct {
	// Open returns the CSV, afresh for every download. It is streamed, so a generated reader of any
	// size costs no memory; an io.Closer is closed after the download.
	Open func() io.Reader
	// Gzip serves the bytes gzip-compressed (Content-Type application/gzip, no Content-Encoding),
	// the way a compressed report file would be.
	Gzip bool
}

// BytesReport serves data.
func BytesReport(data []byte, gzip bool) ReportContent {
	return ReportContent{Open: func() io.Reader { return bytes.NewReader(data) }, Gzip: gzip}
}

// FirstExposuresHeader is the header row of a first_exposures report.
const FirstExposuresHeader = "company_id,unit_id,unit_type,exposure_type,name,rule,experiment_group," +
	"first_exposure_utc,first_exposure_pst_date,as_of_pst_date,percent,rollout,user_dimensions," +
	"inserted_at,rule_name,group_id"

// GeneratedReport serves a first_exposures CSV of rows deterministic data rows (plus the header),
// generated as it is read: a report of gigabytes costs no memory.
func GeneratedReport(date string, rows int64, gzip bool) ReportContent {
	return ReportContent{Open: func() io.Reader { return &csvGenerator{date: date, rows: rows} }, Gzip: gzip}
}

type csvGenerator struct {
	date string
	rows int64
	next int64
	buf  []byte
	head bool
}

func (g *csvGenerator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case !g.head:
			g.head = true
			g.buf = append(g.buf, FirstExposuresHeader+"\n"...)
		case g.next < g.rows:
			i := g.next
			g.next++
			g.buf = fmt.Appendf(g.buf,
				"company1,user-%d,userID,experiment,exp_%d,rule_%d,%s,%s 12:00:00,%s,%s,50,100,\"{\"\"country\"\":\"\"US\"\"}\",%s 13:00:00,Rule %d,group_%d\n",
				i, i%17, i%5, []string{"Control", "Test"}[i%2], g.date, g.date, g.date, g.date, i%5, i%2)
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// SetReport makes the Console serve a report for reportType on date. Dates without one answer 400
// "Data is not available", as Statsig does before it publishes a date.
func (s *Server) SetReport(reportType, date string, r ReportContent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports[reportType+"/"+date] = r
}

// DeleteReport makes a date unavailable again.
func (s *Server) DeleteReport(reportType, date string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reports, reportType+"/"+date)
}

// SetLegacyReport makes a date available to the legacy get_daily_report, which serves only the
// latest date set for the type; with none set it answers 400 "data is not available".
func (s *Server) SetLegacyReport(reportType, date string, r ReportContent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.legacy[reportType] == nil {
		s.legacy[reportType] = map[string]ReportContent{}
	}
	s.legacy[reportType][date] = r
}

// issueDownload returns a fresh download URL on the TLS host, valid until ExpireDownloads.
func (s *Server) issueDownload(reportType, date string, r ReportContent) string {
	token := randomToken()
	s.mu.Lock()
	s.downloads[token] = r
	s.mu.Unlock()
	return fmt.Sprintf("%s/reports/%s/%s/%s.csv?sig=%s", s.dl.URL, reportType, date, reportType, token)
}

// ExpireDownloads invalidates every download URL issued so far: they answer 403, as an expired
// signed URL does.
func (s *Server) ExpireDownloads() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downloads = map[string]ReportContent{}
}

// DownloadURL is the base URL of the download host.
func (s *Server) DownloadURL() string { return s.dl.URL }

// DownloadHTTPClient is an *http.Client that trusts the download host's certificate.
func (s *Server) DownloadHTTPClient() *http.Client { return s.dl.Client() }

// DownloadCAFile writes the download host's certificate as PEM (once) and returns its path, for
// SSL_CERT_FILE.
func (s *Server) DownloadCAFile() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.caFile == "" {
		p := filepath.Join(s.t.TempDir(), "statsigtest-ca.pem")
		data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.dl.Certificate().Raw})
		if err := os.WriteFile(p, data, 0o600); err != nil {
			s.t.Errorf("statsigtest: write CA file: %v", err)
		}
		s.caFile = p
	}
	return s.caFile
}

// serveDownload serves a report. A request that carries any Statsig key, in any header, is a leak:
// it is counted, listed in Violations and refused.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	rec := s.record(EndpointDownload, r, nil)
	if s.carriesKey(r) {
		s.mu.Lock()
		s.keyLeaks++
		s.violations = append(s.violations, "download: request carried a Statsig key")
		s.mu.Unlock()
		s.setStatus(rec, http.StatusForbidden)
		http.Error(w, "a Statsig key was sent to the download host", http.StatusForbidden)
		return
	}
	if ch := s.pauseFor(EndpointDownload); ch != nil {
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
	f := s.takeFault(EndpointDownload)
	if !sleepCtx(r, f.Latency) {
		return
	}
	if f.Status != 0 {
		s.writeFaultStatus(w, r, rec, f)
		return
	}
	s.mu.Lock()
	content, found := s.downloads[r.URL.Query().Get("sig")]
	s.mu.Unlock()
	if !found || r.Method != http.MethodGet {
		s.setStatus(rec, http.StatusForbidden)
		http.Error(w, "AccessDenied: Request has expired", http.StatusForbidden)
		return
	}
	if content.Gzip {
		w.Header().Set("Content-Type", "application/gzip")
	} else {
		w.Header().Set("Content-Type", "text/csv")
	}
	s.setStatus(rec, http.StatusOK)
	src := content.Open()
	if c, ok := src.(io.Closer); ok {
		defer func() { _ = c.Close() }()
	}
	var dst io.Writer = w
	if f.Truncate || f.ResetMidBody {
		dst = &abortAfter{w: w, left: 32 << 10, reset: f.ResetMidBody}
	}
	if f.SlowBody > 0 {
		dst = &slowWriter{w: dst, r: r, delay: f.SlowBody}
	}
	if content.Gzip {
		gz := gzip.NewWriter(dst)
		_, _ = io.Copy(gz, src)
		_ = gz.Close()
	} else {
		_, _ = io.Copy(dst, src)
	}
	if f.Truncate || f.ResetMidBody {
		// A body shorter than the cut point must still fail the download.
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) carriesKey(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, vs := range r.Header {
		for _, v := range vs {
			for k := range s.keys {
				if strings.Contains(v, k) {
					return true
				}
			}
			if strings.Contains(v, "secret-") || strings.Contains(v, "console-") {
				return true
			}
		}
	}
	return strings.Contains(r.URL.RawQuery, "secret-") || strings.Contains(r.URL.RawQuery, "console-")
}

// abortAfter passes the first left bytes and then kills the connection.
type abortAfter struct {
	w     http.ResponseWriter
	left  int
	reset bool
}

func (a *abortAfter) Write(p []byte) (int, error) {
	if len(p) <= a.left {
		a.left -= len(p)
		return a.w.Write(p)
	}
	_, _ = a.w.Write(p[:a.left])
	if fl, ok := a.w.(http.Flusher); ok {
		fl.Flush()
	}
	if a.reset {
		if hj, ok := a.w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				abort(conn)
			}
		}
	}
	panic(http.ErrAbortHandler)
}

// slowWriter pauses before its second write, once.
type slowWriter struct {
	w     io.Writer
	r     *http.Request
	delay time.Duration
	n     int
}

func (s *slowWriter) Write(p []byte) (int, error) {
	s.n++
	if s.n == 2 {
		if fl, ok := s.w.(http.Flusher); ok {
			fl.Flush()
		}
		if !sleepCtx(s.r, s.delay) {
			return 0, io.ErrClosedPipe
		}
	}
	return s.w.Write(p)
}
