// Command localrun is `make run`: it runs the operator binary for real, against the current
// kubeconfig cluster when one answers, otherwise against a local kube-apiserver and etcd (the
// envtest binaries) that it starts itself. Either way it installs the CRDs first. Flags after
// the binary path are passed to the operator.
//
// Usage: localrun <operator-binary> [operator flags...]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: localrun <operator-binary> [operator flags...]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "make run: %v\n", err)
		os.Exit(1)
	}
}

func run(binary string, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	crds := filepath.Join("config", "crd", "bases")

	env := os.Environ()
	if cfg, err := config.GetConfig(); err == nil && reachable(cfg) {
		fmt.Fprintf(os.Stderr, "make run: using the current kubeconfig cluster at %s\n", cfg.Host)
		if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true}); err != nil {
			return fmt.Errorf("install CRDs: %w", err)
		}
	} else {
		kubeconfig, cleanup, err := startLocalControlPlane(crds)
		if err != nil {
			return err
		}
		defer cleanup()
		env = append(env, "KUBECONFIG="+kubeconfig)
		fmt.Fprintf(os.Stderr, "\nmake run: no cluster answered, so a local control plane is running.\n"+
			"  Its kubeconfig: %s\n  Try: KUBECONFIG=%s kubectl get statsig -A\n\n", kubeconfig, kubeconfig)
	}

	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil // stopped by the user
	}
	return err
}

func reachable(cfg *rest.Config) bool {
	c := rest.CopyConfig(cfg)
	c.Timeout = 3 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return false
	}
	_, err = dc.ServerVersion()
	return err == nil
}

// startLocalControlPlane starts kube-apiserver and etcd from ENVTEST_ASSETS, installs the CRDs
// and writes an admin kubeconfig next to the envtest state.
func startLocalControlPlane(crds string) (string, func(), error) {
	assets := os.Getenv("ENVTEST_ASSETS")
	if assets == "" {
		return "", nil, errors.New("ENVTEST_ASSETS is not set; run this through `make run`")
	}
	testEnv := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := testEnv.Start(); err != nil {
		return "", nil, fmt.Errorf("start the local control plane: %w", err)
	}
	stopEnv := func() { _ = testEnv.Stop() }
	user, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		stopEnv()
		return "", nil, fmt.Errorf("create an admin user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		stopEnv()
		return "", nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "statsig-operator-run-")
	if err != nil {
		stopEnv()
		return "", nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		stopEnv()
		return "", nil, err
	}
	return path, func() { stopEnv(); _ = os.RemoveAll(dir) }, nil
}
