// Package realcluster runs the operator in a real single-node cluster whose Pods run (containerd,
// kubelet, controller-manager, scheduler, and the envtest etcd and kube-apiserver), entirely inside
// a network namespace the suite creates and removes, and checks the user journeys on what the pods
// themselves print. See ../../../shared/design/real-cluster.md for why each setting is what it is.
//
// `make test` builds what it needs (hack/cluster-binaries.sh, `make image test-images`) and sets
// KUBEBUILDER_ASSETS, STATSIG_OPERATOR_CLUSTER_BINARIES, STATSIG_OPERATOR_IMAGES and
// STATSIG_OPERATOR_TEST_SERVERS. It runs as root. On a machine that cannot run it, the suite fails;
// STATSIG_OPERATOR_REALCLUSTER=skip opts out.
//
// Each journey logs its timing as "FIGURE <name> <seconds>". `-run 'TestRealCluster/^(i|j)-'` runs
// some journeys only (the cluster and the operator install always run); journeys j and later use
// the objects of journey i.
package realcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

const (
	operatorNS     = "statsig-operator-system"
	operatorName   = "statsig-operator"
	leaseName      = "statsig-operator.statsig-operator.io"
	statsigAPIPort = "8500"
	downloadPort   = "8501"
	// The bounds of one journey's waits: generous for 2 busy cores, far below the suite's timeout.
	podWait     = 120 * time.Second
	rolloutWait = 180 * time.Second
)

// suite is what the journeys share: one cluster, one Statsig fake, one operator installation.
type suite struct {
	*cluster
	fake     *statsigtest.Server
	image    string // the operator image reference installed
	overlay  string
	caBundle string
	// final are the checks journeys leave for the end of the suite.
	final []func(*testing.T)
}

func TestRealCluster(t *testing.T) {
	c := startCluster(t)
	s := &suite{cluster: c}
	s.startFake(t)
	s.installOperator(t)

	// In order; each journey is bounded by its own timeouts and leaves its objects in place, so that
	// the restart and upgrade journeys check that nothing earlier is disturbed.
	journeys := []struct {
		name string
		f    func(*testing.T)
	}{
		{"a-env-and-files", s.journeyEnvAndFiles},
		{"b-gitops-orders", s.journeyGitOpsOrders},
		{"c-two-changes-within-a-minute", s.journeyTwoChanges},
		{"d-gatecheck-configmap", s.journeyGateCheck},
		{"e-cluster-snapshot", s.journeyClusterSnapshot},
		// Before the journeys that restart, upgrade and replace the operator, which then check that
		// its snapshots (refreshed every 30 s) roll nothing and send nothing again.
		{"k-statsig-events", s.journeyStatsigEvents},
		{"f-leader-takeover", s.journeyLeaderTakeover},
		{"g-restart-and-upgrade", s.journeyRestartAndUpgrade},
		{"h-export-to-minio", s.journeyExport},
		{"i-webhook-receiver", s.journeyWebhook},
		// Last: it replaces the kustomize install with Helm and uninstalls it.
		{"j-helm-install-upgrade-uninstall", s.journeyHelm},
	}
	for _, j := range journeys {
		start := time.Now()
		if !t.Run(j.name, j.f) {
			s.dumpState(t)
		}
		t.Logf("journey %s took %.1fs", j.name, time.Since(start).Seconds())
	}
	for _, check := range s.final {
		check(t)
	}
	if v := s.fake.Violations(); len(v) > 0 {
		t.Errorf("the operator sent requests Statsig would reject: %v", v)
	}
}

// startFake runs the Statsig fake in the test process, listening inside the cluster's namespace.
func (s *suite) startFake(t *testing.T) {
	api, err := s.ns.Listen(net.JoinHostPort(nodeIP, statsigAPIPort))
	if err != nil {
		t.Fatalf("statsig fake: %v", err)
	}
	dl, err := s.ns.Listen(net.JoinHostPort(nodeIP, downloadPort))
	if err != nil {
		t.Fatalf("statsig fake download host: %v", err)
	}
	cert, err := selfSignedTLS(net.ParseIP(nodeIP))
	if err != nil {
		t.Fatal(err)
	}
	s.fake = statsigtest.New(t, statsigtest.WithListeners(api, dl, cert))
	s.caBundle = s.fake.DownloadCAFile()
}

