package realcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

const (
	// envHelm is the helm binary (`make helm`); the Makefile sets it.
	envHelm     = "HELM"
	helmRelease = "statsig-operator"
	helmCA      = "statsig-fake-ca"
)

// helm runs helm inside the cluster's network namespace as the admin, with its cache and
// configuration in the suite's directory.
func (s *suite) helm(args ...string) (string, error) {
	bin := os.Getenv(envHelm)
	if bin == "" {
		return "", fmt.Errorf("%s is not set (`make helm` installs it)", envHelm)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", s.ns.name, bin, "--kubeconfig", s.kubeconfig}, args...)...)
	home := s.path("helm")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// helmValues writes the values the suite installs the chart with: the imported image (never
// pulled), the fake's URLs, its CA, and logLevel.
func (s *suite) helmValues(replicas int, logLevel string) (string, error) {
	i := strings.LastIndex(s.image, ":")
	statsigURL := "http://" + nodeIP + ":" + statsigAPIPort
	v := map[string]any{
		"image":          map[string]any{"repository": s.image[:i], "tag": s.image[i+1:], "pullPolicy": "Never"},
		"replicaCount":   replicas,
		"statsig":        map[string]any{"apiURL": statsigURL, "eventsURL": statsigURL, "consoleURL": statsigURL},
		"caBundle":       map[string]any{"configMap": map[string]any{"name": helmCA, "key": "ca.crt"}},
		"logLevel":       logLevel,
		"logEncoding":    "console",
		"webhook":        map[string]any{"enabled": true},
		"leaderElection": map[string]any{"enabled": true},
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	p := s.path("helm-values-" + logLevel + ".yaml")
	return p, os.WriteFile(p, b, 0o644)
}

// uninstallKustomize deletes what the kustomize overlay installed except the CRDs (deleting them
// would delete every custom resource) and the namespace (the Helm release goes there), and waits
// until the operator's pods are gone.
func (s *suite) uninstallKustomize() error {
	out, err := s.kubectl("kustomize", s.overlay)
	if err != nil {
		return err
	}
	var keep []string
	for doc := range strings.SplitSeq(out, "\n---\n") {
		var m struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return fmt.Errorf("kustomize output: %w", err)
		}
		if m.Kind != "" && m.Kind != "CustomResourceDefinition" && m.Kind != "Namespace" {
			keep = append(keep, doc)
		}
	}
	if len(keep) == 0 {
		return fmt.Errorf("kustomize rendered nothing to delete")
	}
	cmd := exec.Command("ip", "netns", "exec", s.ns.name, s.bins["kubectl"], "--kubeconfig", s.kubeconfig,
		"delete", "--cascade=foreground", "--timeout=120s", "-f", "-")
	cmd.Stdin = strings.NewReader(strings.Join(keep, "\n---\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl delete: %w: %s", err, out)
	}
	return waitFor(rolloutWait, "the kustomize operator's pods gone", func() error {
		var pods corev1.PodList
		if err := s.client.List(context.Background(), &pods, client.InNamespace(operatorNS)); err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d operator pods left", len(pods.Items))
		}
		return nil
	})
}

// customResources lists every custom resource of the operator's kinds.
func (s *suite) customResources(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var names []string
	var cs statsigv1alpha1.ConfigSnapshotList
	fatalIf(t, s.client.List(ctx, &cs))
	for _, o := range cs.Items {
		names = append(names, "ConfigSnapshot "+o.Namespace+"/"+o.Name)
	}
	var gc statsigv1alpha1.GateCheckList
	fatalIf(t, s.client.List(ctx, &gc))
	for _, o := range gc.Items {
		names = append(names, "GateCheck "+o.Namespace+"/"+o.Name)
	}
	var ccs statsigv1alpha1.ClusterConfigSnapshotList
	fatalIf(t, s.client.List(ctx, &ccs))
	for _, o := range ccs.Items {
		names = append(names, "ClusterConfigSnapshot "+o.Name)
	}
	var dre statsigv1alpha1.DailyReportExportList
	fatalIf(t, s.client.List(ctx, &dre))
	for _, o := range dre.Items {
		names = append(names, "DailyReportExport "+o.Namespace+"/"+o.Name)
	}
	var wr statsigv1alpha1.WebhookReceiverList
	fatalIf(t, s.client.List(ctx, &wr))
	for _, o := range wr.Items {
		names = append(names, "WebhookReceiver "+o.Namespace+"/"+o.Name)
	}
	slices.Sort(names)
	return names
}

func (s *suite) crdNames(t *testing.T) []string {
	t.Helper()
	out, err := s.kubectl("get", "crd", "-o", "name")
	fatalIf(t, err)
	var names []string
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if strings.HasSuffix(l, ".statsig-operator.io") {
			names = append(names, l)
		}
	}
	return names
}

