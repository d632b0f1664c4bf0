package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// operator is the built binary running as its own process, as users run it, so that its memory is
// the process's own.
type operator struct {
	cmd *exec.Cmd
	out *lockedBuffer
	// pprof is the address of the operator's /debug/pprof.
	pprof string
}

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// operatorBinary is STATSIG_OPERATOR_BINARY (`make` sets it), or the operator built once here.
func operatorBinary(t testing.TB) string {
	if b := os.Getenv("STATSIG_OPERATOR_BINARY"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		root, err := testenv.RepoRoot()
		if err != nil {
			buildOnce.err = err
			return
		}
		dir, err := os.MkdirTemp("", "statsig-bench-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "statsig-operator")
		cmd := exec.Command("go", "build", "-trimpath", "-o", buildOnce.path, "./cmd")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("build the operator: %w\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// startOperator runs the operator with its default flags (rate limit included) against the fake,
// and waits until it is ready.
func startOperator(t testing.TB, fake *statsigtest.Server, extra ...string) *operator {
	t.Helper()
	c := cluster.get(t)
	probes := freeAddr(t)
	args := append([]string{
		"--statsig-api-url=" + fake.URL(),
		"--statsig-events-url=" + fake.URL(),
		"--statsig-console-url=" + fake.URL(),
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + probes,
		// Not the default :9292: other test packages run operators at the same time.
		"--webhook-bind-address=127.0.0.1:0",
	}, extra...)
	pprof := freeAddr(t)
	args = append(args, "--pprof-bind-address="+pprof)
	op := &operator{out: &lockedBuffer{}, pprof: pprof}
	op.cmd = exec.Command(operatorBinary(t), args...)
	op.cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
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
			t.Logf("operator output (tail):\n%s", op.out.tail(8000))
		}
	})
	NewWithT(t).Eventually(func() error {
		resp, err := http.Get("http://" + probes + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	}, 2*time.Minute, 200*time.Millisecond).Should(Succeed())
	return op
}

// waitWorking waits until every controller of the operator has started its workers (each logs
// "Starting Controller", then "Starting workers" once its caches synced): the process's idle shape,
// its worker goroutines included. readyz answers before that.
func (o *operator) waitWorking(t testing.TB) {
	t.Helper()
	NewWithT(t).Eventually(func() bool {
		out := o.out.String()
		c := strings.Count(out, `"Starting Controller"`)
		return c > 0 && strings.Count(out, `"Starting workers"`) == c
	}, 2*time.Minute, 100*time.Millisecond).Should(BeTrue(), "the controllers started their workers")
}

// rss is the operator's resident set size in bytes.
func (o *operator) rss(t testing.TB) int64 {
	return procStatusBytes(t, o.cmd.Process.Pid, "VmRSS:")
}

// settledRSS polls the RSS every half second until it has stayed within 256 KiB for ten seconds
// (for at most a minute), and returns the last sample: the figure once the cache has finished
// filling and the Go runtime has settled. The window is long because the runtime's scavenger
// returns freed pages in steps that start seconds after a GC: two samples half a second apart
// agree long before it has run, which counted pages the operator no longer holds (a 1,000-GateCheck
// step read 124 MiB, then 107 MiB five seconds later, and stayed there for a minute).
func (o *operator) settledRSS(t testing.TB) int64 {
	const window = 20 // samples: ten seconds
	var samples []int64
	settled := func(context.Context) (bool, error) {
		samples = append(samples, o.rss(t))
		if len(samples) < window {
			return false, nil
		}
		last := samples[len(samples)-window:]
		return slices.Max(last)-slices.Min(last) < 256<<10, nil
	}
	// A timeout only means the RSS kept moving; the last sample is still the figure to report.
	_ = wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, time.Minute, true, settled)
	return samples[len(samples)-1]
}

// held is the operator's memory once the garbage of what came before is collected: a GC is run
// through the profiler (?gc=1; the Go runtime runs one by itself at least every two minutes), then
// the RSS is left to settle while the runtime returns the freed pages. RSS is the memory the
// operator holds for what it keeps, where settledRSS right after a burst also counts the burst's
// uncollected garbage; Live is the Go heap that is still reachable after the GC (HeapAlloc).
func (o *operator) held(t testing.TB) (rss, live int64) {
	t.Helper()
	resp, err := http.Get("http://" + o.pprof + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatalf("run a GC in the operator: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("run a GC in the operator: %s %v", resp.Status, err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "# HeapAlloc = "); ok {
			if live, err = strconv.ParseInt(v, 10, 64); err != nil {
				t.Fatalf("HeapAlloc %q: %v", v, err)
			}
		}
	}
	if live == 0 {
		t.Fatal("no HeapAlloc in the operator's heap profile")
	}
	return o.settledRSS(t), live
}

// procStatusBytes reads a "kB" field of /proc/<pid>/status.
func procStatusBytes(t testing.TB, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse %s %q: %v", field, rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
