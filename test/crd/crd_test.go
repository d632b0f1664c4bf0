// Package crd tests the CRD schemas against a real kube-apiserver: every sample is accepted, every
// rule the schema states rejects what it should with a message naming the field, and the schema's
// defaults land on the stored object.
package crd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

var (
	k8s client.Client
	cfg *rest.Config
)

func TestMain(m *testing.M) {
	var env *envtest.Environment
	var err error
	env, cfg, err = testenv.Start()
	if err != nil {
		panic(err)
	}
	k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"shop", "analytics", "validation"} {
		if err := k8s.Create(ctx, testenv.Namespace(ns, nil)); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func TestSamplesAreAccepted(t *testing.T) {
	g := NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	kinds := map[string]bool{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, obj := range readObjects(t, f) {
			g.Expect(k8s.Create(context.Background(), obj)).To(Succeed(), "sample %s", f)
			kinds[obj.GetKind()] = true
		}
	}
	g.Expect(kinds).To(HaveKey("GateCheck"))
	g.Expect(kinds).To(HaveKey("ConfigSnapshot"))
	g.Expect(kinds).To(HaveKey("ClusterConfigSnapshot"))
	g.Expect(kinds).To(HaveKey("DailyReportExport"))
	g.Expect(kinds).To(HaveKey("WebhookReceiver"))
}

func TestSchemaDefaults(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()

	gc := validGateCheck()
	g.Expect(k8s.Create(ctx, gc)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(gc), gc)).To(Succeed())
	g.Expect(field(gc, "spec", "refreshIntervalSeconds")).To(BeEquivalentTo(300))

	cs := validConfigSnapshot()
	g.Expect(k8s.Create(ctx, cs)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cs), cs)).To(Succeed())
	g.Expect(field(cs, "spec", "target", "format")).To(Equal("Files"))
	g.Expect(field(cs, "spec", "refreshIntervalSeconds")).To(BeEquivalentTo(300))

	whr := with(validWebhookReceiver(), set("spec.catchUp", map[string]any{}))
	g.Expect(k8s.Create(ctx, whr)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(whr), whr)).To(Succeed())
	g.Expect(field(whr, "spec", "catchUp", "intervalSeconds")).To(BeEquivalentTo(60))

	dre := validDailyReportExport()
	g.Expect(k8s.Create(ctx, dre)).To(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(dre), dre)).To(Succeed())
	g.Expect(field(dre, "spec", "source")).To(Equal("Console"))
	g.Expect(field(dre, "spec", "compression")).To(Equal("Gzip"))
	g.Expect(field(dre, "spec", "timeZone")).To(Equal("America/Los_Angeles"))
	g.Expect(field(dre, "spec", "availabilityDeadline")).To(Equal("24h"))
}

func TestValidObjectsAreAccepted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	for _, obj := range []*unstructured.Unstructured{
		with(validGateCheck(), set("spec.user", map[string]any{"customIDs": map[string]any{"companyID": "acme"},
			"custom": map[string]any{"plan": "pro", "seats": int64(5), "ratio": 0.5, "beta": true, "tags": []any{"a", "b"}}})),
		with(validGateCheck(), set("spec.gates", []any{"with space", "dots.and-dash_1"})),
		with(validDailyReportExport(), set("spec.schedule", "*/30 6-18 * * 1-5"), set("spec.timeZone", "UTC")),
		with(validDailyReportExport(), del("spec.startDate"), set("spec.source", "Legacy"), set("spec.reportType", "unit_metrics_daily")),
		with(validClusterConfigSnapshot(), del("spec.secretRef")),
	} {
		obj.SetGenerateName("valid-")
		obj.SetName("")
		g.Expect(k8s.Create(ctx, obj)).To(Succeed(), "%s %v", obj.GetKind(), obj.Object["spec"])
	}
}

