package rollout

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

func deployment(name string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: map[string]string{"keep": "me"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
}

func setup(t *testing.T, objs ...client.Object) (*Roller, client.Client, *clocktesting.FakeClock) {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	clk := clocktesting.NewFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 500_000_000, time.UTC))
	return &Roller{Client: c, Reader: c, Clock: clk}, c, clk
}

func annotation(g Gomega, c client.Client, name string) string {
	d := &appsv1.Deployment{}
	g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: name}, d)).To(Succeed())
	return d.Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash]
}

// roundTrip stores status the way the API server does: times to the second.
func roundTrip(in []statsigv1alpha1.RolloutStatus) []statsigv1alpha1.RolloutStatus {
	out := make([]statsigv1alpha1.RolloutStatus, len(in))
	for i, e := range in {
		out[i] = e
		if e.LastRolloutTime != nil {
			out[i].LastRolloutTime = &metav1.Time{Time: e.LastRolloutTime.Truncate(time.Second)}
		}
	}
	return out
}

func TestRolloutCoalescesChangesWithinTheInterval(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, c, clk := setup(t, deployment("api"))
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}

	// First content: the baseline, no rollout.
	out, err := r.Reconcile(ctx, "h1", targets, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(annotation(g, c, "api")).To(BeEmpty())
	g.Expect(out.Condition(1).Status).To(Equal(metav1.ConditionTrue))
	status := roundTrip(out.Status)

	// Unchanged: nothing.
	out, err = r.Reconcile(ctx, "h1", targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())

	// A change rolls at once (no rollout before).
	out, err = r.Reconcile(ctx, "h2", targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(Equal(targets))
	g.Expect(annotation(g, c, "api")).To(Equal("h2"))
	status = roundTrip(out.Status)

	// Two more changes within the minute wait, coalesced.
	clk.Step(20 * time.Second)
	out, err = r.Reconcile(ctx, "h3", targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(out.Pending).To(Equal(targets))
	g.Expect(out.Wait).To(BeNumerically(">", 40*time.Second))
	g.Expect(out.Wait).To(BeNumerically("<=", 41*time.Second))
	cond := out.Condition(1)
	g.Expect(cond.Reason).To(Equal(statsigv1alpha1.ReasonRolloutPending))
	status = roundTrip(out.Status)
	clk.Step(30 * time.Second)
	out, err = r.Reconcile(ctx, "h4", targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(annotation(g, c, "api")).To(Equal("h2"))
	status = roundTrip(out.Status)

	// A minute after the last rollout, the latest content rolls, once.
	clk.Step(out.Wait)
	out, err = r.Reconcile(ctx, "h4", targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(Equal(targets))
	g.Expect(annotation(g, c, "api")).To(Equal("h4"))
	g.Expect(out.Status[0].LastRolloutTime.Time).To(Equal(clk.Now()))
	status = roundTrip(out.Status)
	out, err = r.Reconcile(ctx, "h4", targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
}

func TestRolloutIntervalIsNeverShortenedBySecondTruncation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, _, clk := setup(t, deployment("api"))
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}
	out, _ := r.Reconcile(ctx, "h1", targets, nil)
	out, _ = r.Reconcile(ctx, "h2", targets, roundTrip(out.Status))
	rolledAt := clk.Now() // 12:00:00.5; status says 12:00:00
	status := roundTrip(out.Status)
	clk.SetTime(rolledAt.Add(time.Minute - time.Millisecond))
	out, err := r.Reconcile(ctx, "h3", targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty(), "rolled again less than a minute after the last rollout")
}

func TestRolloutPatchTouchesOnlyTheAnnotation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, c, _ := setup(t, deployment("api"))
	before := &appsv1.Deployment{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "api"}, before)).To(Succeed())
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}
	out, _ := r.Reconcile(ctx, "h1", targets, nil)
	_, err := r.Reconcile(ctx, "h2", targets, roundTrip(out.Status))
	g.Expect(err).NotTo(HaveOccurred())
	after := &appsv1.Deployment{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "api"}, after)).To(Succeed())
	g.Expect(after.Spec.Template.Annotations).To(Equal(map[string]string{"keep": "me", statsigv1alpha1.AnnotationSnapshotHash: "h2"}))
	delete(after.Spec.Template.Annotations, statsigv1alpha1.AnnotationSnapshotHash)
	g.Expect(after.Spec).To(Equal(before.Spec))
	g.Expect(after.Labels).To(Equal(before.Labels))
}

func TestRolloutReportsMissingTargets(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, c, _ := setup(t, deployment("api"))
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}, {Kind: "StatefulSet", Namespace: "shop", Name: "db"}}
	out, err := r.Reconcile(ctx, "h1", targets, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Missing).To(Equal(targets[1:]))
	g.Expect(out.NewlyMissing).To(Equal(targets[1:]))
	cond := out.Condition(1)
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Reason).To(Equal(statsigv1alpha1.ReasonTargetNotFound))
	g.Expect(cond.Message).To(ContainSubstring("StatefulSet shop/db"))

	// Still missing: reported, but not as new (one Event, not one per pass).
	out, err = r.Reconcile(ctx, "h2", targets, roundTrip(out.Status))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Missing).To(Equal(targets[1:]))
	g.Expect(out.NewlyMissing).To(BeEmpty())
	g.Expect(out.Rolled).To(Equal(targets[:1]), "the target that exists still rolls")

	// Created later: it starts from the content of that moment, without a rollout.
	ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}}
	g.Expect(c.Create(ctx, ss)).To(Succeed())
	out, err = r.Reconcile(ctx, "h2", targets, roundTrip(out.Status))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Missing).To(BeEmpty())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(out.Condition(1).Status).To(Equal(metav1.ConditionTrue))
}
