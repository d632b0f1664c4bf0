package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	gomegatypes "github.com/onsi/gomega/types"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// Names of what the RBAC test creates; all prefixed so that nothing meets the other tests' objects.
const (
	rbacUser       = "rbac-e2e-statsig-operator"
	rbacSystemNS   = "rbac-e2e-system" // the operator's own namespace: leader election lease, shared Secret
	rbacPod        = "statsig-operator-7d9c-leader"
	rbacStalePod   = "statsig-operator-7d9c-former"
	rbacFlagsLabel = "rbac-e2e.statsig-operator.io/flags"
	rbacWait       = 60 * time.Second
	rbacPoll       = 200 * time.Millisecond
)

// beTrue matches a condition whose status is True.
func beTrue() gomegatypes.GomegaMatcher { return HaveField("Status", metav1.ConditionTrue) }

// TestBinaryRunsWithGeneratedRBAC runs the binary as a user holding only the permissions the
// deployment grants it: the ClusterRole of config/rbac/role.yaml (generated from the kubebuilder
// markers) and the Role of config/rbac/leader_election_role.yaml, with leader election on as in
// config/manager. Every kind is then used the way a user would; each must become Ready, and the
// operator must never have been refused anything by the API server.
func TestBinaryRunsWithGeneratedRBAC(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fake := statsigtest.New(t)

	g.Expect(k8s.Create(ctx, testenv.Namespace(rbacSystemNS, nil))).To(Succeed())
	// The operator's own Pod, named to it as the Deployment's downward API does, and a former
	// leader's Pod that still carries the webhook-leader label. envtest runs no kubelet: these are
	// objects only, which is all the labeling needs.
	for name, labels := range map[string]map[string]string{
		rbacPod:      {"app.kubernetes.io/name": "statsig-operator"},
		rbacStalePod: {"app.kubernetes.io/name": "statsig-operator", statsigv1alpha1.LabelWebhookLeader: "true"},
	} {
		create(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: rbacSystemNS, Name: name, Labels: labels},
			Spec: corev1.PodSpec{
				AutomountServiceAccountToken: new(bool),
				Containers:                   []corev1.Container{{Name: "manager", Image: "statsig-operator:e2e"}},
			},
		})
	}
	kc := restrictedKubeconfig(t, rbacUser, rbacSystemNS)
	op := startOperatorEnv(t, kc, []string{"POD_NAME=" + rbacPod, "POD_NAMESPACE=" + rbacSystemNS}, fake,
		"--leader-elect", "--leader-election-namespace="+rbacSystemNS, "--webhook-bind-address="+freeAddr(t))
	// Each check looks at what the operator logged since the previous one, so that a refusal is
	// reported once, with the kind being used when it happened.
	logged := 0
	expectNoForbidden := func(g Gomega) {
		out := op.out.String()
		var refused []string
		for _, l := range strings.Split(out[logged:], "\n") {
			if strings.Contains(strings.ToLower(l), "forbidden") {
				refused = append(refused, l)
			}
		}
		logged = len(out)
		// A missing RBAC rule shows as "... is forbidden: User ... cannot <verb> resource ...".
		g.Expect(refused).To(BeEmpty(), "the API server refused the operator")
	}

	// Leader election takes its lease in the operator's namespace, through the Role alone.
	lease := &coordinationv1.Lease{}
	g.Eventually(func() (string, error) {
		err := k8s.Get(ctx, types.NamespacedName{Namespace: rbacSystemNS, Name: "statsig-operator.statsig-operator.io"}, lease)
		if err != nil || lease.Spec.HolderIdentity == nil {
			return "", err
		}
		return *lease.Spec.HolderIdentity, nil
	}, rbacWait, rbacPoll).ShouldNot(BeEmpty())

	// The leader labels its Pod for the webhook Service and takes the label off the former leader's,
	// through the Role's pods rule alone.
	podLabel := func(name string) func() (string, error) {
		return func() (string, error) {
			pod := &corev1.Pod{}
			err := k8s.Get(ctx, types.NamespacedName{Namespace: rbacSystemNS, Name: name}, pod)
			return pod.Labels[statsigv1alpha1.LabelWebhookLeader], err
		}
	}
	g.Eventually(podLabel(rbacPod), rbacWait, rbacPoll).Should(Equal("true"))
	g.Eventually(podLabel(rbacStalePod), rbacWait, rbacPoll).Should(BeEmpty())
	expectNoForbidden(g)

	t.Run("GateCheck", func(t *testing.T) {
		g := NewWithT(t)
		fake.SetGate("new_checkout", true)
		fake.SetGate("dark_mode", false)
		ns := rbacNamespace(t, "rbac-e2e-gates", nil)
		serverSecret(t, ns, "statsig", fake)

		gc := &statsigv1alpha1.GateCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
			Spec: statsigv1alpha1.GateCheckSpec{
				SecretRef: &statsigv1alpha1.LocalSecretReference{Name: "statsig"},
				User:      statsigv1alpha1.User{UserID: "shop-prod"},
				Gates:     []statsigv1alpha1.EntityName{"new_checkout", "dark_mode"},
				Target:    &statsigv1alpha1.GateCheckTarget{ConfigMapName: "checkout-gates"},
			},
		}
		create(t, gc)

		g.Eventually(configMapData(ns, "checkout-gates"), rbacWait, rbacPoll).
			Should(Equal(map[string]string{"new_checkout": "true", "dark_mode": "false"}))
		g.Eventually(readyOf(gc), rbacWait, rbacPoll).Should(beTrue())
		g.Expect(gc.Status.Passing).To(Equal("1/2"))
		// The Ready transition is announced with an events.k8s.io Event, which the ClusterRole allows.
		g.Eventually(eventReasons(ns, "GateCheck", "checkout"), rbacWait, rbacPoll).Should(ContainElement(statsigv1alpha1.ReasonSynced))

		// Renaming the target writes the new ConfigMap and deletes the old one: delete is granted.
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(gc), gc)).To(Succeed())
		patch := client.MergeFrom(gc.DeepCopy())
		gc.Spec.Target.ConfigMapName = "checkout-gates-v2"
		g.Expect(k8s.Patch(ctx, gc, patch)).To(Succeed())
		g.Eventually(configMapData(ns, "checkout-gates-v2"), rbacWait, rbacPoll).
			Should(Equal(map[string]string{"new_checkout": "true", "dark_mode": "false"}))
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout-gates"}, &corev1.ConfigMap{}))
		}, rbacWait, rbacPoll).Should(BeTrue(), "the old ConfigMap is deleted")
		expectNoForbidden(g)
	})

	t.Run("ConfigSnapshot with a rollout target", func(t *testing.T) {
		g := NewWithT(t)
		fake.SetGate("new_checkout", true)
		fake.SetConfig("checkout_settings", map[string]any{"theme": "dark"})
		ns := rbacNamespace(t, "rbac-e2e-snapshot", nil)
		serverSecret(t, ns, "statsig", fake)
		// The Deployment exists before the first sync, so that the first sync adopts its content as
		// the baseline. No pods run in envtest; only the pod template matters.
		labels := map[string]string{"app": "checkout-api"}
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout-api"},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "checkout-api:1.0.0"}}},
				},
			},
		}
		create(t, deploy)

		cs := &statsigv1alpha1.ConfigSnapshot{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
			Spec: statsigv1alpha1.ConfigSnapshotSpec{
				SecretRef: &statsigv1alpha1.LocalSecretReference{Name: "statsig"},
				SnapshotEntities: statsigv1alpha1.SnapshotEntities{
					User:           statsigv1alpha1.User{UserID: "shop-prod"},
					Gates:          []statsigv1alpha1.EntityName{"new_checkout"},
					DynamicConfigs: []statsigv1alpha1.EntityName{"checkout_settings"},
					RolloutTargets: []statsigv1alpha1.RolloutTarget{{Kind: "Deployment", Name: "checkout-api"}},
				},
				Target: statsigv1alpha1.SnapshotTarget{ConfigMapName: "checkout-statsig", Format: statsigv1alpha1.FormatFiles},
			},
		}
		create(t, cs)

		g.Eventually(configMapData(ns, "checkout-statsig"), rbacWait, rbacPoll).Should(And(
			HaveKeyWithValue("gate.new_checkout", "true"),
			HaveKeyWithValue("config.checkout_settings.json", MatchJSON(`{"theme":"dark"}`)),
		))
		g.Eventually(readyOf(cs), rbacWait, rbacPoll).Should(beTrue())
		// The first content is the baseline: the target is found (a get on deployments) and adopts
		// it without being rolled.
		g.Eventually(func() ([]statsigv1alpha1.RolloutStatus, error) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(cs), cs)
			return cs.Status.Rollouts, err
		}, rbacWait, rbacPoll).Should(ConsistOf(And(HaveField("Hash", Not(BeEmpty())), HaveField("Message", BeEmpty()))))
		baseline := cs.Status.ContentHash
		g.Expect(baseline).NotTo(BeEmpty())

		// A value changes in Statsig, and the user asks for a sync now: the new content is written
		// and the Deployment's pod template is annotated with its hash (a patch on deployments).
		fake.SetConfig("checkout_settings", map[string]any{"theme": "light"})
		requestSync(t, cs)
		g.Eventually(configMapData(ns, "checkout-statsig"), rbacWait, rbacPoll).
			Should(HaveKeyWithValue("config.checkout_settings.json", MatchJSON(`{"theme":"light"}`)))
		g.Eventually(func() (string, error) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(deploy), deploy)
			return deploy.Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash], err
		}, rbacWait, rbacPoll).ShouldNot(BeEmpty())
		g.Eventually(func() (string, error) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(cs), cs)
			return cs.Status.ContentHash, err
		}, rbacWait, rbacPoll).Should(Equal(deploy.Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash]))
		g.Expect(cs.Status.ContentHash).NotTo(Equal(baseline))
		g.Eventually(readyOf(cs), rbacWait, rbacPoll).Should(beTrue())
		// RolledOut waits for the new pods. envtest runs no Deployment controller: report the
		// rollout complete as it would, which the operator sees through its watch on deployments.
		g.Expect(meta.FindStatusCondition(cs.Status.Conditions, statsigv1alpha1.ConditionRolledOut)).
			To(HaveField("Reason", statsigv1alpha1.ReasonRolloutInProgress), "%+v", cs.Status.Conditions)
		g.Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(deploy), deploy); err != nil {
				return err
			}
			deploy.Status = appsv1.DeploymentStatus{ObservedGeneration: deploy.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
			return k8s.Status().Update(ctx, deploy)
		}, rbacWait, rbacPoll).Should(Succeed())
		g.Eventually(func() (bool, error) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(cs), cs)
			return meta.IsStatusConditionTrue(cs.Status.Conditions, statsigv1alpha1.ConditionRolledOut), err
		}, rbacWait, rbacPoll).Should(BeTrue(), "RolledOut once the Deployment's new pods are available")
		expectNoForbidden(g)
	})

	t.Run("ClusterConfigSnapshot", func(t *testing.T) {
		g := NewWithT(t)
		fake.SetGate("platform_banner", true)
		// The Secret of a cluster-scoped snapshot lives in a namespace of its own choosing: here the
		// operator's.
		serverSecret(t, rbacSystemNS, "statsig-platform", fake)
		selected := rbacNamespace(t, "rbac-e2e-flags-on", map[string]string{rbacFlagsLabel: "enabled"})
		other := rbacNamespace(t, "rbac-e2e-flags-off", nil)

		ccs := &statsigv1alpha1.ClusterConfigSnapshot{
			ObjectMeta: metav1.ObjectMeta{Name: "rbac-e2e-platform-flags"},
			Spec: statsigv1alpha1.ClusterConfigSnapshotSpec{
				SecretRef: &statsigv1alpha1.SecretReference{Name: "statsig-platform", Namespace: rbacSystemNS},
				SnapshotEntities: statsigv1alpha1.SnapshotEntities{
					User:  statsigv1alpha1.User{UserID: "platform"},
					Gates: []statsigv1alpha1.EntityName{"platform_banner"},
				},
				Target: statsigv1alpha1.ClusterSnapshotTarget{
					SnapshotTarget:    statsigv1alpha1.SnapshotTarget{ConfigMapName: "platform-flags", Format: statsigv1alpha1.FormatEnv},
					NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{rbacFlagsLabel: "enabled"}},
				},
			},
		}
		create(t, ccs)

		g.Eventually(configMapData(selected, "platform-flags"), rbacWait, rbacPoll).
			Should(HaveKeyWithValue("STATSIG_GATE_PLATFORM_BANNER", "true"))
		g.Eventually(readyOf(ccs), rbacWait, rbacPoll).Should(beTrue())
		g.Expect(ccs.Status.Namespaces).To(BeEquivalentTo(1))
		g.Expect(ccs.Status.FailedNamespaces).To(BeEmpty())
		// Only the selected namespace gets it (the fan-out is done before status says so).
		err := k8s.Get(ctx, types.NamespacedName{Namespace: other, Name: "platform-flags"}, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "ConfigMap in an unselected namespace: %v", err)
		expectNoForbidden(g)
	})

	t.Run("DailyReportExport to a ConfigMap", func(t *testing.T) {
		g := NewWithT(t)
		ns := rbacNamespace(t, "rbac-e2e-analytics", nil)
		consoleSecret(t, ns, "statsig", fake)
		// On creation the export runs at once for the newest complete date, yesterday in Pacific
		// time by the real clock. Serve the day after too, in case Pacific midnight passes between
		// here and the operator's run.
		newest := schedule.NewestComplete(time.Now())
		dates := []string{newest, schedule.AddDays(newest, 1)}
		for _, d := range dates {
			fake.SetReport("first_exposures", d, statsigtest.GeneratedReport(d, 3, false))
		}

		dre := &statsigv1alpha1.DailyReportExport{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "exposures"},
			Spec: statsigv1alpha1.DailyReportExportSpec{
				SecretRef:   &statsigv1alpha1.LocalSecretReference{Name: "statsig"},
				ReportType:  "first_exposures",
				Schedule:    "0 11 * * *",
				Destination: statsigv1alpha1.ExportDestination{ConfigMap: &statsigv1alpha1.ConfigMapDestination{Name: "exposures"}},
			},
		}
		create(t, dre)

		g.Eventually(func() (string, error) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(dre), dre)
			return dre.Status.LastExportedDate, err
		}, rbacWait, rbacPoll).Should(BeElementOf(dates))
		exported := dre.Status.LastExportedDate
		g.Expect(dre.Status.Dates).To(ContainElement(And(
			HaveField("Date", exported),
			HaveField("Phase", statsigv1alpha1.PhaseExported),
			HaveField("Rows", BeEquivalentTo(3)),
		)))
		g.Eventually(readyOf(dre), rbacWait, rbacPoll).Should(beTrue())

		// The file is stored whole as binaryData, gzip-compressed (the default).
		cm := &corev1.ConfigMap{}
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "exposures"}, cm)).To(Succeed())
		g.Expect(cm.BinaryData).To(HaveKeyWithValue("first_exposures-"+exported+".csv.gz", Not(BeEmpty())))
		expectNoForbidden(g)
	})

	// Last, over what was logged after the checks above (a subtest that failed early skipped its own).
	expectNoForbidden(g)
}