// installOperator installs the operator as the README says, with kustomize: an overlay over
// config/default that sets the image and the operator's flags.
func (s *suite) installOperator(t *testing.T) {
	s.image = s.images[operatorImageTar]
	s.overlay = s.path("overlay")
	if err := os.MkdirAll(s.overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.applyOverlay(s.image, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.waitOperator(1, s.image); err != nil {
		s.dumpOperator(t)
		t.Fatal(err)
	}
	t.Logf("FIGURE operator-install-to-available %.1f", time.Since(start).Seconds())
}

// applyOverlay writes the overlay for image and replicas and applies it as the README says,
// `kubectl apply --server-side -k`.
func (s *suite) applyOverlay(image string, replicas int) error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	base, err := filepath.Rel(s.overlay, filepath.Join(root, "config", "default"))
	if err != nil {
		return err
	}
	i := strings.LastIndex(image, ":")
	if i < strings.LastIndex(image, "/") {
		return fmt.Errorf("image %q has no tag", image)
	}
	statsigURL := "http://" + net.JoinHostPort(nodeIP, statsigAPIPort)
	var args strings.Builder
	for _, a := range []string{"--statsig-api-url=" + statsigURL, "--statsig-events-url=" + statsigURL, "--statsig-console-url=" + statsigURL} {
		fmt.Fprintf(&args, "  - {op: add, path: /spec/template/spec/containers/0/args/-, value: %q}\n", a)
	}
	// The report download host's certificate is the fake's own CA: the operator trusts it through
	// SSL_CERT_FILE from a ConfigMap, as a cluster with a private CA would.
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %s
images:
- {name: statsig-operator, newName: %s, newTag: %s}
replicas:
- {name: statsig-operator, count: %d}
configMapGenerator:
- name: statsig-download-ca
  namespace: statsig-operator-system
  files: [ca.crt]
  options: {disableNameSuffixHash: true}
patches:
- target: {kind: Deployment, name: statsig-operator}
  patch: |-
%s- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: statsig-operator, namespace: statsig-operator-system}
    spec:
      template:
        spec:
          containers:
          - name: manager
            env: [{name: SSL_CERT_FILE, value: /etc/statsig-download-ca/ca.crt}]
            volumeMounts: [{name: statsig-download-ca, mountPath: /etc/statsig-download-ca, readOnly: true}]
          volumes: [{name: statsig-download-ca, configMap: {name: statsig-download-ca}}]
`, base, image[:i], image[i+1:], replicas, indent(args.String(), "    "))
	ca, err := os.ReadFile(s.caBundle)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.overlay, "ca.crt"), ca, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.overlay, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return err
	}
	_, err = s.kubectl("apply", "--server-side", "-k", s.overlay)
	return err
}

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + strings.TrimPrefix(line, "  ") + "\n")
	}
	return b.String()
}

// waitOperator waits until the operator Deployment runs replicas pods of image, all available.
func (s *suite) waitOperator(replicas int32, image string) error {
	return waitFor(rolloutWait, "operator Available", func() error {
		var d appsv1.Deployment
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &d); err != nil {
			return err
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
			return fmt.Errorf("operator image %s, want %s", got, image)
		}
		st := d.Status
		if d.Status.ObservedGeneration < d.Generation || st.UpdatedReplicas != replicas || st.Replicas != replicas || st.AvailableReplicas != replicas {
			return fmt.Errorf("operator: %d replicas, %d updated, %d available, want %d", st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, replicas)
		}
		return nil
	})
}

// dumpState logs what a person would look at after a failed journey.
func (s *suite) dumpState(t *testing.T) {
	out, _ := s.kubectl("get", "configsnapshots,clusterconfigsnapshots,gatechecks,dailyreportexports,webhookreceivers", "-A", "-o", "yaml")
	t.Logf("operator resources:\n%s", out)
	out, _ = s.kubectl("get", "deployments,replicasets,pods,configmaps", "-A", "-o", "wide", "--show-labels")
	t.Logf("workloads:\n%s", out)
	out, _ = s.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp")
	t.Logf("events:\n%s", out)
	s.dumpOperator(t)
}

func (s *suite) dumpOperator(t *testing.T) {
	out, _ := s.kubectl("-n", operatorNS, "describe", "pods")
	t.Logf("operator pods:\n%s", out)
	logs, _ := s.kubectl("-n", operatorNS, "logs", "-l", "app.kubernetes.io/name=statsig-operator", "--all-containers", "--prefix", "--tail=200")
	t.Logf("operator logs:\n%s", logs)
}

func namespaceYAML(name string, labels string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {%s}}\n", name, labels)
}

func (s *suite) secretYAML(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: statsig, namespace: %s}
stringData: {%s: %q, %s: %q}
`, ns, statsigv1alpha1.SecretKeyServer, s.fake.ServerKey, statsigv1alpha1.SecretKeyConsole, s.fake.ConsoleKey)
}