func TestInvalidObjectsAreRejected(t *testing.T) {
	long := strings.Repeat("g", 101)
	many := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = "gate_" + strings.Repeat("x", 1) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		}
		return out
	}
	cases := []struct {
		name string
		obj  *unstructured.Unstructured
		want []string // every substring must be in the error
	}{
		{"gate name too short", with(validGateCheck(), set("spec.gates", []any{"a"})), []string{"spec.gates[0]"}},
		{"gate name bad character", with(validGateCheck(), set("spec.gates", []any{"bad/name"})), []string{"spec.gates[0]", "should match"}},
		{"gate name too long", with(validGateCheck(), set("spec.gates", []any{long})), []string{"spec.gates[0]", "100"}},
		{"more than 100 gates", with(validGateCheck(), set("spec.gates", many(101))), []string{"spec.gates", "100"}},
		{"duplicate gates", with(validGateCheck(), set("spec.gates", []any{"dark_mode", "dark_mode"})), []string{"spec.gates[1]", "Duplicate"}},
		{"no gates", with(validGateCheck(), set("spec.gates", []any{})), []string{"spec.gates"}},
		{"user without an ID", with(validGateCheck(), set("spec.user", map[string]any{"email": "a@b.c"})), []string{"spec.user", "userID", "customIDs"}},
		{"user with empty customIDs", with(validGateCheck(), set("spec.user", map[string]any{"customIDs": map[string]any{}})), []string{"spec.user", "userID"}},
		{"environment tier", with(validGateCheck(), set("spec.user.statsigEnvironment", map[string]any{"tier": "prod"})), []string{"spec.user.statsigEnvironment.tier", "production"}},
		{"refresh under 30s", with(validGateCheck(), set("spec.refreshIntervalSeconds", int64(29))), []string{"spec.refreshIntervalSeconds", "30"}},
		{"namespaced secretRef with namespace", with(validGateCheck(), set("spec.secretRef.namespace", "other")), []string{"spec.secretRef", "secretRef.namespace is not allowed"}},
		{"configMapName not a name", with(validGateCheck(), set("spec.target.configMapName", "Bad_Name")), []string{"spec.target.configMapName"}},
		{"snapshot of nothing", with(validConfigSnapshot(), del("spec.gates")), []string{"spec", "at least one gate"}},
		{"snapshot discover all false", with(validConfigSnapshot(), del("spec.gates"), set("spec.discover", map[string]any{"gates": false})), []string{"at least one gate"}},
		{"snapshot format", with(validConfigSnapshot(), set("spec.target.format", "Yaml")), []string{"spec.target.format", "Files", "Env"}},
		{"rollout target kind", with(validConfigSnapshot(), set("spec.rolloutTargets", []any{map[string]any{"kind": "Pod", "name": "x"}})), []string{"spec.rolloutTargets[0].kind", "Deployment"}},
		{"dynamic config name", with(validConfigSnapshot(), set("spec.dynamicConfigs", []any{"x"})), []string{"spec.dynamicConfigs[0]"}},
		{"more than 100 layers", with(validConfigSnapshot(), set("spec.layers", many(101))), []string{"spec.layers", "100"}},
		{"duplicate experiments", with(validConfigSnapshot(), set("spec.experiments", []any{"exp_a", "exp_a"})), []string{"spec.experiments[1]", "Duplicate"}},
		{"snapshot secretRef with namespace", with(validConfigSnapshot(), set("spec.secretRef.namespace", "x")), []string{"spec.secretRef", "not allowed"}},
		{"cluster secretRef without namespace", with(validClusterConfigSnapshot(), del("spec.secretRef.namespace")), []string{"spec.secretRef.namespace", "Required"}},
		{"cluster without namespaceSelector", with(validClusterConfigSnapshot(), del("spec.target.namespaceSelector")), []string{"spec.target.namespaceSelector", "Required"}},
		{"six-field cron", with(validDailyReportExport(), set("spec.schedule", "0 0 11 * * *")), []string{"spec.schedule", "5-field"}},
		{"four-field cron", with(validDailyReportExport(), set("spec.schedule", "0 11 * *")), []string{"spec.schedule", "5-field"}},
		{"time zone shape", with(validDailyReportExport(), set("spec.timeZone", "Pacific Time")), []string{"spec.timeZone", "IANA"}},
		{"startDate shape", with(validDailyReportExport(), set("spec.startDate", "2026/11/01")), []string{"spec.startDate", "YYYY-MM-DD"}},
		{"startDate month 13", with(validDailyReportExport(), set("spec.startDate", "2026-13-01")), []string{"spec.startDate"}},
		{"startDate with Legacy", with(validDailyReportExport(), set("spec.source", "Legacy")), []string{"startDate is only allowed with source: Console"}},
		{"two destinations", with(validDailyReportExport(), set("spec.destination.configMap", map[string]any{"name": "r"})), []string{"spec.destination", "exactly one"}},
		{"no destination", with(validDailyReportExport(), set("spec.destination", map[string]any{})), []string{"spec.destination", "exactly one"}},
		{"destination scheme", with(validDailyReportExport(), set("spec.destination.objectStore.url", "https://bucket.example/x")), []string{"spec.destination.objectStore.url", "s3://"}},
		{"prefix with slash", with(validDailyReportExport(), set("spec.destination.objectStore.prefix", "/statsig")), []string{"spec.destination.objectStore.prefix"}},
		{"credentials secret namespace", with(validDailyReportExport(), set("spec.destination.objectStore.credentialsSecretRef.namespace", "x")), []string{"spec.destination.objectStore.credentialsSecretRef", "not allowed"}},
		{"report type", with(validDailyReportExport(), set("spec.reportType", "everything")), []string{"spec.reportType", "first_exposures"}},
		{"unit_metrics_daily from Console", with(validDailyReportExport(), set("spec.reportType", "unit_metrics_daily")), []string{"unit_metrics_daily is only served by source: Legacy"}},
		{"topline from Legacy", with(validDailyReportExport(), del("spec.startDate"), set("spec.source", "Legacy"), set("spec.reportType", "topline_impact_daily")), []string{"topline_impact_daily is only served by source: Console"}},
		{"source", with(validDailyReportExport(), set("spec.source", "Warehouse")), []string{"spec.source", "Console"}},
		{"compression", with(validDailyReportExport(), set("spec.compression", "Zstd")), []string{"spec.compression", "Gzip"}},
		{"retentionDays zero", with(validDailyReportExport(), set("spec.retentionDays", int64(0))), []string{"spec.retentionDays"}},
		{"export secretRef with namespace", with(validDailyReportExport(), set("spec.secretRef.namespace", "x")), []string{"spec.secretRef", "not allowed"}},
		// Every field that names a Kubernetes object is validated as that kind of name.
		{"cluster secretRef namespace not a label", with(validClusterConfigSnapshot(), set("spec.secretRef.namespace", "Team_A")), []string{"spec.secretRef.namespace", "DNS-1123 label"}},
		{"cluster secretRef namespace with a dot", with(validClusterConfigSnapshot(), set("spec.secretRef.namespace", "team.a")), []string{"spec.secretRef.namespace", "DNS-1123 label"}},
		{"cluster secretRef namespace over 63", with(validClusterConfigSnapshot(), set("spec.secretRef.namespace", strings.Repeat("n", 64))), []string{"spec.secretRef.namespace", "63"}},
		{"cluster secretRef name not a subdomain", with(validClusterConfigSnapshot(), set("spec.secretRef.name", "Statsig_Key")), []string{"spec.secretRef.name", "DNS-1123 subdomain"}},
		{"cluster secretRef name empty", with(validClusterConfigSnapshot(), set("spec.secretRef.name", "")), []string{"spec.secretRef.name"}},
		{"gate check secretRef name with a space", with(validGateCheck(), set("spec.secretRef.name", "statsig key")), []string{"spec.secretRef.name", "DNS-1123 subdomain"}},
		{"gate check secretRef name over 253", with(validGateCheck(), set("spec.secretRef.name", strings.Repeat("s", 254))), []string{"spec.secretRef.name", "253"}},
		{"snapshot secretRef name with a capital", with(validConfigSnapshot(), set("spec.secretRef.name", "Statsig")), []string{"spec.secretRef.name", "DNS-1123 subdomain"}},
		{"export secretRef name ending in a dash", with(validDailyReportExport(), set("spec.secretRef.name", "statsig-")), []string{"spec.secretRef.name", "DNS-1123 subdomain"}},
		{"credentials secret name", with(validDailyReportExport(), set("spec.destination.objectStore.credentialsSecretRef.name", "S3 Writer")), []string{"spec.destination.objectStore.credentialsSecretRef.name", "DNS-1123 subdomain"}},
		{"rollout target name", with(validConfigSnapshot(), set("spec.rolloutTargets", []any{map[string]any{"kind": "Deployment", "name": "Checkout_API"}})), []string{"spec.rolloutTargets[0].name", "DNS-1123 subdomain"}},
		{"rollout target without name", with(validConfigSnapshot(), set("spec.rolloutTargets", []any{map[string]any{"kind": "Deployment"}})), []string{"spec.rolloutTargets[0].name", "Required"}},
		{"more than 20 rollout targets", with(validConfigSnapshot(), set("spec.rolloutTargets", rolloutTargets(21))), []string{"spec.rolloutTargets", "20"}},
		{"snapshot configMapName leading dash", with(validConfigSnapshot(), set("spec.target.configMapName", "-statsig")), []string{"spec.target.configMapName", "DNS-1123 subdomain"}},
		{"snapshot configMapName over 253", with(validConfigSnapshot(), set("spec.target.configMapName", strings.Repeat("c", 254))), []string{"spec.target.configMapName", "253"}},
		{"cluster configMapName trailing dot", with(validClusterConfigSnapshot(), set("spec.target.configMapName", "flags.")), []string{"spec.target.configMapName", "DNS-1123 subdomain"}},
		{"export configMap name", with(validDailyReportExport(), set("spec.destination", map[string]any{"configMap": map[string]any{"name": "Reports!"}})), []string{"spec.destination.configMap.name", "DNS-1123 subdomain"}},
		{"export configMap without name", with(validDailyReportExport(), set("spec.destination", map[string]any{"configMap": map[string]any{}})), []string{"spec.destination.configMap.name", "Required"}},
		{"selector operator", with(validClusterConfigSnapshot(), set("spec.target.namespaceSelector", map[string]any{"matchExpressions": []any{map[string]any{"key": "team", "operator": "Matches", "values": []any{"a"}}}})), []string{"spec.target.namespaceSelector", "operator must be In, NotIn, Exists or DoesNotExist"}},
		{"selector In without values", with(validClusterConfigSnapshot(), set("spec.target.namespaceSelector", map[string]any{"matchExpressions": []any{map[string]any{"key": "team", "operator": "In"}}})), []string{"spec.target.namespaceSelector", "values must be set for In and NotIn"}},
		{"selector Exists with values", with(validClusterConfigSnapshot(), set("spec.target.namespaceSelector", map[string]any{"matchExpressions": []any{map[string]any{"key": "team", "operator": "Exists", "values": []any{"a"}}}})), []string{"spec.target.namespaceSelector", "only for them"}},
		// Required fields and bounded strings.
		{"gate check without user", with(validGateCheck(), del("spec.user")), []string{"spec.user", "Required"}},
		{"snapshot without target", with(validConfigSnapshot(), del("spec.target")), []string{"spec.target", "Required"}},
		{"export without schedule", with(validDailyReportExport(), del("spec.schedule")), []string{"spec.schedule", "Required"}},
		{"export without url", with(validDailyReportExport(), del("spec.destination.objectStore.url")), []string{"spec.destination.objectStore.url", "Required"}},
		{"export url over 2048", with(validDailyReportExport(), set("spec.destination.objectStore.url", "s3://"+strings.Repeat("b", 2044))), []string{"spec.destination.objectStore.url", "2048"}},
		{"userID over 1024", with(validGateCheck(), set("spec.user.userID", strings.Repeat("u", 1025))), []string{"spec.user.userID", "1024"}},
		{"email over 320", with(validGateCheck(), set("spec.user.email", strings.Repeat("e", 321))), []string{"spec.user.email", "320"}},
		{"userAgent over 1024", with(validGateCheck(), set("spec.user.userAgent", strings.Repeat("a", 1025))), []string{"spec.user.userAgent", "1024"}},
		{"locale over 64", with(validConfigSnapshot(), set("spec.user.locale", strings.Repeat("l", 65))), []string{"spec.user.locale", "64"}},
		{"appVersion over 128", with(validConfigSnapshot(), set("spec.user.appVersion", strings.Repeat("1", 129))), []string{"spec.user.appVersion", "128"}},
		{"customID value over 1024", with(validGateCheck(), set("spec.user.customIDs", map[string]any{"companyID": strings.Repeat("c", 1025)})), []string{"spec.user.customIDs", "1024"}},
		{"more than 64 customIDs", with(validGateCheck(), set("spec.user.customIDs", customIDs(65))), []string{"spec.user.customIDs", "64"}},
		{"startDate over 10", with(validDailyReportExport(), set("spec.startDate", "2026-11-01T00:00:00Z")), []string{"spec.startDate"}},
		{"receiver without secretRef", with(validWebhookReceiver(), del("spec.secretRef")), []string{"spec.secretRef", "Required"}},
		{"receiver secretRef with namespace", with(validWebhookReceiver(), set("spec.secretRef.namespace", "x")), []string{"spec.secretRef", "not allowed"}},
		{"catch-up under 30s", with(validWebhookReceiver(), set("spec.catchUp.intervalSeconds", int64(10))), []string{"spec.catchUp.intervalSeconds", "30"}},
	}
	if len(cases) < 70 {
		t.Fatalf("the table must hold at least 70 invalid specs, has %d", len(cases))
	}
	t.Logf("%d invalid specs tried", len(cases))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(context.Background(), tc.obj)
			g.Expect(err).To(HaveOccurred(), "the API server accepted %v", tc.obj.Object["spec"])
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

