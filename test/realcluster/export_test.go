package realcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

const (
	minioPort   = "9000"
	minioUser   = "realcluster"
	minioSecret = "realcluster-secret"
	minioBucket = "exports"
)

// startMinIO runs MinIO inside the cluster's namespace on the node IP, and returns a client that
// reaches it from the test process.
func (s *suite) startMinIO(t *testing.T) *s3.Client {
	t.Helper()
	bin := filepath.Join(os.Getenv("STATSIG_OPERATOR_TEST_SERVERS"), "minio")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("MinIO: %v; set STATSIG_OPERATOR_TEST_SERVERS to what hack/test-servers.sh prints (make test does)", err)
	}
	data := s.path("minio")
	fatalIf(t, os.MkdirAll(data, 0o755))
	fatalIf(t, s.startEnv("minio", []string{
		"MINIO_ROOT_USER=" + minioUser, "MINIO_ROOT_PASSWORD=" + minioSecret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1", "HOME=" + data,
	}, bin, "server", "--quiet",
		"--address", net.JoinHostPort(nodeIP, minioPort), "--console-address", "127.0.0.1:9001", data))
	hc := &http.Client{Transport: &http.Transport{DialContext: s.ns.DialContext}, Timeout: 30 * time.Second}
	endpoint := "http://" + net.JoinHostPort(nodeIP, minioPort)
	fatalIf(t, waitFor(podWait, "MinIO ready", func() error {
		resp, err := hc.Get(endpoint + "/minio/health/ready")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("MinIO ready: %s", resp.Status)
		}
		return nil
	}))
	cl := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true, HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider(minioUser, minioSecret, ""),
	})
	_, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(minioBucket)})
	fatalIf(t, err)
	return cl
}

// (h) A DailyReportExport to MinIO in the cluster's namespace: the operator pod downloads the
// report from the fake's TLS download host and writes it; the object read back is the report.
func (s *suite) journeyExport(t *testing.T) {
	const ns = "journey-h"
	store := s.startMinIO(t)
	pacific, err := time.LoadLocation("America/Los_Angeles")
	fatalIf(t, err)
	date := time.Now().In(pacific).AddDate(0, 0, -1).Format(time.DateOnly)
	const rows = 1000
	s.fake.SetReport("first_exposures", date, statsigtest.GeneratedReport(date, rows, false))
	want, err := io.ReadAll(statsigtest.GeneratedReport(date, rows, false).Open())
	fatalIf(t, err)

	q := url.Values{}
	q.Set("endpoint", "http://"+net.JoinHostPort(nodeIP, minioPort))
	q.Set("region", "us-east-1")
	q.Set("use_path_style", "true")
	start := time.Now()
	fatalIf(t, s.apply(namespaceYAML(ns, ""), s.secretYAML(ns), fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: s3-writer, namespace: %s}
stringData: {AWS_ACCESS_KEY_ID: %s, AWS_SECRET_ACCESS_KEY: %s}
`, ns, minioUser, minioSecret), fmt.Sprintf(`apiVersion: statsig-operator.io/v1alpha1
kind: DailyReportExport
metadata: {name: exposures, namespace: %s}
spec:
  secretRef: {name: statsig}
  reportType: first_exposures
  source: Console
  schedule: "0 11 * * *"
  startDate: %q
  destination:
    objectStore:
      url: %q
      prefix: realcluster
      credentialsSecretRef: {name: s3-writer}
  compression: None
`, ns, date, "s3://"+minioBucket+"?"+q.Encode())))

	var exported statsigv1alpha1.ExportedDate
	fatalIf(t, waitFor(rolloutWait, "report "+date+" exported", func() error {
		var e statsigv1alpha1.DailyReportExport
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "exposures"}, &e); err != nil {
			return err
		}
		for _, d := range e.Status.Dates {
			if d.Date == date && d.Phase == statsigv1alpha1.PhaseExported {
				exported = d
				return nil
			}
		}
		return fmt.Errorf("dates %+v, conditions %+v", e.Status.Dates, e.Status.Conditions)
	}))
	figure(t, "h-export-created-to-exported", time.Since(start))

	ctx := context.Background()
	obj, err := store.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(minioBucket), Key: aws.String(exported.Object)})
	fatalIf(t, err)
	got, err := io.ReadAll(obj.Body)
	_ = obj.Body.Close()
	fatalIf(t, err)
	if !bytes.Equal(got, want) {
		t.Errorf("object %s: %d bytes, want the %d-byte report", exported.Object, len(got), len(want))
	}
	sum := sha256.Sum256(got)
	if exported.SHA256 != hex.EncodeToString(sum[:]) || exported.Rows != rows {
		t.Errorf("status says sha256 %s rows %d; the object has sha256 %x, and the report %d rows", exported.SHA256, exported.Rows, sum, rows)
	}
	manifestKey := "realcluster/first_exposures/dt=" + date + "/_manifest.json"
	mobj, err := store.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(minioBucket), Key: aws.String(manifestKey)})
	fatalIf(t, err)
	var manifest struct {
		Object string `json:"object"`
		SHA256 string `json:"sha256"`
		Rows   int64  `json:"rows"`
	}
	err = json.NewDecoder(mobj.Body).Decode(&manifest)
	_ = mobj.Body.Close()
	fatalIf(t, err)
	if manifest.SHA256 != hex.EncodeToString(sum[:]) || manifest.Rows != rows {
		t.Errorf("manifest %+v does not describe the object (sha256 %x, %d rows)", manifest, sum, rows)
	}
	if n := s.fake.KeyLeaksToDownloadHost(); n != 0 {
		t.Errorf("%d downloads carried a Statsig key", n)
	}
}