// snapshotYAML is a ConfigSnapshot of one gate and one config, written to configMap in format and
// rolling the Deployment target ("" for none).
func snapshotYAML(ns, name, format, configMap, gate, config, target string) string {
	targets := ""
	if target != "" {
		targets = fmt.Sprintf("\n  rolloutTargets:\n  - {kind: Deployment, name: %s}", target)
	}
	return fmt.Sprintf(`apiVersion: statsig-operator.io/v1alpha1
kind: ConfigSnapshot
metadata: {name: %s, namespace: %s}
spec:
  secretRef: {name: statsig}
  user: {userID: realcluster}
  gates: [%s]
  dynamicConfigs: [%s]
  target: {configMapName: %s, format: %s}%s
`, name, ns, gate, config, configMap, format, targets)
}

// bump asks for an immediate sync of a ConfigSnapshot and returns the value it set.
func (s *suite) bump(t *testing.T, ns, name string) string {
	t.Helper()
	v := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := s.kubectl("-n", ns, "annotate", "--overwrite", "configsnapshot", name, statsigv1alpha1.AnnotationRequestedAt+"="+v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (s *suite) snapshot(ns, name string) (*statsigv1alpha1.ConfigSnapshot, error) {
	var cs statsigv1alpha1.ConfigSnapshot
	err := s.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &cs)
	return &cs, err
}

// waitHandled waits until the snapshot echoes the requested-at value it was bumped with.
func (s *suite) waitHandled(ns, name, value string) error {
	return waitFor(podWait, "requested-at handled by "+ns+"/"+name, func() error {
		cs, err := s.snapshot(ns, name)
		if err != nil {
			return err
		}
		if cs.Status.LastHandledRequestedAt != value {
			return fmt.Errorf("lastHandledRequestedAt %q, want %q", cs.Status.LastHandledRequestedAt, value)
		}
		return nil
	})
}

// waitSteady waits until a snapshot says every rollout target runs its current content.
func (s *suite) waitSteady(ns, name string) error {
	return waitFor(podWait, "steady state of "+ns+"/"+name, func() error {
		cs, err := s.snapshot(ns, name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionRolledOut)
		if c == nil || c.Status != metav1.ConditionTrue || len(cs.Status.Rollouts) != len(cs.Spec.RolloutTargets) {
			return fmt.Errorf("RolledOut %+v, rollouts %+v", c, cs.Status.Rollouts)
		}
		for _, r := range cs.Status.Rollouts {
			if r.Hash != cs.Status.ContentHash {
				return fmt.Errorf("rollout %s/%s at %s, content %s", r.Kind, r.Name, r.Hash, cs.Status.ContentHash)
			}
		}
		return nil
	})
}

func (s *suite) waitConfigMap(ns, name string) error {
	return waitFor(podWait, "ConfigMap "+ns+"/"+name, func() error {
		var cm corev1.ConfigMap
		return s.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &cm)
	})
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// figure logs a journey's timing in the form the closing note collects.
func figure(t *testing.T, name string, d time.Duration) {
	t.Helper()
	t.Logf("FIGURE %s %.1f", name, d.Seconds())
}

// timed waits for several workloads at once and logs, for each, the seconds from start until its
// pods printed what check accepts.
func (s *suite) timed(t *testing.T, start time.Time, limit time.Duration, waits map[string]func() error) {
	t.Helper()
	type result struct {
		name string
		d    time.Duration
		err  error
	}
	ch := make(chan result, len(waits))
	for name, w := range waits {
		go func() {
			err := w()
			ch <- result{name, time.Since(start), err}
		}()
	}
	for range waits {
		r := <-ch
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		figure(t, r.name, r.d)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// (a) A ConfigSnapshot read through envFrom and one read as files: a change in Statsig plus a
// requested-at bump reaches new pods with the new values.
func (s *suite) journeyEnvAndFiles(t *testing.T) {
	const ns = "journey-a"
	s.fake.SetGate("a_gate", false)
	s.fake.SetConfig("a_config", map[string]any{"theme": "light"})
	wl := s.images[workloadImageTar]
	fatalIf(t, s.apply(namespaceYAML(ns, ""), s.secretYAML(ns),
		snapshotYAML(ns, "env", "Env", "a-env", "a_gate", "a_config", "env-app"),
		snapshotYAML(ns, "files", "Files", "a-files", "a_gate", "a_config", "files-app"),
		workloadYAML(wl, ns, "env-app", "a-env", ""), workloadYAML(wl, ns, "files-app", "", "a-files")))
	_, err := s.waitPods(podWait, ns, "env-app", all(envIs("STATSIG_GATE_A_GATE", "false"), envIs("STATSIG_CONFIG_A_CONFIG_THEME", "light")))
	fatalIf(t, err)
	_, err = s.waitPods(podWait, ns, "files-app", all(fileIs("/etc/statsig/gate.a_gate", "false"), fileHas("/etc/statsig/config.a_config.json", `"light"`)))
	fatalIf(t, err)

	// Steady state: the operator has taken both Deployments as running the current content.
	fatalIf(t, s.waitSteady(ns, "env"))
	fatalIf(t, s.waitSteady(ns, "files"))
	s.fake.SetGate("a_gate", true)
	s.fake.SetConfig("a_config", map[string]any{"theme": "dark"})
	start := time.Now()
	s.bump(t, ns, "env")
	s.bump(t, ns, "files")
	s.timed(t, start, podWait, map[string]func() error{
		"a-env": func() error {
			_, err := s.waitPods(podWait, ns, "env-app", all(envIs("STATSIG_GATE_A_GATE", "true"), envIs("STATSIG_CONFIG_A_CONFIG_THEME", "dark")))
			return err
		},
		"a-files": func() error {
			_, err := s.waitPods(podWait, ns, "files-app", all(fileIs("/etc/statsig/gate.a_gate", "true"), fileHas("/etc/statsig/config.a_config.json", `"dark"`)))
			return err
		},
	})
}

// (b) GitOps applies a snapshot and the Deployment that reads it in any order: in one apply, the
// snapshot first and the Deployment in a later wave, or the Deployment first. The pods read the
// content, and a later change reaches them.
func (s *suite) journeyGitOpsOrders(t *testing.T) {
	wl := s.images[workloadImageTar]
	s.fake.SetConfig("b_config", map[string]any{"v": "1"})
	const together, snapFirst, deployFirst = "journey-b-together", "journey-b-snapshot-first", "journey-b-deployment-first"
	fatalIf(t, s.apply(namespaceYAML(together, ""), s.secretYAML(together),
		snapshotYAML(together, "snap", "Env", "b-env", "b_gate", "b_config", "app"),
		workloadYAML(wl, together, "app", "b-env", "")))
	fatalIf(t, s.apply(namespaceYAML(snapFirst, ""), s.secretYAML(snapFirst),
		snapshotYAML(snapFirst, "snap", "Env", "b-env", "b_gate", "b_config", "app")))
	fatalIf(t, s.apply(namespaceYAML(deployFirst, ""), s.secretYAML(deployFirst), workloadYAML(wl, deployFirst, "app", "b-env", "")))
	fatalIf(t, s.waitConfigMap(snapFirst, "b-env"))
	fatalIf(t, s.apply(workloadYAML(wl, snapFirst, "app", "b-env", "")))
	_, err := s.waitPods(podWait, deployFirst, "app", func(report) error { return nil })
	fatalIf(t, err)
	fatalIf(t, s.apply(snapshotYAML(deployFirst, "snap", "Env", "b-env", "b_gate", "b_config", "app")))
	namespaces := []string{together, snapFirst, deployFirst}
	start := time.Now()
	waits := map[string]func() error{}
	for _, ns := range namespaces {
		waits[ns+"-initial"] = func() error {
			_, err := s.waitPods(rolloutWait, ns, "app", envIs("STATSIG_CONFIG_B_CONFIG_V", "1"))
			return err
		}
	}
	s.timed(t, start, rolloutWait, waits)

	s.fake.SetConfig("b_config", map[string]any{"v": "2"})
	start = time.Now()
	waits = map[string]func() error{}
	for _, ns := range namespaces {
		s.bump(t, ns, "snap")
		// A rollout that brought the first content to pods counts against the one-minute limit.
		waits[ns] = func() error {
			_, err := s.waitPods(rolloutWait, ns, "app", envIs("STATSIG_CONFIG_B_CONFIG_V", "2"))
			return err
		}
	}
	s.timed(t, start, rolloutWait, waits)
}

// (c) Two changes within a minute: the first rolls at once, the second exactly once more, when the
// minute since the first rollout has passed.
func (s *suite) journeyTwoChanges(t *testing.T) {
	const ns = "journey-c"
	wl := s.images[workloadImageTar]
	s.fake.SetConfig("c_config", map[string]any{"v": "1"})
	fatalIf(t, s.apply(namespaceYAML(ns, ""), s.secretYAML(ns), snapshotYAML(ns, "snap", "Env", "c-env", "c_gate", "c_config", "app"),
		workloadYAML(wl, ns, "app", "c-env", "")))
	_, err := s.waitPods(podWait, ns, "app", envIs("STATSIG_CONFIG_C_CONFIG_V", "1"))
	fatalIf(t, err)
	fatalIf(t, s.waitSteady(ns, "snap"))
	ctx := context.Background()
	before, err := s.replicaSets(ctx, ns, "app")
	fatalIf(t, err)

	s.fake.SetConfig("c_config", map[string]any{"v": "2"})
	start := time.Now()
	s.bump(t, ns, "snap")
	_, err = s.waitPods(podWait, ns, "app", envIs("STATSIG_CONFIG_C_CONFIG_V", "2"))
	fatalIf(t, err)
	figure(t, "c-first-change", time.Since(start))
	cs, err := s.snapshot(ns, "snap")
	fatalIf(t, err)
	if len(cs.Status.Rollouts) != 1 || cs.Status.Rollouts[0].LastRolloutTime == nil {
		t.Fatalf("status.rollouts after the first change: %+v", cs.Status.Rollouts)
	}
	firstRollout := cs.Status.Rollouts[0].LastRolloutTime.Time

	s.fake.SetConfig("c_config", map[string]any{"v": "3"})
	s.bump(t, ns, "snap")
	fatalIf(t, waitFor(podWait, "RolledOut=False/RolloutPending", func() error {
		cs, err := s.snapshot(ns, "snap")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionRolledOut)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != statsigv1alpha1.ReasonRolloutPending {
			return fmt.Errorf("RolledOut condition %+v", c)
		}
		return nil
	}))
	_, err = s.waitPods(rolloutWait, ns, "app", envIs("STATSIG_CONFIG_C_CONFIG_V", "3"))
	fatalIf(t, err)
	sinceFirst := time.Since(firstRollout)
	figure(t, "c-second-change-after-first-rollout", sinceFirst)
	// lastRolloutTime has whole seconds; a rollout before the minute is a broken limit.
	if sinceFirst < 59*time.Second {
		t.Errorf("the second change reached pods %.1fs after the first rollout, before the one-minute limit", sinceFirst.Seconds())
	}
	after, err := s.replicaSets(ctx, ns, "app")
	fatalIf(t, err)
	if after != before+2 {
		t.Errorf("ReplicaSets went from %d to %d over two changes within a minute, want exactly two rollouts (+2)", before, after)
	}
	cs, err = s.snapshot(ns, "snap")
	fatalIf(t, err)
	if c := meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionRolledOut); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("RolledOut after the pods run the current content: %+v", c)
	}
}