// Builders: each returns a fresh valid object; with() applies edits to it.

func rolloutTargets(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"kind": "Deployment", "name": fmt.Sprintf("app-%d", i)}
	}
	return out
}

func customIDs(n int) map[string]any {
	out := map[string]any{}
	for i := range n {
		out[fmt.Sprintf("id%d", i)] = "x"
	}
	return out
}

func validGateCheck() *unstructured.Unstructured {
	return obj(`
apiVersion: statsig-operator.io/v1alpha1
kind: GateCheck
metadata: {generateName: gc-, namespace: validation}
spec:
  secretRef: {name: statsig}
  user: {userID: shop-prod, statsigEnvironment: {tier: production}, custom: {region: eu-west-1}}
  gates: [new_checkout, dark_mode]
  target: {configMapName: checkout-gates}
`)
}

func validConfigSnapshot() *unstructured.Unstructured {
	return obj(`
apiVersion: statsig-operator.io/v1alpha1
kind: ConfigSnapshot
metadata: {generateName: cs-, namespace: validation}
spec:
  secretRef: {name: statsig}
  user: {userID: shop-prod}
  gates: [new_checkout]
  target: {configMapName: checkout-statsig}
`)
}

func validClusterConfigSnapshot() *unstructured.Unstructured {
	return obj(`
apiVersion: statsig-operator.io/v1alpha1
kind: ClusterConfigSnapshot
metadata: {generateName: ccs-}
spec:
  secretRef: {name: statsig, namespace: statsig-operator-system}
  user: {userID: platform}
  gates: [new_checkout]
  target:
    configMapName: flags
    namespaceSelector: {matchLabels: {flags: "on"}}
`)
}

