package testservers

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// GCSServer is a running fake-gcs-server, with a token endpoint beside it so that a real service
// account key (generated for the test) can be used against it the way it is used against GCS.
type GCSServer struct {
	// Endpoint is the JSON API base URL, http://127.0.0.1:<port>/storage/v1/.
	Endpoint string
	// Bucket is a bucket created at start.
	Bucket string
	// CredentialsJSON is a service account key whose token_uri is the local token endpoint.
	CredentialsJSON []byte

	tokenRequests atomic.Int64
	proc          *process
	base          string
}

// StartFakeGCS starts fake-gcs-server on a free loopback port, backed by a fresh directory, and
// creates Bucket.
func StartFakeGCS(t testing.TB) *GCSServer {
	t.Helper()
	bin := binary(t, "fake-gcs-server")
	s := &GCSServer{Bucket: "exports"}
	s.startTokenEndpoint(t)
	root := t.TempDir()
	proc, port := startWithRetry(t, "fake-gcs-server", func(port int) (*process, func() error) {
		base := "http://" + hostPort(port)
		p := &process{
			name: "fake-gcs-server",
			path: bin,
			args: []string{
				"-scheme", "http", "-host", "127.0.0.1", "-port", fmt.Sprint(port),
				"-backend", "filesystem", "-filesystem-root", root,
				"-public-host", hostPort(port), "-external-url", base,
				"-log-level", "warn",
			},
		}
		return p, func() error { return httpOK(base + "/storage/v1/b") }
	})
	s.proc = proc
	s.base = "http://" + hostPort(port)
	s.Endpoint = s.base + "/storage/v1/"
	s.CreateBucket(t, s.Bucket)
	return s
}

// URL is the destination URL of bucket on this server.
func (s *GCSServer) URL(bucket string) string {
	return "gs://" + bucket + "?" + url.Values{"endpoint": {s.Endpoint}}.Encode()
}

// Credentials is the data of a credentials Secret for this server.
func (s *GCSServer) Credentials() map[string][]byte {
	return map[string][]byte{"GOOGLE_APPLICATION_CREDENTIALS_JSON": s.CredentialsJSON}
}

// TokenRequests counts the OAuth token requests made with CredentialsJSON: proof that a client used
// the Secret's key and not some other identity.
func (s *GCSServer) TokenRequests() int64 { return s.tokenRequests.Load() }

// CreateBucket creates a bucket through the JSON API.
func (s *GCSServer) CreateBucket(t testing.TB, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	resp, err := http.Post(s.base+"/storage/v1/b?project=test", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create bucket %s: %s", name, resp.Status)
	}
}

// startTokenEndpoint serves OAuth2 tokens on loopback and writes a service account key that points
// to it.
func (s *GCSServer) startTokenEndpoint(t testing.TB) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for the token endpoint: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.tokenRequests.Add(1)
		if err := r.ParseForm(); err != nil || r.Form.Get("assertion") == "" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"access_token":"test-token","token_type":"Bearer","expires_in":3600}`)
	}))
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate a service account key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encode the service account key: %v", err)
	}
	s.CredentialsJSON, _ = json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "test",
		"private_key_id": fmt.Sprintf("test-%d", time.Now().UnixNano()),
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "exporter@test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      srv.URL + "/token",
	})
}

// Stop kills the server; Restart brings it back on the same port and data.
func (s *GCSServer) Stop() { s.proc.stop() }

// Restart starts a stopped server again and waits until it is ready.
func (s *GCSServer) Restart(t testing.TB) {
	t.Helper()
	if err := s.proc.start(); err != nil {
		t.Fatalf("%v", err)
	}
	if err := s.proc.waitReady(func() error { return httpOK(s.base + "/storage/v1/b") }); err != nil {
		t.Fatalf("restart fake-gcs-server: %v", err)
	}
}