// (d) A GateCheck's ConfigMap, consumed by a pod as files.
func (s *suite) journeyGateCheck(t *testing.T) {
	const ns = "journey-d"
	s.fake.SetGate("d_gate", true)
	s.fake.SetGate("d_other", false)
	start := time.Now()
	fatalIf(t, s.apply(namespaceYAML(ns, ""), s.secretYAML(ns), fmt.Sprintf(`apiVersion: statsig-operator.io/v1alpha1
kind: GateCheck
metadata: {name: gates, namespace: %s}
spec:
  secretRef: {name: statsig}
  user: {userID: realcluster}
  gates: [d_gate, d_other]
  target: {configMapName: d-gates}
`, ns)))
	fatalIf(t, s.waitConfigMap(ns, "d-gates"))
	fatalIf(t, s.apply(workloadYAML(s.images[workloadImageTar], ns, "app", "", "d-gates")))
	_, err := s.waitPods(podWait, ns, "app", all(fileIs("/etc/statsig/d_gate", "true"), fileIs("/etc/statsig/d_other", "false")))
	fatalIf(t, err)
	figure(t, "d-gatecheck-to-pod", time.Since(start))
}

// (e) A ClusterConfigSnapshot read by pods in the selected namespaces, one of them labelled later.
func (s *suite) journeyClusterSnapshot(t *testing.T) {
	const secrets, early, late = "journey-e-secrets", "journey-e-early", "journey-e-late"
	wl := s.images[workloadImageTar]
	s.fake.SetGate("e_gate", true)
	start := time.Now()
	fatalIf(t, s.apply(namespaceYAML(secrets, ""), s.secretYAML(secrets),
		namespaceYAML(early, "realcluster-flags: enabled"), namespaceYAML(late, ""),
		fmt.Sprintf(`apiVersion: statsig-operator.io/v1alpha1
kind: ClusterConfigSnapshot
metadata: {name: journey-e}
spec:
  secretRef: {name: statsig, namespace: %s}
  user: {userID: realcluster}
  gates: [e_gate]
  target:
    configMapName: e-flags
    format: Env
    namespaceSelector: {matchLabels: {realcluster-flags: enabled}}
`, secrets)))
	fatalIf(t, s.waitConfigMap(early, "e-flags"))
	fatalIf(t, s.apply(workloadYAML(wl, early, "app", "e-flags", "")))
	_, err := s.waitPods(podWait, early, "app", envIs("STATSIG_GATE_E_GATE", "true"))
	fatalIf(t, err)
	figure(t, "e-selected-namespace-to-pod", time.Since(start))
	var cm corev1.ConfigMap
	if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: late, Name: "e-flags"}, &cm); !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap in the namespace without the label: %v", err)
	}

	start = time.Now()
	_, err = s.kubectl("label", "namespace", late, "realcluster-flags=enabled")
	fatalIf(t, err)
	fatalIf(t, s.waitConfigMap(late, "e-flags"))
	figure(t, "e-label-to-configmap", time.Since(start))
	fatalIf(t, s.apply(workloadYAML(wl, late, "app", "e-flags", "")))
	_, err = s.waitPods(podWait, late, "app", envIs("STATSIG_GATE_E_GATE", "true"))
	fatalIf(t, err)
	figure(t, "e-label-to-pod", time.Since(start))
}

