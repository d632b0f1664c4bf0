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

// created is when the test's workloads were created, an hour before the fake clock's start.
var created = metav1.NewTime(time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC))

// deployment is a Deployment whose rollout has completed.
func deployment(name string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: created},
		Status:     appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3},
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
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(objs...).Build()
	clk := clocktesting.NewFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 500_000_000, time.UTC))
	return &Roller{Client: c, Reader: c, Clock: clk}, c, clk
}

// first is a snapshot's first content; changed content that replaced another at clk's time.
func first(hash string) Content { return Content{Hash: hash} }

func changed(hash string, clk *clocktesting.FakeClock) Content {
	t := clk.Now()
	return Content{Hash: hash, ChangedAt: &t}
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
	out, err := r.Reconcile(ctx, first("h1"), targets, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(annotation(g, c, "api")).To(BeEmpty())
	g.Expect(out.Condition(1).Status).To(Equal(metav1.ConditionTrue))
	status := roundTrip(out.Status)

	// Unchanged: nothing.
	out, err = r.Reconcile(ctx, first("h1"), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())

	// A change rolls at once (no rollout before).
	out, err = r.Reconcile(ctx, changed("h2", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(Equal(targets))
	g.Expect(annotation(g, c, "api")).To(Equal("h2"))
	status = roundTrip(out.Status)

	// Two more changes within the minute wait, coalesced.
	clk.Step(20 * time.Second)
	out, err = r.Reconcile(ctx, changed("h3", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(out.Pending).To(Equal(targets))
	g.Expect(out.Wait).To(BeNumerically(">", 40*time.Second))
	g.Expect(out.Wait).To(BeNumerically("<=", 41*time.Second))
	cond := out.Condition(1)
	g.Expect(cond.Reason).To(Equal(statsigv1alpha1.ReasonRolloutPending))
	status = roundTrip(out.Status)
	clk.Step(30 * time.Second)
	out, err = r.Reconcile(ctx, changed("h4", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(annotation(g, c, "api")).To(Equal("h2"))
	status = roundTrip(out.Status)

	// A minute after the last rollout, the latest content rolls, once.
	clk.Step(out.Wait)
	out, err = r.Reconcile(ctx, changed("h4", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(Equal(targets))
	g.Expect(annotation(g, c, "api")).To(Equal("h4"))
	g.Expect(out.Status[0].LastRolloutTime.Time).To(Equal(clk.Now()))
	status = roundTrip(out.Status)
	out, err = r.Reconcile(ctx, changed("h4", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty())
}

func TestRolloutIntervalIsNeverShortenedBySecondTruncation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, _, clk := setup(t, deployment("api"))
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}
	out, _ := r.Reconcile(ctx, first("h1"), targets, nil)
	out, _ = r.Reconcile(ctx, changed("h2", clk), targets, roundTrip(out.Status))
	rolledAt := clk.Now() // 12:00:00.5; status says 12:00:00
	status := roundTrip(out.Status)
	clk.SetTime(rolledAt.Add(time.Minute - time.Millisecond))
	out, err := r.Reconcile(ctx, changed("h3", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(BeEmpty(), "rolled again less than a minute after the last rollout")
}

func TestRolloutPatchTouchesOnlyTheAnnotation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, c, clk := setup(t, deployment("api"))
	before := &appsv1.Deployment{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "api"}, before)).To(Succeed())
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}
	out, _ := r.Reconcile(ctx, first("h1"), targets, nil)
	_, err := r.Reconcile(ctx, changed("h2", clk), targets, roundTrip(out.Status))
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
	r, c, clk := setup(t, deployment("api"))
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}, {Kind: "StatefulSet", Namespace: "shop", Name: "db"}}
	out, err := r.Reconcile(ctx, first("h1"), targets, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Missing).To(Equal(targets[1:]))
	g.Expect(out.NewlyMissing).To(Equal(targets[1:]))
	cond := out.Condition(1)
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Reason).To(Equal(statsigv1alpha1.ReasonTargetNotFound))
	g.Expect(cond.Message).To(ContainSubstring("StatefulSet shop/db"))

	// Still missing: reported, but not as new (one Event, not one per pass).
	h2 := changed("h2", clk)
	out, err = r.Reconcile(ctx, h2, targets, roundTrip(out.Status))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Missing).To(Equal(targets[1:]))
	g.Expect(out.NewlyMissing).To(BeEmpty())
	g.Expect(out.Rolled).To(Equal(targets[:1]), "the target that exists still rolls")

	// Created after the content was written: its pods read it, so it is not rolled.
	ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", CreationTimestamp: metav1.NewTime(clk.Now().Add(time.Second))},
		Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
	g.Expect(c.Create(ctx, ss)).To(Succeed())
	out, err = r.Reconcile(ctx, h2, targets, roundTrip(out.Status))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Missing).To(BeEmpty())
	g.Expect(out.Rolled).To(BeEmpty())
	g.Expect(out.Status[1].Hash).To(Equal("h2"))
	g.Expect(out.Condition(1).Status).To(Equal(metav1.ConditionTrue))
}

// Whether a target runs the current content is decided from the target itself: its annotation,
// and its creation against the time the content was written.
func TestRolloutDecidesFromTheTarget(t *testing.T) {
	written := time.Date(2026, 5, 1, 12, 0, 0, 300_000_000, time.UTC)
	for name, tc := range map[string]struct {
		created    time.Time
		annotation string
		ready      bool
		decided    bool
		content    Content
		rolls      bool
	}{
		"first content, target older":            {ready: true, created: written.Add(-time.Hour), content: Content{Hash: "h1"}},
		"changed content, target older":          {ready: true, created: written.Add(-time.Hour), content: Content{Hash: "h2", ChangedAt: &written}, rolls: true},
		"changed content, target in that second": {ready: true, created: written.Truncate(time.Second), content: Content{Hash: "h2", ChangedAt: &written}, rolls: true},
		"changed content, target a second later": {ready: true, created: written.Truncate(time.Second).Add(time.Second), content: Content{Hash: "h2", ChangedAt: &written}},
		"annotated with the current hash":        {ready: true, created: written.Add(-time.Hour), annotation: "h2", content: Content{Hash: "h2", ChangedAt: &written}},
		"annotated with an earlier hash":         {ready: true, created: written.Add(time.Hour), annotation: "h1", content: Content{Hash: "h2", ChangedAt: &written}, rolls: true},
		"first content, annotated earlier":       {ready: true, created: written.Add(-time.Hour), annotation: "h0", content: Content{Hash: "h1"}, rolls: true},
		// The first content: a target whose pods started without it (an optional reference) rolls
		// once; one whose pods wait for the ConfigMap, or that came later, does not.
		"first content, target older with ready pods":      {created: written.Add(-time.Hour), ready: true, content: Content{Hash: "h1", WrittenAt: &written}, rolls: true},
		"first content, target in that second, ready pods": {created: written.Truncate(time.Second), ready: true, content: Content{Hash: "h1", WrittenAt: &written}, rolls: true},
		"first content, target older, pods not ready":      {created: written.Add(-time.Hour), content: Content{Hash: "h1", WrittenAt: &written}},
		"first content, target a second later, ready":      {created: written.Truncate(time.Second).Add(time.Second), ready: true, content: Content{Hash: "h1", WrittenAt: &written}},
		"first content, already found on it":               {created: written.Add(-time.Hour), ready: true, decided: true, content: Content{Hash: "h1", WrittenAt: &written}},
		"first content from an older status, ready pods":   {created: written.Add(-time.Hour), ready: true, content: Content{Hash: "h1"}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			d := deployment("api")
			d.CreationTimestamp = metav1.NewTime(tc.created)
			if tc.annotation != "" {
				d.Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash] = tc.annotation
			}
			if !tc.ready {
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
			}
			r, c, _ := setup(t, d)
			targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}
			var prev []statsigv1alpha1.RolloutStatus
			if tc.decided {
				prev = []statsigv1alpha1.RolloutStatus{{Kind: "Deployment", Namespace: "shop", Name: "api", Hash: tc.content.Hash}}
			}
			out, err := r.Reconcile(context.Background(), tc.content, targets, prev)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.rolls {
				g.Expect(out.Rolled).To(Equal(targets))
				g.Expect(annotation(g, c, "api")).To(Equal(tc.content.Hash))
			} else {
				g.Expect(out.Rolled).To(BeEmpty())
				g.Expect(annotation(g, c, "api")).To(Equal(tc.annotation))
			}
			g.Expect(out.Status[0].Hash).To(Equal(tc.content.Hash))
		})
	}
}

