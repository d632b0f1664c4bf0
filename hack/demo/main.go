// Command demo is `make demo`: the operator at work in a few minutes with no Statsig account and no
// cluster. It starts the project's Statsig fake (internal/statsig/statsigtest, seeded with example
// gates, configs, an experiment, a layer and daily reports) with a loopback admin endpoint, a local
// kube-apiserver and etcd (the envtest binaries), applies the samples with a Secret holding the
// fake's keys, runs the operator binary against both, and prints commands to look and to flip a gate.
//
// THIS IS A DEMO. It never touches your kubeconfig's cluster, and the real Statsig stays the
// operator's default everywhere else.
//
// Usage: demo [--exit-when-ready] <operator-binary>
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

const (
	operatorNS = "statsig-operator-system"
	metricsAdr = "127.0.0.1:8080"
)

func main() {
	exitWhenReady := flag.Bool("exit-when-ready", false, "Stop once every sample is Ready (for timing the demo).")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: demo [--exit-when-ready] <operator-binary>")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *exitWhenReady); err != nil {
		fmt.Fprintf(os.Stderr, "make demo: %v\n", err)
		os.Exit(1)
	}
}

func run(binary string, exitWhenReady bool) error {
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fk, err := startFake()
	if err != nil {
		return fmt.Errorf("start the Statsig fake: %w", err)
	}
	defer fk.Close()
	say("Statsig fake (a demo stand-in for Statsig) at %s, admin endpoint at %s", fk.URL(), fk.AdminURL)

	assets := os.Getenv("ENVTEST_ASSETS")
	if assets == "" {
		return errors.New("ENVTEST_ASSETS is not set; run this through `make demo`")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets,
		CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("start the local control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "statsig-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(statsigv1alpha1.AddToScheme(scheme))
	k8s, err := client.New(user.Config(), client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	say("Local control plane running (kube-apiserver and etcd; no pods run in it)")

	exports := filepath.Join(dir, "exports")
	if err := os.MkdirAll(exports, 0o755); err != nil {
		return err
	}
	if err := applyDemo(ctx, k8s, fk, exports); err != nil {
		return fmt.Errorf("apply the samples: %w", err)
	}

	cmd := exec.CommandContext(ctx, binary,
		"--statsig-api-url="+fk.URL(), "--statsig-events-url="+fk.URL(), "--statsig-console-url="+fk.URL(),
		"--metrics-bind-address="+metricsAdr, "--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:0", "--webhook-bind-address=127.0.0.1:0",
		"--allow-file-destinations")
	logPath := filepath.Join(dir, "operator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "SSL_CERT_FILE="+fk.DownloadCAFile())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the operator: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	say("Operator running (log: %s)", logPath)

	if err := waitReady(ctx, k8s, exited); err != nil {
		return fmt.Errorf("%w (operator log: %s)", err, logPath)
	}
	say("Every sample is Ready, %.0f s after start.\n", time.Since(start).Seconds())
	printTour(kubeconfig, fk.AdminURL, exports)
	if exitWhenReady {
		return nil
	}
	say("Press Ctrl-C to stop the demo.")
	select {
	case <-ctx.Done():
		if err := <-exited; err != nil {
			say("The operator stopped: %v", err)
		}
		return nil
	case err := <-exited:
		return fmt.Errorf("the operator stopped: %w (log: %s)", err, logPath)
	}
}

func say(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }

// applyDemo creates the namespaces, a Secret with the fake's keys, and the samples from
// config/samples; the DailyReportExport writes to a local directory instead of the sample's bucket.
func applyDemo(ctx context.Context, k8s client.Client, fk *fake, exports string) error {
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}},
		{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"statsig-operator.io/flags": "enabled"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "analytics"}},
	} {
		if err := k8s.Create(ctx, ns); err != nil {
			return err
		}
	}
	for _, ns := range []string{operatorNS, "shop", "analytics"} {
		if err := k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "statsig"},
			StringData: map[string]string{
				statsigv1alpha1.SecretKeyServer:  fk.ServerKey,
				statsigv1alpha1.SecretKeyConsole: fk.ConsoleKey,
			},
		}); err != nil {
			return err
		}
	}
	for _, f := range []string{"gatecheck", "configsnapshot", "clusterconfigsnapshot", "dailyreportexport"} {
		objs, err := readYAML(filepath.Join("config", "samples", "statsig-operator_v1alpha1_"+f+".yaml"))
		if err != nil {
			return err
		}
		for _, o := range objs {
			if o.GetKind() == "DailyReportExport" {
				dates := reportDates(time.Now())
				_ = unstructured.SetNestedField(o.Object, dates[0], "spec", "startDate")
				_ = unstructured.SetNestedMap(o.Object, map[string]any{
					"objectStore": map[string]any{"url": "file://" + exports, "prefix": "statsig"},
				}, "spec", "destination")
			}
			if err := k8s.Create(ctx, o); err != nil {
				return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
			}
		}
	}
	return nil
}

