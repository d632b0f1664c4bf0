package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/statsig-operator/statsig-operator/internal/export"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/testservers"
)

// reportFile returns a deterministic first_exposures-like CSV of about size bytes, generated once
// and cached under ~/.cache/statsig-operator/bench (STATSIG_OPERATOR_CACHE moves the root). Some
// fields are quoted and hold commas and doubled quotes, as real reports' user dimensions do.
func reportFile(t testing.TB, size int64) string {
	t.Helper()
	root := os.Getenv("STATSIG_OPERATOR_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		root = filepath.Join(home, ".cache", "statsig-operator")
	}
	dir := filepath.Join(root, "bench")
	path := filepath.Join(dir, fmt.Sprintf("first_exposures-v1-%d.csv", size))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, "gen-*.csv")
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	n, _ := w.WriteString("company_id,unit_id,unit_type,name,rule,experiment_group,user_dimensions,first_exposure_pst_date\n")
	written := int64(n)
	var row []byte
	for i := uint64(0); written < size; i++ {
		row = appendReportRow(row[:0], i)
		m, err := w.Write(row)
		if err != nil {
			t.Fatal(err)
		}
		written += int64(m)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// splitmix is a tiny deterministic mixer: the same row index gives the same row on every machine.
func splitmix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

func appendReportRow(b []byte, i uint64) []byte {
	h := splitmix(i)
	b = append(b, "company_"...)
	b = strconv.AppendUint(b, h%7, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, splitmix(h), 16)
	b = append(b, ",userID,"...)
	b = append(b, []string{"new_checkout", "button_color_test", "pricing_page", "dark_mode"}[h%4]...)
	b = append(b, ',')
	b = strconv.AppendUint(b, h%97, 36)
	b = append(b, ",rule_"...)
	b = strconv.AppendUint(b, (h>>8)%13, 10)
	b = append(b, ',')
	b = append(b, []string{"Control", "Test", "Test B"}[(h>>16)%3]...)
	b = append(b, `,"{""country"":""`...)
	b = append(b, []string{"US", "DE", "JP", "BR", "IN"}[(h>>24)%5]...)
	b = append(b, `"",""app_version"":""1.`...)
	b = strconv.AppendUint(b, (h>>32)%40, 10)
	b = append(b, `.0""}",2026-11-`...)
	b = strconv.AppendUint(b, 10+(h>>40)%18, 10)
	return append(b, '\n')
}

// exportJob is what the export child does.
type exportJob struct {
	SourceURL   string
	Destination string
	Credentials map[string][]byte
	Compression export.Compression
	Date        string
	// CAPEM is the download server's certificate.
	CAPEM []byte
}

// exportOutcome is what the export child reports.
type exportOutcome struct {
	Wall       time.Duration
	Bytes      int64
	Rows       int64
	StartRSS   int64
	PeakRSS    int64
	Error      string
	CSVBytes   int64
	ObjectName string
}

// runExportChild is the operator's export path (download, stream, upload, manifest) in a process of
// its own, so that its peak RSS (VmHWM) is the export's alone. It prints one JSON exportOutcome.
func runExportChild(spec string) int {
	var job exportJob
	out := exportOutcome{}
	defer func() { _ = json.NewEncoder(os.Stdout).Encode(out) }()
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		out.Error = err.Error()
		return 1
	}
	pid := os.Getpid()
	out.StartRSS = procStatusBytes(childTB{}, pid, "VmRSS:")
	ctx := context.Background()
	start := time.Now()
	b, err := objectstore.Open(ctx, objectstore.Destination{URL: job.Destination, Credentials: job.Credentials}, objectstore.Options{})
	if err != nil {
		out.Error = err.Error()
		return 1
	}
	defer func() { _ = b.Close() }()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(job.CAPEM)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	body, err := export.Download(ctx, &http.Client{Transport: transport}, job.SourceURL)
	if err != nil {
		out.Error = err.Error()
		return 1
	}
	defer func() { _ = body.Close() }()
	m, err := export.Export(ctx, b, export.Report{Prefix: "operator", ReportType: "first_exposures", Date: job.Date,
		ExportedBy: "Bench/bench"}, job.Compression, body, nil)
	out.Wall = time.Since(start)
	if err != nil {
		out.Error = err.Error()
		return 1
	}
	out.Bytes, out.Rows, out.CSVBytes, out.ObjectName = m.Bytes, m.Rows, m.CSVBytes, m.Object
	out.PeakRSS = procStatusBytes(childTB{}, pid, "VmHWM:")
	return 0
}