func TestRolloutPendingConditionSaysWhen(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, _, clk := setup(t, deployment("api"))
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}
	out, _ := r.Reconcile(ctx, changed("h2", clk), targets, nil) // 12:00:00.5, recorded as 12:00:00
	g.Expect(out.Rolled).To(Equal(targets))
	clk.Step(10 * time.Second)
	out, err := r.Reconcile(ctx, changed("h3", clk), targets, roundTrip(out.Status))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.At).To(Equal(time.Date(2026, 5, 1, 12, 1, 1, 0, time.UTC)))
	c := out.Condition(3)
	g.Expect(c.Reason).To(Equal(statsigv1alpha1.ReasonRolloutPending))
	g.Expect(c.Message).To(Equal("Content changed within 1m0s of the last rollout; rolling at 2026-05-01T12:01:01Z: Deployment shop/api"))
}

// RolledOut turns True only once the new pods are available, judged as kubectl rollout status
// judges each kind.
func TestRolloutWaitsForNewPods(t *testing.T) {
	three := ptr.To[int32](3)
	for name, tc := range map[string]struct {
		obj     client.Object
		waiting string
	}{
		"deployment not observed": {obj: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: three},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}}, waiting: "has not seen"},
		"deployment updating": {obj: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: three},
			Status: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3}}, waiting: "1 of 3 replicas updated"},
		"deployment old pods left": {obj: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: three},
			Status: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}}, waiting: "1 old replicas"},
		"deployment not available": {obj: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: three},
			Status: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}}, waiting: "2 of 3 updated replicas available"},
		"deployment done": {obj: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: three},
			Status: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}}},
		"statefulset revision": {obj: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: three},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "a", UpdateRevision: "b"}}, waiting: "1 of 3 replicas updated"},
		"statefulset done": {obj: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: three},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "b", UpdateRevision: "b"}}},
		"daemonset updating": {obj: &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 1}}, waiting: "1 of 2 pods updated"},
		"daemonset done":     {obj: &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2}}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := workload{tc.obj}.rolling()
			if tc.waiting == "" {
				g.Expect(got).To(BeEmpty())
			} else {
				g.Expect(got).To(ContainSubstring(tc.waiting))
			}
		})
	}
}