// restrictedKubeconfig creates user with no groups, gives it exactly the rules of config/rbac (the
// ClusterRole through a ClusterRoleBinding, the leader election Role through a RoleBinding in
// leaderNS), and returns the path of a kubeconfig file for it. The RBAC files are read at test time,
// so that the test follows whatever the markers generate.
func restrictedKubeconfig(t *testing.T, user, leaderNS string) string {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}

	cr := &rbacv1.ClusterRole{}
	readRBAC(t, "role.yaml", "ClusterRole", cr)
	g.Expect(cr.Rules).NotTo(BeEmpty())
	cr.ObjectMeta = metav1.ObjectMeta{Name: user}
	create(t, cr)
	create(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
		Subjects:   subjects,
	})

	role := &rbacv1.Role{}
	readRBAC(t, "leader_election_role.yaml", "Role", role)
	g.Expect(role.Rules).NotTo(BeEmpty())
	role.ObjectMeta = metav1.ObjectMeta{Namespace: leaderNS, Name: user + "-leader-election"}
	create(t, role)
	create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: leaderNS, Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   subjects,
	})

	u, err := env.AddUser(envtest.User{Name: user, Groups: nil}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kc, err := u.KubeConfig()
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(os.WriteFile(path, kc, 0o600)).To(Succeed())

	// The bindings are in force before the operator starts: the user may list ConfigMaps but not
	// Pods, which no rule names.
	uc, err := client.New(u.Config(), client.Options{Scheme: testenv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() error { return uc.List(ctx, &corev1.ConfigMapList{}) }, rbacWait, rbacPoll).Should(Succeed())
	g.Expect(apierrors.IsForbidden(uc.List(ctx, &corev1.PodList{}))).To(BeTrue())
	return path
}

// readRBAC decodes the object of kind from config/rbac/name into obj.
func readRBAC(t *testing.T, name, kind string, obj any) {
	t.Helper()
	for _, doc := range repoDocs(t, "config", "rbac", name) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if head.Kind == kind && head.APIVersion == rbacv1.SchemeGroupVersion.String() {
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return
		}
	}
	t.Fatalf("no %s in config/rbac/%s", kind, name)
}