func validWebhookReceiver() *unstructured.Unstructured {
	return obj(`
apiVersion: statsig-operator.io/v1alpha1
kind: WebhookReceiver
metadata: {generateName: whr-, namespace: validation}
spec:
  secretRef: {name: statsig}
  catchUp: {intervalSeconds: 60}
`)
}

func validDailyReportExport() *unstructured.Unstructured {
	return obj(`
apiVersion: statsig-operator.io/v1alpha1
kind: DailyReportExport
metadata: {generateName: dre-, namespace: validation}
spec:
  secretRef: {name: statsig}
  reportType: first_exposures
  schedule: "0 11 * * *"
  startDate: "2026-11-01"
  destination:
    objectStore:
      url: s3://acme-analytics?region=eu-west-1
      prefix: statsig
      credentialsSecretRef: {name: s3-writer}
`)
}

func obj(doc string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		panic(err)
	}
	return u
}

type edit func(*unstructured.Unstructured)

func with(u *unstructured.Unstructured, edits ...edit) *unstructured.Unstructured {
	for _, e := range edits {
		e(u)
	}
	return u
}

func set(path string, v any) edit {
	return func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, v, strings.Split(path, ".")...); err != nil {
			panic(err)
		}
	}
}

func del(path string) edit {
	return func(u *unstructured.Unstructured) {
		unstructured.RemoveNestedField(u.Object, strings.Split(path, ".")...)
	}
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := obj(doc)
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// field reads a value from a stored object; a missing field fails the test.
func field(u *unstructured.Unstructured, path ...string) any {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	if err != nil || !found {
		panic(fmt.Sprintf("%s: field %v not found (%v)", u.GetKind(), path, err))
	}
	return v
}

// TestNamesResolve checks what kubectl sees through discovery: every kind is in the statsig
// category, and no short name of ours is also one of another resource (kubectl would pick the
// other one: "cs" is componentstatuses).
func TestNamesResolve(t *testing.T) {
	g := NewWithT(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	lists, err := dc.ServerPreferredResources()
	g.Expect(err).NotTo(HaveOccurred())
	ours := map[string][]string{}
	owner := map[string]string{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			gr := r.Name + "." + strings.SplitN(l.GroupVersion, "/", 2)[0]
			if strings.HasSuffix(l.GroupVersion, "statsig-operator.io/v1alpha1") {
				g.Expect(r.Categories).To(ContainElement("statsig"), r.Name)
				ours[r.Kind] = r.ShortNames
				continue
			}
			for _, s := range r.ShortNames {
				owner[s] = gr
			}
		}
	}
	g.Expect(ours).To(HaveLen(5))
	for kind, shorts := range ours {
		g.Expect(shorts).NotTo(BeEmpty(), kind)
		for _, s := range shorts {
			g.Expect(owner).NotTo(HaveKey(s), "short name %q of %s is also %s", s, kind, owner[s])
		}
	}
}