// (j) The operator installed with Helm in place of the kustomize install: it keeps an existing
// snapshot Ready and follows a change to the pods; `helm upgrade` with a changed value rolls no
// workload and rewrites no ConfigMap; `helm uninstall` leaves the CRDs, the custom resources and
// their ConfigMaps (Helm never deletes CRDs).
func (s *suite) journeyHelm(t *testing.T) {
	const ns, snap = webhookNS, "snap"
	root, err := testenv.RepoRoot()
	fatalIf(t, err)
	chart := filepath.Join(root, "charts", "statsig-operator")
	crds := s.crdNames(t)
	if len(crds) == 0 {
		t.Fatal("no statsig-operator.io CRDs installed before the Helm journey")
	}
	resources := s.customResources(t)
	before := s.workloadState(t)

	start := time.Now()
	fatalIf(t, s.uninstallKustomize())
	figure(t, "j-kustomize-uninstall", time.Since(start))
	if got := s.crdNames(t); !slices.Equal(got, crds) {
		t.Fatalf("CRDs after removing the kustomize install: %v, want %v", got, crds)
	}

	ca, err := os.ReadFile(s.caBundle)
	fatalIf(t, err)
	fatalIf(t, s.apply(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {ca.crt: %q}\n", helmCA, operatorNS, ca)))
	values, err := s.helmValues(1, "info")
	fatalIf(t, err)
	start = time.Now()
	out, err := s.helm("install", helmRelease, chart, "-n", operatorNS, "--create-namespace", "-f", values, "--timeout", "3m")
	t.Logf("helm install:\n%s", out)
	fatalIf(t, err)
	fatalIf(t, s.waitOperator(1, s.image))
	figure(t, "j-helm-install-to-available", time.Since(start))

	// The Helm operator takes the snapshot as it is: a sync without a change keeps it Ready and
	// rewrites nothing.
	value := s.bump(t, ns, snap)
	fatalIf(t, s.waitHandled(ns, snap, value))
	figure(t, "j-helm-install-to-synced", time.Since(start))
	cs, err := s.snapshot(ns, snap)
	fatalIf(t, err)
	if c := meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready of %s/%s under the Helm install: %+v", ns, snap, c)
	}
	s.expectUnchanged(t, "helm install", before)

	// Journey i rolled the Deployment moments ago, so this rollout waits out the one-minute limit.
	s.fake.SetConfig("i_config", map[string]any{"v": "3"})
	start = time.Now()
	s.bump(t, ns, snap)
	_, err = s.waitPods(podWait, ns, "app", envIs("STATSIG_CONFIG_I_CONFIG_V", "3"))
	fatalIf(t, err)
	figure(t, "j-helm-change-to-pod", time.Since(start))
	fatalIf(t, s.waitSteady(ns, snap))

	// An upgrade that changes the operator's pod template (the log level).
	before = s.workloadState(t)
	var d appsv1.Deployment
	fatalIf(t, s.client.Get(context.Background(), client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &d))
	generation := d.Generation
	values, err = s.helmValues(1, "debug")
	fatalIf(t, err)
	start = time.Now()
	out, err = s.helm("upgrade", helmRelease, chart, "-n", operatorNS, "-f", values, "--timeout", "3m")
	t.Logf("helm upgrade:\n%s", out)
	fatalIf(t, err)
	fatalIf(t, waitFor(rolloutWait, "the upgraded operator Deployment", func() error {
		var d appsv1.Deployment
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &d); err != nil {
			return err
		}
		if d.Generation == generation || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--zap-log-level=debug") {
			return fmt.Errorf("generation %d, args %v", d.Generation, d.Spec.Template.Spec.Containers[0].Args)
		}
		return nil
	}))
	fatalIf(t, s.waitOperator(1, s.image))
	value = s.bump(t, ns, snap)
	fatalIf(t, s.waitHandled(ns, snap, value))
	figure(t, "j-helm-upgrade-to-synced", time.Since(start))
	s.expectUnchanged(t, "helm upgrade", before)

	start = time.Now()
	out, err = s.helm("uninstall", helmRelease, "-n", operatorNS, "--wait", "--timeout", "3m")
	t.Logf("helm uninstall:\n%s", out)
	fatalIf(t, err)
	fatalIf(t, waitFor(rolloutWait, "the Helm operator gone", func() error {
		err := s.client.Get(context.Background(), client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &appsv1.Deployment{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		}
		return fmt.Errorf("the operator Deployment is still there")
	}))
	figure(t, "j-helm-uninstall", time.Since(start))
	if got := s.crdNames(t); !slices.Equal(got, crds) {
		t.Errorf("CRDs after helm uninstall: %v, want %v", got, crds)
	}
	if got := s.customResources(t); !slices.Equal(got, resources) {
		t.Errorf("custom resources after helm uninstall: %v, want %v", got, resources)
	}
	s.expectUnchanged(t, "helm uninstall", before)
}