func readYAML(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// waitReady polls, bounded, until every statsig resource is Ready.
func waitReady(ctx context.Context, k8s client.Client, exited <-chan error) error {
	deadline := time.After(3 * time.Minute)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	kinds := []string{"GateCheckList", "ConfigSnapshotList", "ClusterConfigSnapshotList", "DailyReportExportList"}
	for {
		var notReady []string
		for _, k := range kinds {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(statsigv1alpha1.GroupVersion.WithKind(k))
			if err := k8s.List(ctx, l); err != nil {
				return err
			}
			for _, o := range l.Items {
				if !ready(o) {
					conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
					notReady = append(notReady, fmt.Sprintf("%s/%s %v", strings.TrimSuffix(k, "List"), o.GetName(), conds))
				}
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("the operator stopped: %w", err)
		case <-deadline:
			return fmt.Errorf("not Ready after 3 minutes: %s", strings.Join(notReady, ", "))
		case <-tick.C:
		}
	}
}

func ready(o unstructured.Unstructured) bool {
	raw, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	var conds []metav1.Condition
	for _, c := range raw {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		s, _ := m["status"].(string)
		conds = append(conds, metav1.Condition{Type: t, Status: metav1.ConditionStatus(s)})
	}
	return apimeta.IsStatusConditionTrue(conds, "Ready")
}

func printTour(kubeconfig, admin, exports string) {
	fmt.Printf(`
────────────────────────────────────────────────────────────────────────────────────────────
 statsig-operator DEMO: a fake Statsig on loopback, a throwaway control plane. Nothing here
 talks to the real Statsig or to your cluster.
────────────────────────────────────────────────────────────────────────────────────────────
In another shell:

  export KUBECONFIG=%[1]s

  # Everything the operator manages, and what it wrote:
  kubectl get statsig -A
  kubectl -n shop get configmap checkout-gates -o yaml           # GateCheck: one key per gate
  kubectl -n shop get configmap checkout-statsig -o yaml         # ConfigSnapshot: files for a pod
  kubectl -n shop get configmap platform-flags -o yaml           # ClusterConfigSnapshot: env vars
  kubectl -n shop get deployment checkout-api -o jsonpath='{.spec.template.metadata.annotations}'
  ls -R %[3]s   # DailyReportExport: report CSVs

  # Flip a gate in the fake Statsig, then ask for a sync now instead of at the next refresh:
  curl -X POST '%[2]s/gates/new_checkout?value=false'
  kubectl -n shop annotate gatecheck checkout statsig-operator.io/requested-at="$(date +%%s)" --overwrite
  kubectl -n shop get configmap checkout-gates -o jsonpath='{.data}'; echo

  # Change a dynamic config; the snapshot's content hash changes and checkout-api is rolled:
  curl -X POST '%[2]s/configs/checkout_settings?max_items=7&theme=light'
  kubectl -n shop annotate configsnapshot checkout statsig-operator.io/requested-at="$(date +%%s)" --overwrite
  kubectl -n shop get configmap checkout-statsig -o jsonpath='{.data.config\.checkout_settings\.json}'; echo

  # Metrics (plain HTTP on loopback in this demo; HTTPS with authentication in a cluster):
  curl -s http://%[4]s/metrics | grep '^statsig_operator_gate_value'

`, kubeconfig, admin, exports, metricsAdr)
}