// leader is the pod holding the operator's leader-election lease.
func (s *suite) leader() (string, error) {
	var l coordinationv1.Lease
	if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: operatorNS, Name: leaseName}, &l); err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return "", fmt.Errorf("lease %s has no holder", leaseName)
	}
	pod, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
	return pod, nil
}

// workloadState is what must not change when the operator itself changes: the pods of every
// workload and the ConfigMaps the operator wrote.
type workloadState struct {
	pods       map[string]string // namespace/name → uid
	configMaps map[string]string // namespace/name → resourceVersion
}

func (s *suite) workloadState(t *testing.T) workloadState {
	t.Helper()
	ctx := context.Background()
	st := workloadState{pods: map[string]string{}, configMaps: map[string]string{}}
	var pods corev1.PodList
	fatalIf(t, s.client.List(ctx, &pods))
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Namespace, "journey-") {
			st.pods[p.Namespace+"/"+p.Name] = string(p.UID)
		}
	}
	var cms corev1.ConfigMapList
	fatalIf(t, s.client.List(ctx, &cms, client.MatchingLabels{"app.kubernetes.io/managed-by": "statsig-operator"}))
	for _, cm := range cms.Items {
		st.configMaps[cm.Namespace+"/"+cm.Name] = cm.ResourceVersion
	}
	if len(st.pods) == 0 || len(st.configMaps) == 0 {
		t.Fatalf("nothing to compare: %d workload pods, %d operator ConfigMaps", len(st.pods), len(st.configMaps))
	}
	return st
}

