// Package bench measures the operator against the goals of issue 11 (P1–P5), with the peers side by
// side: Statsig calls per round against the batching limit, 1,000 GateChecks against a sequential
// peer, the operator's memory, and exports against `gzip -1 | aws s3 cp -`.
//
// `make bench` runs BenchmarkGoals: full sizes, three runs each, and prints a table of min / median /
// max per measurement and whether each goal is met. The Test functions here run every measurement at
// toy size as part of the normal test run, so that the harness cannot rot; they assert the call
// counts (which do not depend on the machine's speed) and that every number was produced, never a
// wall time.
package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// exportChildEnv, when set, makes the test binary an export child (see runExportChild).
const exportChildEnv = "STATSIG_OPERATOR_BENCH_EXPORT_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(exportChildEnv); spec != "" {
		os.Exit(runExportChild(spec))
	}
	code := m.Run()
	cluster.stop()
	os.Exit(code)
}

// cluster is one envtest control plane shared by the measurements of a run, started on first use.
var cluster = &sharedCluster{}

type sharedCluster struct {
	once       sync.Once
	err        error
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
	k8s        client.Client
	dir        string
}

func (c *sharedCluster) get(t testing.TB) *sharedCluster {
	t.Helper()
	c.once.Do(func() { c.err = c.start() })
	if c.err != nil {
		t.Fatalf("start envtest: %v", c.err)
	}
	return c
}

func (c *sharedCluster) start() error {
	env, _, err := testenv.Start()
	if err != nil {
		return err
	}
	c.env = env
	user, err := env.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	c.dir, err = os.MkdirTemp("", "statsig-bench-")
	if err != nil {
		return err
	}
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		return err
	}
	cfg := user.Config()
	// The harness creates thousands of objects; the client-side limit would measure itself.
	cfg.QPS, cfg.Burst = 500, 1000
	c.cfg = cfg
	c.k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

func (c *sharedCluster) stop() {
	if c.env != nil {
		_ = c.env.Stop()
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}