// childTB lets the child use the harness's helpers; a failure there ends the child.
type childTB struct{ testing.TB }

func (childTB) Helper() {}
func (childTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}
func (c childTB) Fatal(args ...any) { c.Fatalf("%s", fmt.Sprint(args...)) }

// exportResult is one run of P5: the operator's export and its peer's, of one report.
type exportResult struct {
	Compression           export.Compression
	OperatorWall          time.Duration
	PeerWall              time.Duration
	OperatorBytes         int64
	PeerBytes             int64
	OperatorPeakRSSGrowth int64
	Rows                  int64
}

// measureExport exports the report at path to MinIO with the operator's code (in a child process)
// and with the peer, `curl | [gzip -1 |] aws s3 cp -`, one after the other.
func measureExport(t testing.TB, s3 *testservers.S3Server, path string, c export.Compression, run int) exportResult {
	t.Helper()
	// Report downloads are https only, as Statsig's are.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	res := exportResult{Compression: c}

	date := fmt.Sprintf("2026-11-%02d", 1+run%28)
	job, err := json.Marshal(exportJob{SourceURL: srv.URL + "/report.csv", Destination: s3.URL(s3.Bucket),
		Credentials: s3.Credentials(), Compression: c, Date: date, CAPEM: caPEM})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), exportChildEnv+"="+string(job))
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	var out exportOutcome
	if jerr := json.Unmarshal(raw, &out); jerr != nil || err != nil || out.Error != "" {
		t.Fatalf("export child: %v %v %s", err, jerr, out.Error)
	}
	res.OperatorWall, res.OperatorBytes, res.Rows = out.Wall, out.Bytes, out.Rows
	res.OperatorPeakRSSGrowth = out.PeakRSS - out.StartRSS

	key := fmt.Sprintf("peer/first_exposures-%s-%d.csv", date, run)
	pipe := "curl -sS --fail --cacert " + caFile + " " + srv.URL + "/report.csv | "
	if c == export.Gzip {
		pipe += "gzip -1 | "
		key += ".gz"
	}
	pipe += "aws --endpoint-url " + s3.Endpoint + " s3 cp --only-show-errors - s3://" + s3.Bucket + "/" + key
	peer := exec.Command("bash", "-o", "pipefail", "-c", pipe)
	peer.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
		"AWS_DEFAULT_REGION="+s3.Region, "AWS_EC2_METADATA_DISABLED=true")
	start := time.Now()
	if b, err := peer.CombinedOutput(); err != nil {
		t.Fatalf("peer %q: %v\n%s", pipe, err, b)
	}
	res.PeerWall = time.Since(start)
	b, err := objectstore.Open(context.Background(), objectstore.Destination{URL: s3.URL(s3.Bucket), Credentials: s3.Credentials()}, objectstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	attrs, err := b.Attributes(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	res.PeerBytes = attrs.Size
	return res
}

// awsCLI reports whether the peer's aws command is installed; `make bench` installs it from the
// Debian packages when it is missing.
func awsCLI() error {
	if _, err := exec.LookPath("aws"); err != nil {
		return fmt.Errorf("the peer needs the aws CLI (apt-get install awscli): %w", err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		return fmt.Errorf("the peer needs curl: %w", err)
	}
	return nil
}