func (s *suite) expectUnchanged(t *testing.T, what string, before workloadState) {
	t.Helper()
	after := s.workloadState(t)
	for k, v := range before.pods {
		if after.pods[k] != v {
			t.Errorf("%s: workload pod %s replaced or gone", what, k)
		}
	}
	for k := range after.pods {
		if _, ok := before.pods[k]; !ok {
			t.Errorf("%s: new workload pod %s: a workload rolled", what, k)
		}
	}
	for k, v := range before.configMaps {
		if after.configMaps[k] != v {
			t.Errorf("%s: ConfigMap %s rewritten (resourceVersion %s → %s)", what, k, v, after.configMaps[k])
		}
	}
}

// (f) Two replicas with leader election: the leader is deleted while a sync hangs on Statsig; the
// other takes over and finishes the request, and no workload rolls.
func (s *suite) journeyLeaderTakeover(t *testing.T) {
	fatalIf(t, s.applyOverlay(s.image, 2))
	fatalIf(t, s.waitOperator(2, s.image))
	old, err := s.leader()
	fatalIf(t, err)
	before := s.workloadState(t)

	calls := s.fake.Count(statsig.EndpointGetConfig)
	resume := s.fake.Pause(statsig.EndpointGetConfig)
	value := s.bump(t, "journey-a", "env")
	fatalIf(t, waitFor(podWait, "a sync waiting on Statsig", func() error {
		if s.fake.Count(statsig.EndpointGetConfig) == calls {
			return fmt.Errorf("no get_config call yet")
		}
		return nil
	}))
	start := time.Now()
	_, err = s.kubectl("-n", operatorNS, "delete", "pod", old, "--wait=false")
	resume()
	fatalIf(t, err)
	fatalIf(t, waitFor(rolloutWait, "a new leader", func() error {
		l, err := s.leader()
		if err != nil {
			return err
		}
		if l == old {
			return fmt.Errorf("%s still leads", old)
		}
		return nil
	}))
	figure(t, "f-leader-deleted-to-new-leader", time.Since(start))
	fatalIf(t, s.waitHandled("journey-a", "env", value))
	figure(t, "f-leader-deleted-to-request-handled", time.Since(start))
	fatalIf(t, s.waitOperator(2, s.image))
	s.expectUnchanged(t, "leader takeover", before)
}