// create creates obj as the admin and deletes it when the test ends.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, client.ObjectKeyFromObject(obj), err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
}

// rbacNamespace creates a namespace (envtest never finishes deleting one, so it is left behind).
func rbacNamespace(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	if err := k8s.Create(context.Background(), testenv.Namespace(name, labels)); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

func serverSecret(t *testing.T, ns, name string, fake *statsigtest.Server) {
	t.Helper()
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{statsigv1alpha1.SecretKeyServer: fake.ServerKey},
	})
}

func consoleSecret(t *testing.T, ns, name string, fake *statsigtest.Server) {
	t.Helper()
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{statsigv1alpha1.SecretKeyConsole: fake.ConsoleKey},
	})
}

// requestSync sets the requested-at annotation to a new value, as `kubectl annotate` would.
func requestSync(t *testing.T, obj client.Object) {
	t.Helper()
	patch := []byte(`{"metadata":{"annotations":{"` + statsigv1alpha1.AnnotationRequestedAt + `":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}}}`)
	if err := k8s.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("annotate %s: %v", client.ObjectKeyFromObject(obj), err)
	}
}

// readyOf polls obj, one of the operator's kinds, re-reading it into itself, for its Ready
// condition (the zero condition while it has none), so that a failure shows the reason and message.
func readyOf(obj client.Object) func() (metav1.Condition, error) {
	return func() (metav1.Condition, error) {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return metav1.Condition{}, err
		}
		var conds []metav1.Condition
		switch o := obj.(type) {
		case *statsigv1alpha1.GateCheck:
			conds = o.Status.Conditions
		case *statsigv1alpha1.ConfigSnapshot:
			conds = o.Status.Conditions
		case *statsigv1alpha1.ClusterConfigSnapshot:
			conds = o.Status.Conditions
		case *statsigv1alpha1.DailyReportExport:
			conds = o.Status.Conditions
		}
		if c := meta.FindStatusCondition(conds, statsigv1alpha1.ConditionReady); c != nil {
			return *c, nil
		}
		return metav1.Condition{}, nil
	}
}

// configMapData polls a ConfigMap's data.
func configMapData(ns, name string) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		cm := &corev1.ConfigMap{}
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, cm)
		return cm.Data, err
	}
}

// eventReasons polls the reasons of the events.k8s.io Events about one object.
func eventReasons(ns, kind, name string) func() ([]string, error) {
	return func() ([]string, error) {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name {
				out = append(out, e.Reason)
			}
		}
		return out, nil
	}
}
