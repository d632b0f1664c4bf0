package testservers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Server is a running MinIO.
type S3Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:<port>.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Bucket is a bucket created at start.
	Bucket string
	// Region is the region that URL puts into destination URLs.
	Region string

	proc *process
}

// StartMinIO starts MinIO on a free loopback port with a fresh data directory and creates Bucket.
func StartMinIO(t testing.TB) *S3Server {
	t.Helper()
	bin := binary(t, "minio")
	s := &S3Server{AccessKey: "statsig-test", SecretKey: "statsig-test-secret", Bucket: "exports", Region: "us-east-1"}
	data := t.TempDir()
	proc, port := startWithRetry(t, "minio", func(port int) (*process, func() error) {
		console := freePort(t)
		p := &process{
			name: "minio",
			path: bin,
			args: []string{"server", "--quiet", "--address", hostPort(port), "--console-address", hostPort(console), data},
			env: []string{
				"MINIO_ROOT_USER=" + s.AccessKey,
				"MINIO_ROOT_PASSWORD=" + s.SecretKey,
				"MINIO_BROWSER=off",
				"MINIO_UPDATE=off",
				"MINIO_CI_CD=1",
				// Keep the server's own cache and config under the test's directory.
				"HOME=" + data,
			},
		}
		return p, func() error { return httpOK("http://" + hostPort(port) + "/minio/health/ready") }
	})
	s.proc = proc
	s.Endpoint = "http://" + hostPort(port)
	s.CreateBucket(t, s.Bucket)
	return s
}

// URL is the destination URL of bucket on this server, in the form a DailyReportExport spec takes.
func (s *S3Server) URL(bucket string) string {
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", s.Region)
	q.Set("use_path_style", "true")
	return "s3://" + bucket + "?" + q.Encode()
}

// Credentials is the data of a credentials Secret for this server.
func (s *S3Server) Credentials() map[string][]byte {
	return map[string][]byte{
		"AWS_ACCESS_KEY_ID":     []byte(s.AccessKey),
		"AWS_SECRET_ACCESS_KEY": []byte(s.SecretKey),
	}
}

// Client is an S3 client for this server, for what gocloud cannot do (bucket creation, listing
// unfinished multipart uploads).
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket.
func (s *S3Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Stop kills the server, as a crash would; Restart brings it back on the same port and data.
func (s *S3Server) Stop() { s.proc.stop() }

// Restart starts a stopped server again and waits until it is ready.
func (s *S3Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.proc.start(); err != nil {
		t.Fatalf("%v", err)
	}
	if err := s.proc.waitReady(func() error { return httpOK(s.Endpoint + "/minio/health/ready") }); err != nil {
		t.Fatalf("restart minio: %v", err)
	}
}

// httpOK succeeds when GET u answers 200.
func httpOK(u string) error {
	return httpStatus(u, func(code int) bool { return code == http.StatusOK })
}

// httpAnswers succeeds when GET u gets any HTTP answer: the server is listening and speaking HTTP.
func httpAnswers(u string) error {
	return httpStatus(u, func(int) bool { return true })
}

func httpStatus(u string, ok func(int) bool) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if !ok(resp.StatusCode) {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}
