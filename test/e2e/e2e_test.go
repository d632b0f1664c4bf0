// Package e2e runs the operator the way a user does: the built binary as its own process, against
// a real kube-apiserver, with the Statsig fake as Statsig, applying the samples from config/samples.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

var (
	env        *envtest.Environment
	kubeconfig string
	k8s        client.Client
)

func TestMain(m *testing.M) {
	var err error
	env, _, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		user, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		kc, err := user.KubeConfig()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "statsig-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		kubeconfig = filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		k8s, err = client.New(user.Config(), client.Options{Scheme: testenv.Scheme})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// operator is the binary running as a child process.
type operator struct {
	cmd     *exec.Cmd
	out     *syncBuffer
	metrics string
	probes  string
}

// startOperator runs the binary as the e2e-admin user (system:masters).
func startOperator(t *testing.T, fake *statsigtest.Server, extra ...string) *operator {
	t.Helper()
	return startOperatorAs(t, kubeconfig, fake, extra...)
}

// startOperatorAs runs the binary with the credentials of the kubeconfig file kc, and waits until it
// reports ready.
func startOperatorAs(t *testing.T, kc string, fake *statsigtest.Server, extra ...string) *operator {
	t.Helper()
	return startOperatorEnv(t, kc, nil, fake, extra...)
}

// startOperatorEnv is startOperatorAs with extra environment variables (NAME=value) for the binary.
func startOperatorEnv(t *testing.T, kc string, env []string, fake *statsigtest.Server, extra ...string) *operator {
	t.Helper()
	bin := binary(t)
	op := &operator{out: &syncBuffer{}, metrics: freeAddr(t), probes: freeAddr(t)}
	args := append([]string{
		"--statsig-api-url=" + fake.URL(),
		"--statsig-events-url=" + fake.URL(),
		"--statsig-console-url=" + fake.URL(),
		"--metrics-bind-address=" + op.metrics,
		// Plain HTTP for the tests that read metrics; metrics_test.go covers secure serving.
		"--metrics-secure=false",
		"--health-probe-bind-address=" + op.probes,
		// A port of its own: other test packages run operators at the same time.
		"--webhook-bind-address=" + freeAddr(t),
	}, extra...)
	op.cmd = exec.Command(bin, args...)
	op.cmd.Env = append(os.Environ(), "KUBECONFIG="+kc, "SSL_CERT_FILE="+fake.DownloadCAFile())
	op.cmd.Env = append(op.cmd.Env, env...)
	op.cmd.Stdout, op.cmd.Stderr = op.out, op.out
	op.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := op.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = op.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = op.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = op.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("operator output:\n%s", op.out.String())
		}
	})
	NewWithT(t).Eventually(func() error { return get("http://" + op.probes + "/readyz") }, 60*time.Second, 200*time.Millisecond).Should(Succeed())
	return op
}

// binary is the operator built by `make test` (STATSIG_OPERATOR_BINARY), or built here.
func binary(t *testing.T) string {
	if b := os.Getenv("STATSIG_OPERATOR_BINARY"); b != "" {
		return b
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "statsig-operator")
	cmd := exec.Command("go", "build", "-o", out, "./cmd")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the operator: %v\n%s", err, b)
	}
	return out
}

func TestBinaryReconcilesGateCheckSample(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fake := statsigtest.New(t)
	fake.SetGate("new_checkout", true)
	fake.SetGate("dark_mode", false)
	op := startOperator(t, fake)

	sample := readSample(t, "statsig-operator_v1alpha1_gatecheck.yaml")
	ns := sample.GetNamespace()
	g.Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, testenv.Namespace(ns, nil)))).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "statsig"},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: fake.ServerKey},
	})).To(Succeed())
	g.Expect(k8s.Create(ctx, sample)).To(Succeed())

	cm := &corev1.ConfigMap{}
	g.Eventually(func() (map[string]string, error) {
		err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout-gates"}, cm)
		return cm.Data, err
	}, 60*time.Second, 200*time.Millisecond).Should(Equal(map[string]string{"new_checkout": "true", "dark_mode": "false"}))

	gc := &statsigv1alpha1.GateCheck{}
	g.Eventually(func() string {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sample), gc)).To(Succeed())
		return gc.Status.Passing
	}, 30*time.Second, 200*time.Millisecond).Should(Equal("1/2"))

	// Metrics are served and carry the gate values, never the key.
	var body string
	g.Eventually(func() (string, error) {
		b, err := fetch("http://" + op.metrics + "/metrics")
		body = b
		return b, err
	}, 30*time.Second, 200*time.Millisecond).Should(ContainSubstring(`statsig_operator_gate_value{gate="new_checkout",name="checkout",namespace="shop"} 1`))
	g.Expect(body).To(ContainSubstring("statsig_operator_statsig_requests_total"))
	g.Expect(body).NotTo(ContainSubstring(fake.ServerKey))
	g.Expect(op.out.String()).NotTo(ContainSubstring(fake.ServerKey))
}

func TestBinaryRejectsBadFlags(t *testing.T) {
	g := NewWithT(t)
	cmd := exec.Command(binary(t), "--default-secret=nonamespace", "--statsig-qps=-1")
	out, err := cmd.CombinedOutput()
	g.Expect(err).To(HaveOccurred())
	var exit *exec.ExitError
	g.Expect(err).To(BeAssignableToTypeOf(exit))
	g.Expect(cmd.ProcessState.ExitCode()).To(Equal(2))
	g.Expect(string(out)).To(ContainSubstring("--default-secret: want NAMESPACE/NAME"))
	g.Expect(string(out)).To(ContainSubstring("--statsig-qps"))
}

// repoDocs returns the YAML documents of a file in the repository, path relative to its root.
func repoDocs(t *testing.T, path ...string) []string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(append([]string{root}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(data), "\n---")
}

func readSample(t *testing.T, name string) *unstructured.Unstructured {
	for _, doc := range repoDocs(t, "config", "samples", name) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(u.GetAPIVersion(), statsigv1alpha1.GroupVersion.Group+"/") {
			return u
		}
	}
	t.Fatalf("no statsig-operator object in %s", name)
	return nil
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) error {
	_, err := fetch(url)
	return err
}

func fetch(url string) (string, error) {
	resp, err := http.Get(url) //nolint:gosec // loopback test endpoint
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}

// syncBuffer collects the child's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
