// Package testservers starts real storage servers for tests: MinIO (S3), fake-gcs-server (GCS) and
// Azurite (Azure Blob), each on a free loopback port, each stopped by t.Cleanup.
//
// The binaries come from hack/test-servers.sh (make test-servers), which installs pinned versions
// into a cache outside the clone. Tests find them through STATSIG_OPERATOR_TEST_SERVERS, or, when
// that is unset, by asking the script where an existing install is. A missing binary fails the test
// with instructions: a storage test that silently skips is a storage test that never runs.
package testservers

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvDir names the directory holding the minio, fake-gcs-server and azurite-blob executables: the
// output of hack/test-servers.sh.
const EnvDir = "STATSIG_OPERATOR_TEST_SERVERS"

// startTimeout bounds how long a server may take to become ready. It is a guard against a hung
// start, not a measurement.
const startTimeout = 90 * time.Second

var (
	dirOnce sync.Once
	dir     string
	dirErr  error
)

// binary returns the path of a server executable, or fails the test with what to run.
func binary(t testing.TB, name string) string {
	t.Helper()
	dirOnce.Do(func() { dir, dirErr = findDir() })
	if dirErr != nil {
		t.Fatalf("storage test servers are not installed (%v): run `make test-servers`, or "+
			"`export %s=$(hack/test-servers.sh)`", dirErr, EnvDir)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found in %s=%s: run `make test-servers`", name, EnvDir, dir)
	}
	return p
}

func findDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	// Fall back to the script's own answer, so that `go test ./internal/...` works after one
	// `make test-servers` without exporting anything. --no-build never installs.
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New(EnvDir + " is unset")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "hack", "test-servers.sh")
	out, err := exec.Command("bash", script, "--no-build").Output()
	if err != nil {
		return "", fmt.Errorf("%s is unset and %s --no-build found no install", EnvDir, script)
	}
	return strings.TrimSpace(string(out)), nil
}

// freePort reserves a loopback port by binding it, and releases it for the server to take. Another
// process could take it in between; the servers' start is retried on a new port when that happens.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a loopback port: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// process is one server child process.
type process struct {
	name string
	path string
	args []string
	env  []string
	// graceful, when set, is sent first on stop, for servers that lose state when killed; the
	// process gets gracePeriod to exit before it is killed anyway.
	graceful syscall.Signal

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *tailBuffer
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	if p.logs == nil {
		p.logs = &tailBuffer{max: 16 << 10}
	}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that stop reaches anything it forks; and killed with the
		// test binary if that dies without running its cleanups.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop kills the process group and waits for the process to be reaped.
func (p *process) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	if p.graceful != 0 {
		_ = syscall.Kill(-cmd.Process.Pid, p.graceful)
		select {
		case <-done:
			return
		case <-time.After(gracePeriod):
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
	<-done
}

// gracePeriod is how long a graceful stop may take before the process is killed.
const gracePeriod = 15 * time.Second

// waitReady polls ready until it succeeds, the process dies, or startTimeout passes.
func (p *process) waitReady(ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited during start: %w\n%s", p.name, err, p.logs.String())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w\n%s", p.name, startTimeout, err, p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startWithRetry starts a server on a fresh port, retrying with another port when the first is
// taken by someone else between freePort and the server's bind.
func startWithRetry(t testing.TB, name string, launch func(port int) (*process, func() error)) (*process, int) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		p, ready := launch(port)
		if err := p.start(); err != nil {
			t.Fatalf("%v", err)
		}
		if err := p.waitReady(ready); err != nil {
			p.stop()
			lastErr = err
			continue
		}
		t.Cleanup(func() {
			p.stop()
			if t.Failed() {
				t.Logf("%s output (tail):\n%s", name, p.logs.String())
			}
		})
		return p, port
	}
	t.Fatalf("start %s: %v", name, lastErr)
	return nil, 0
}

// tailBuffer keeps the last max bytes written to it: enough to explain a failure, never growing.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if over := len(b.b) - b.max; over > 0 {
		b.b = append(b.b[:0], b.b[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.ToValidUTF8(b.b, nil))
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func itoa(i int) string { return strconv.Itoa(i) }
