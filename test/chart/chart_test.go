// Package chart tests the Helm chart and the kustomize install: lint, the values schema, the
// rendered objects against config/, and both installs applied with a server-side dry run to a real
// kube-apiserver (envtest).
package chart

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

const (
	release   = "so"
	namespace = "statsig-system"
)

var root = func() string {
	r, err := testenv.RepoRoot()
	if err != nil {
		panic(err)
	}
	return r
}()

func chartDir() string { return filepath.Join(root, "charts", "statsig-operator") }

// helm runs the pinned helm that `make test` installs (HELM).
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		t.Fatal("HELM is not set: run the tests with `make test`, or `make helm` and export HELM=$PWD/bin/helm-<version> (version in the Makefile)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	// No user configuration or repositories leak into the tests.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// render is `helm template` with the CRDs, parsed into objects.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir(), "--namespace", namespace, "--include-crds"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func decode(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decode manifests: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func into[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	if u == nil {
		t.Fatalf("missing %T", new(T))
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLint(t *testing.T) {
	for _, values := range []string{"", filepath.Join(root, "test", "chart", "testdata", "everything.yaml")} {
		args := []string{"lint", chartDir(), "--strict"}
		if values != "" {
			args = append(args, "-f", values)
		}
		out, err := helm(t, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		NewWithT(t).Expect(out).To(ContainSubstring("0 chart(s) failed"))
	}
}

func TestSchemaRejectsWrongValues(t *testing.T) {
	cases := []struct {
		set  []string
		want string
	}{
		{[]string{"replicaCount=0"}, "at '/replicaCount': minimum: got 0, want 1"},
		{[]string{"replicaCount=two"}, "at '/replicaCount'"},
		{[]string{"statsig.apiURL=ftp://api.statsig.com"}, "at '/statsig/apiURL': 'ftp://api.statsig.com' does not match pattern"},
		{[]string{"statsig.consoleURL=https://statsigapi.net/console/v1"}, "at '/statsig/consoleURL'"},
		{[]string{"statsig.qps=0"}, "at '/statsig/qps'"},
		{[]string{"statsig.burst=0"}, "at '/statsig/burst'"},
		{[]string{"defaultSecret=statsig"}, "at '/defaultSecret': 'statsig' does not match pattern"},
		{[]string{"watchNamespaces[0]=Not_A_Namespace"}, "at '/watchNamespaces/0'"},
		{[]string{"leaderElection.enabled=false"}, "at '/leaderElection/enabled': value must be true"},
		{[]string{"podSecurityContext.runAsNonRoot=false"}, "at '/podSecurityContext/runAsNonRoot': value must be true"},
		{[]string{"securityContext.allowPrivilegeEscalation=true"}, "at '/securityContext/allowPrivilegeEscalation': value must be false"},
		{[]string{"logEncoding=xml"}, "at '/logEncoding'"},
		{[]string{"extraArgs[0]=leader-elect"}, "at '/extraArgs/0'"},
		{[]string{"metrics.prot=8443"}, "at '/metrics': additional properties 'prot' not allowed"},
		{[]string{"replicas=2"}, "additional properties 'replicas' not allowed"},
		{[]string{"webhook.port=70000"}, "at '/webhook/port': maximum"},
		{[]string{"image.digest=latest"}, "at '/image/digest'"},
		{[]string{"image.pullPolicy=Sometimes"}, "at '/image/pullPolicy'"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			g := NewWithT(t)
			args := []string{"template", release, chartDir()}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := helm(t, args...)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring("values don't meet the specifications of the schema"))
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

func TestTemplateRejectsContradictions(t *testing.T) {
	cases := []struct {
		set  []string
		want string
	}{
		{[]string{"caBundle.configMap.name=a", "caBundle.secret.name=b"}, "caBundle: set caBundle.configMap.name or caBundle.secret.name, not both"},
		{[]string{"serviceAccount.create=false"}, "serviceAccount.name: name an existing ServiceAccount"},
		{[]string{"metrics.service.enabled=false", "metrics.serviceMonitor.enabled=true"}, "metrics.serviceMonitor.enabled: needs metrics.service.enabled"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			g := NewWithT(t)
			args := []string{"template", release, chartDir()}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := helm(t, args...)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

func TestDefaultsRender(t *testing.T) {
	g := NewWithT(t)
	objs := render(t)
	g.Expect(kinds(objs)).To(Equal([]string{"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
		"Deployment", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"}))

	dep := into[appsv1.Deployment](t, find(objs, "Deployment", ""))
	g.Expect(*dep.Spec.Replicas).To(BeNumerically(">", 1))
	pod := dep.Spec.Template.Spec
	g.Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(*pod.SecurityContext.RunAsUser).To(Equal(int64(65532)))
	g.Expect(*pod.SecurityContext.RunAsGroup).To(Equal(int64(65532)))
	c := pod.Containers[0]
	g.Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(c.Image).To(Equal("statsig-operator:0.1.0"))
	g.Expect(c.Args).To(ContainElements("--leader-elect=true", "--metrics-secure=true", "--webhook-bind-address=:9292",
		"--statsig-api-url=https://api.statsig.com"))
	// The downward API names the Pod, which the leader labels for the webhook Service; nothing else
	// (no CA bundle) by default.
	g.Expect(c.Env).To(ConsistOf(
		corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	))
	g.Expect(pod.TopologySpreadConstraints).To(HaveLen(1))
	g.Expect(pod.TopologySpreadConstraints[0].LabelSelector.MatchLabels).To(Equal(dep.Spec.Selector.MatchLabels))

	// Metrics come from every replica; webhooks only from the leader, the one Pod that listens and
	// that carries the webhook-leader label.
	metricsSvc := into[corev1.Service](t, find(objs, "Service", release+"-statsig-operator-metrics"))
	g.Expect(metricsSvc.Spec.Selector).To(Equal(dep.Spec.Selector.MatchLabels))
	webhookSvc := into[corev1.Service](t, find(objs, "Service", release+"-statsig-operator-webhook"))
	wantSelector := maps.Clone(dep.Spec.Selector.MatchLabels)
	wantSelector[statsigv1alpha1.LabelWebhookLeader] = "true"
	g.Expect(webhookSvc.Spec.Selector).To(Equal(wantSelector))
	// One replica has no PodDisruptionBudget, which would block every node drain.
	g.Expect(kinds(render(t, "--set", "replicaCount=1"))).NotTo(ContainElement("PodDisruptionBudget"))
}

// The chart's arguments are the binary's flags: every flag of the operator has a value, and the
// rendered arguments pass the binary's own parsing and validation.
func TestArgsCoverEveryOperatorFlag(t *testing.T) {
	g := NewWithT(t)
	objs := render(t, "-f", filepath.Join(root, "test", "chart", "testdata", "everything.yaml"))
	dep := into[appsv1.Deployment](t, find(objs, "Deployment", ""))
	args := dep.Spec.Template.Spec.Containers[0].Args

	opts := &options.Options{}
	fs := flag.NewFlagSet("statsig-operator", flag.ContinueOnError)
	opts.BindFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	g.Expect(fs.Parse(args)).To(Succeed())
	g.Expect(opts.Validate()).To(Succeed())

	var set []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		set = append(set, name)
	}
	var missing []string
	opts2 := &options.Options{}
	own := flag.NewFlagSet("own", flag.ContinueOnError)
	opts2.BindFlags(own)
	own.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(set, f.Name) {
			missing = append(missing, f.Name)
		}
	})
	g.Expect(missing).To(BeEmpty(), "operator flags with no chart value")

	g.Expect(opts.StatsigAPIURL).To(Equal("https://statsig-proxy.internal:8443"))
	g.Expect(opts.DefaultSecret).To(Equal("statsig-system/statsig"))
	g.Expect(opts.WatchNamespaceList()).To(Equal([]string{"shop", "analytics"}))
	g.Expect(opts.StatsigQPS).To(Equal(2.5))
	g.Expect(opts.StatsigMaxResponseBytes).To(Equal(int64(33554432)))
	g.Expect(opts.AllowFileDestinations && opts.AllowAmbientObjectStoreCredentials).To(BeTrue())
	g.Expect(opts.WebhookAddr).To(Equal(":9393"))
	g.Expect(opts.MetricsAddr).To(Equal(":9443"))
	g.Expect(opts.LeaderElectNamespace).To(Equal(namespace))

	// The webhook listener can be turned off.
	off := into[appsv1.Deployment](t, find(render(t, "--set", "webhook.enabled=false"), "Deployment", ""))
	g.Expect(off.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--webhook-bind-address=0"))
}

func TestCABundleIsMountedAndTrusted(t *testing.T) {
	g := NewWithT(t)
	for _, src := range []string{"configMap", "secret"} {
		dep := into[appsv1.Deployment](t, find(render(t, "--set", "caBundle."+src+".name=corp-ca", "--set", "caBundle."+src+".key=bundle.pem"), "Deployment", ""))
		pod := dep.Spec.Template.Spec
		c := pod.Containers[0]
		g.Expect(c.Env).To(ContainElement(HaveField("Value", "/etc/ssl/certs:/etc/statsig-operator/ca")))
		g.Expect(c.VolumeMounts).To(ContainElement(HaveField("MountPath", "/etc/statsig-operator/ca")))
		var found bool
		for _, v := range pod.Volumes {
			if v.Name != "ca-bundle" {
				continue
			}
			found = true
			if src == "configMap" {
				g.Expect(v.ConfigMap.Name).To(Equal("corp-ca"))
				g.Expect(v.ConfigMap.Items[0].Key).To(Equal("bundle.pem"))
			} else {
				g.Expect(v.Secret.SecretName).To(Equal("corp-ca"))
				g.Expect(v.Secret.Items[0].Key).To(Equal("bundle.pem"))
			}
		}
		g.Expect(found).To(BeTrue(), src)
	}
}

// The chart's CRDs and RBAC rules are the very objects controller-gen wrote into config/.
func TestRenderedCRDsAndRBACEqualConfig(t *testing.T) {
	g := NewWithT(t)
	objs := render(t)

	files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty())
	var rendered int
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			rendered++
		}
	}
	g.Expect(rendered).To(Equal(len(files)))
	for _, f := range files {
		want := readObject[apiextensionsv1.CustomResourceDefinition](t, f)
		got := into[apiextensionsv1.CustomResourceDefinition](t, find(objs, "CustomResourceDefinition", want.Name))
		g.Expect(got).To(Equal(want), f)
	}

	role := readObject[rbacv1.ClusterRole](t, filepath.Join(root, "config", "rbac", "role.yaml"))
	gotRole := into[rbacv1.ClusterRole](t, find(objs, "ClusterRole", release+"-statsig-operator"))
	g.Expect(gotRole.Rules).To(Equal(role.Rules))
	leader := readObject[rbacv1.Role](t, filepath.Join(root, "config", "rbac", "leader_election_role.yaml"))
	gotLeader := into[rbacv1.Role](t, find(objs, "Role", release+"-statsig-operator-leader-election"))
	g.Expect(gotLeader.Rules).To(Equal(leader.Rules))
	reader := readObject[rbacv1.ClusterRole](t, filepath.Join(root, "config", "rbac", "metrics_reader_role.yaml"))
	gotReader := into[rbacv1.ClusterRole](t, find(objs, "ClusterRole", release+"-statsig-operator-metrics-reader"))
	g.Expect(gotReader.Rules).To(Equal(reader.Rules))
}

func readObject[T any](t *testing.T, path string) *T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := yaml.UnmarshalStrict(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// Every metric an alert or a dashboard panel reads is one the operator really exports.
func TestAlertsAndDashboardReadRealMetrics(t *testing.T) {
	g := NewWithT(t)
	objs := render(t, "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")
	rule := find(objs, "PrometheusRule", "")
	g.Expect(rule).NotTo(BeNil())
	dash := find(objs, "ConfigMap", release+"-statsig-operator-dashboard")
	g.Expect(dash).NotTo(BeNil())
	ruleYAML, err := yaml.Marshal(rule.Object)
	g.Expect(err).NotTo(HaveOccurred())
	dashJSON, _, _ := unstructured.NestedString(dash.Object, "data", "statsig-operator.json")
	g.Expect(dashJSON).To(ContainSubstring(`"panels"`))

	known := exportedMetricNames(t)
	used := regexp.MustCompile(`statsig_operator_[a-z_]+`)
	for what, text := range map[string]string{"PrometheusRule": string(ruleYAML), "dashboard": dashJSON} {
		names := used.FindAllString(text, -1)
		g.Expect(names).NotTo(BeEmpty(), what)
		for _, n := range names {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			g.Expect(known).To(ContainElement(base), "%s reads %s, which the operator does not export", what, n)
		}
	}
	alerts, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	g.Expect(alerts).To(HaveLen(1))
	g.Expect(string(ruleYAML)).To(And(ContainSubstring("StatsigOperatorOutputStale"), ContainSubstring("StatsigOperatorExportFailing"),
		ContainSubstring("StatsigOperatorExportLate"), ContainSubstring("StatsigOperatorStatsigRateLimited"), ContainSubstring("StatsigOperatorStatsigErrors")))
}

// exportedMetricNames reads the metric names declared in the operator's source.
func exportedMetricNames(t *testing.T) []string {
	t.Helper()
	var names []string
	full := regexp.MustCompile(`(?:Name:\s+|NewDesc\(\s*|NewSinceCollector\(\s*)"(statsig_operator_[a-z_]+)"`)
	sub := regexp.MustCompile(`Namespace:\s+"statsig_operator",\s+Subsystem:\s+"([a-z_]+)",\s+Name:\s+"([a-z_]+)"`)
	files, _ := filepath.Glob(filepath.Join(root, "internal", "*", "*.go"))
	controllers, _ := filepath.Glob(filepath.Join(root, "controllers", "*.go"))
	files = append(files, controllers...)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range full.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
		}
		for _, m := range sub.FindAllStringSubmatch(string(b), -1) {
			names = append(names, "statsig_operator_"+m[1]+"_"+m[2])
		}
	}
	if len(names) < 5 {
		t.Fatalf("found only %v metric names in internal/ and controllers/", names)
	}
	return names
}