// (g) Restarting the operator, then upgrading it to a new image, rolls no workload and rewrites no
// ConfigMap.
func (s *suite) journeyRestartAndUpgrade(t *testing.T) {
	before := s.workloadState(t)
	start := time.Now()
	_, err := s.kubectl("-n", operatorNS, "rollout", "restart", "deployment/"+operatorName)
	fatalIf(t, err)
	fatalIf(t, waitFor(rolloutWait, "restarted operator", func() error {
		var d appsv1.Deployment
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &d); err != nil {
			return err
		}
		if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
			return fmt.Errorf("not restarted yet")
		}
		return nil
	}))
	fatalIf(t, s.waitOperator(2, s.image))
	value := s.bump(t, "journey-a", "files")
	fatalIf(t, s.waitHandled("journey-a", "files", value))
	figure(t, "g-restart-to-synced", time.Since(start))
	s.expectUnchanged(t, "restart", before)

	// The upgrade: the same build under a new tag, installed by applying the overlay again.
	name := s.image[:strings.LastIndex(s.image, ":")]
	upgraded := name + ":realcluster-upgrade"
	fatalIf(t, s.ctr("images", "tag", "--force", s.image, upgraded))
	start = time.Now()
	fatalIf(t, s.applyOverlay(upgraded, 2))
	fatalIf(t, s.waitOperator(2, upgraded))
	value = s.bump(t, "journey-a", "env")
	fatalIf(t, s.waitHandled("journey-a", "env", value))
	figure(t, "g-upgrade-to-synced", time.Since(start))
	s.expectUnchanged(t, "upgrade", before)
}
