package chart

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// k8s is an admin client of a kube-apiserver that has the chart's CRDs installed (from crds/, as
// `helm install` installs them before anything else).
var k8s client.Client

func TestMain(m *testing.M) {
	os.Exit(func() int {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export KUBEBUILDER_ASSETS=$(hack/envtest-binaries.sh <k8s> <etcd>) (versions in the Makefile)")
			return 1
		}
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(chartDir(), "crds")},
			ErrorIfCRDPathMissing: true,
			Scheme:                testenv.Scheme,
		}
		cfg, err := env.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = env.Stop() }()
		k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// dryRunApply creates the namespaces for real (a namespaced dry run needs its namespace) and applies
// everything else with a server-side dry run, so that the API server validates every object,
// CRDs and RBAC included, without running anything.
func dryRunApply(t *testing.T, objs []*unstructured.Unstructured, skipKinds ...string) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	namespaces := map[string]bool{}
	for _, o := range objs {
		if o.GetNamespace() != "" {
			namespaces[o.GetNamespace()] = true
		}
		if o.GetKind() == "Namespace" {
			namespaces[o.GetName()] = true
		}
	}
	for ns := range namespaces {
		err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		g.Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
	}
	applied := 0
	for _, o := range objs {
		if contains(skipKinds, o.GetKind()) {
			continue
		}
		err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.DryRunAll,
			client.FieldOwner("chart-test"), client.ForceOwnership)
		g.Expect(err).NotTo(HaveOccurred(), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		applied++
	}
	g.Expect(applied).To(BeNumerically(">", 5))
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestHelmTemplateAppliesToAPIServer(t *testing.T) {
	// The prometheus-operator kinds need CRDs that this API server does not have; their shape is
	// checked by TestAlertsAndDashboardReadRealMetrics and lint.
	monitoring := []string{"ServiceMonitor", "PrometheusRule"}
	t.Run("defaults", func(t *testing.T) { dryRunApply(t, render(t)) })
	t.Run("everything", func(t *testing.T) {
		dryRunApply(t, render(t, "-f", filepath.Join(root, "test", "chart", "testdata", "everything.yaml")), monitoring...)
	})
}

func TestKustomizeDefaultAppliesToAPIServer(t *testing.T) {
	g := NewWithT(t)
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "config", "default"))
	g.Expect(err).NotTo(HaveOccurred())
	out, err := resMap.AsYaml()
	g.Expect(err).NotTo(HaveOccurred())
	objs := decode(t, string(out))
	g.Expect(kinds(objs)).To(Equal([]string{"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment",
		"Namespace", "Role", "RoleBinding", "Service", "ServiceAccount"}))
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "Namespace" {
			g.Expect(o.GetNamespace()).To(Equal("statsig-operator-system"), "%s %s", o.GetKind(), o.GetName())
		}
	}
	// As in the chart: the Pod knows its name, and the webhook Service routes to the leader only.
	dep := into[appsv1.Deployment](t, find(objs, "Deployment", ""))
	g.Expect(dep.Spec.Template.Spec.Containers[0].Env).To(ContainElements(
		HaveField("ValueFrom.FieldRef.FieldPath", "metadata.name"),
		HaveField("ValueFrom.FieldRef.FieldPath", "metadata.namespace"),
	))
	webhookSvc := into[corev1.Service](t, find(objs, "Service", "statsig-operator-webhook"))
	wantSelector := maps.Clone(dep.Spec.Selector.MatchLabels)
	wantSelector[statsigv1alpha1.LabelWebhookLeader] = "true"
	g.Expect(webhookSvc.Spec.Selector).To(Equal(wantSelector))
	dryRunApply(t, objs)
}