func TestRolloutConditionInProgress(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	d := deployment("api")
	d.Status = appsv1.DeploymentStatus{}
	r, _, _ := setup(t, d)
	out, err := r.Reconcile(ctx, first("h1"), []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	c := out.Condition(1)
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Reason).To(Equal(statsigv1alpha1.ReasonRolloutInProgress))
	g.Expect(c.Message).To(Equal("Waiting for pods of the current content: Deployment shop/api (0 of 3 replicas updated)"))
}

// A target waiting for the limit, and one rolled, are reported with the content their pods carried
// and whether those pods were all available: a rollout a later content replaces may complete first.
func TestRolloutReportsEarlierContentOfWaitingAndRolledTargets(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, c, clk := setup(t, deployment("api"))
	targets := []Target{{Kind: "Deployment", Namespace: "shop", Name: "api"}}
	out, err := r.Reconcile(ctx, first("h1"), targets, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Earlier).To(BeEmpty(), "on the current content")
	out, err = r.Reconcile(ctx, changed("h2", clk), targets, roundTrip(out.Status))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(Equal(targets))
	g.Expect(out.Earlier).To(ConsistOf(Progress{Target: targets[0], Hash: "h1"}), "h1's pods were available before the patch")
	status := roundTrip(out.Status)

	setStatus := func(updated int32) {
		d := &appsv1.Deployment{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "api"}, d)).To(Succeed())
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 3, UpdatedReplicas: updated, ReadyReplicas: 3, AvailableReplicas: 3}
		g.Expect(c.Status().Update(ctx, d)).To(Succeed())
	}
	setStatus(1)
	clk.Step(10 * time.Second)
	out, err = r.Reconcile(ctx, changed("h3", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Pending).To(Equal(targets))
	g.Expect(out.Earlier).To(ConsistOf(And(HaveField("Hash", "h2"), HaveField("Waiting", "1 of 3 replicas updated"))))
	status = roundTrip(out.Status)

	setStatus(3)
	out, err = r.Reconcile(ctx, changed("h3", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Earlier).To(ConsistOf(Progress{Target: targets[0], Hash: "h2"}), "h2's pods are available while h3 waits")
	status = roundTrip(out.Status)

	clk.Step(time.Minute)
	out, err = r.Reconcile(ctx, changed("h3", clk), targets, status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Rolled).To(Equal(targets))
	g.Expect(out.Earlier).To(ConsistOf(Progress{Target: targets[0], Hash: "h2"}), "as found before the patch")
}
