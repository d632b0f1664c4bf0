package leaderlabel_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/leaderlabel"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

var (
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	env, c, err := testenv.Start()
	if err != nil {
		panic(err)
	}
	cfg = c
	k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

const (
	wait = 30 * time.Second
	poll = 100 * time.Millisecond
)

// runs numbers the namespaces of each run, so that -count=N reuses the API server cleanly.
var runs atomic.Int32

// operatorPod is a Pod object as the Deployment would create it; envtest has no kubelet, so it
// never runs, which the labeler does not need.
func operatorPod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: new(bool),
			Containers:                   []corev1.Container{{Name: "manager", Image: "statsig-operator:test"}},
		},
	}
}

// labelsOf returns a Pod's labels, for Eventually.
func labelsOf(namespace, name string) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		pod := &corev1.Pod{}
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, pod)
		return pod.Labels, err
	}
}

// startManager runs a manager with leader election on, as cmd/main.go does (release on cancel),
// holding only a Labeler for the Pod named pod. It returns a function that stops it and waits
// until it has returned.
func startManager(t *testing.T, ns, pod string) (stop func()) {
	t.Helper()
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager for %s:\n%s", pod, logs.String())
		}
	})
	lease, renew, retry := 4*time.Second, 3*time.Second, 200*time.Millisecond
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        testenv.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              "leaderlabel-test",
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
		RenewDeadline:                 &renew,
		RetryPeriod:                   &retry,
		Logger:                        zap.New(zap.UseDevMode(true), zap.WriteTo(logs)),
	})
	if err != nil {
		t.Fatal(err)
	}
	l := &leaderlabel.Labeler{
		Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Namespace: ns, Name: pod,
		Log: mgr.GetLogger().WithName("leaderlabel"),
	}
	if err := mgr.Add(l); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager for %s: %v", pod, err)
			}
		case <-time.After(wait):
			t.Errorf("manager for %s did not stop within %s", pod, wait)
		}
	}
	t.Cleanup(stop)
	return stop
}

// logBuffer keeps the managers' logs, printed when the test fails; a manager may still log while
// stopping after the test has returned, which t.Log would not allow.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLabelFollowsLeadership: a leader labels its own Pod and strips the label from a stale Pod
// (an old leader's restarted container); on shutdown it removes its own label, and the label moves
// with the lease to the next leader. Other labels and Pods in other namespaces are never touched.
func TestLabelFollowsLeadership(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	run := runs.Add(1)
	ns, elsewhere := fmt.Sprintf("operator-system-%d", run), fmt.Sprintf("elsewhere-%d", run)
	g.Expect(k8s.Create(ctx, testenv.Namespace(ns, nil))).To(Succeed())
	g.Expect(k8s.Create(ctx, testenv.Namespace(elsewhere, nil))).To(Succeed())

	app := map[string]string{"app.kubernetes.io/name": "statsig-operator"}
	withLeader := map[string]string{"app.kubernetes.io/name": "statsig-operator", statsigv1alpha1.LabelWebhookLeader: "true"}
	// operator-a led before and crashed; its restarted container still carries the label.
	g.Expect(k8s.Create(ctx, operatorPod(ns, "operator-a", withLeader))).To(Succeed())
	g.Expect(k8s.Create(ctx, operatorPod(ns, "operator-b", app))).To(Succeed())
	// A Pod of another namespace carrying the label is none of this operator's business.
	other := operatorPod(elsewhere, "operator-x", withLeader)
	g.Expect(k8s.Create(ctx, other)).To(Succeed())

	stopB := startManager(t, ns, "operator-b")
	g.Eventually(labelsOf(ns, "operator-b"), wait, poll).Should(Equal(withLeader))
	g.Eventually(labelsOf(ns, "operator-a"), wait, poll).Should(Equal(app), "the stale leader label is removed, the app label kept")

	// operator-a comes back and waits for the lease; operator-b keeps leading until it stops.
	startManager(t, ns, "operator-a")
	stopB()
	g.Expect(labelsOf(ns, "operator-b")()).To(Equal(app), "a stopped leader has removed its own label")
	g.Eventually(labelsOf(ns, "operator-a"), wait, poll).Should(Equal(withLeader), "the new leader labels its Pod")
	g.Expect(labelsOf(ns, "operator-b")()).To(Equal(app))
	g.Expect(labelsOf(elsewhere, "operator-x")()).To(Equal(withLeader))
}
