package rollout

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// Kinds are the workload kinds a snapshot can roll, by kind name, as objects for watches.
func Kinds() map[string]client.Object {
	return map[string]client.Object{"Deployment": &appsv1.Deployment{}, "StatefulSet": &appsv1.StatefulSet{}, "DaemonSet": &appsv1.DaemonSet{}}
}

// workload is a Deployment, StatefulSet or DaemonSet.
type workload struct {
	client.Object
}

func newWorkload(kind string) (workload, error) {
	switch kind {
	case "Deployment":
		return workload{&appsv1.Deployment{}}, nil
	case "StatefulSet":
		return workload{&appsv1.StatefulSet{}}, nil
	case "DaemonSet":
		return workload{&appsv1.DaemonSet{}}, nil
	}
	return workload{}, fmt.Errorf("rollout target kind %q is not Deployment, StatefulSet or DaemonSet", kind)
}

func (w workload) kind() string {
	switch w.Object.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	}
	return "DaemonSet"
}

func (w workload) annotation() string {
	var a map[string]string
	switch o := w.Object.(type) {
	case *appsv1.Deployment:
		a = o.Spec.Template.Annotations
	case *appsv1.StatefulSet:
		a = o.Spec.Template.Annotations
	case *appsv1.DaemonSet:
		a = o.Spec.Template.Annotations
	}
	return a[statsigv1alpha1.AnnotationSnapshotHash]
}

// hasReadyPods reports whether any of the workload's pods is ready.
func (w workload) hasReadyPods() bool {
	switch o := w.Object.(type) {
	case *appsv1.Deployment:
		return o.Status.ReadyReplicas > 0
	case *appsv1.StatefulSet:
		return o.Status.ReadyReplicas > 0
	case *appsv1.DaemonSet:
		return o.Status.NumberReady > 0
	}
	return false
}

// rolling says what the workload's rollout still waits for, "" when every pod runs its current
// template; judged as `kubectl rollout status` judges it.
func (w workload) rolling() string {
	switch o := w.Object.(type) {
	case *appsv1.Deployment:
		return deploymentRolling(o)
	case *appsv1.StatefulSet:
		return statefulSetRolling(o)
	case *appsv1.DaemonSet:
		return daemonSetRolling(o)
	}
	return ""
}

func deploymentRolling(d *appsv1.Deployment) string {
	s := d.Status
	if d.Generation > s.ObservedGeneration {
		return "the Deployment controller has not seen the new template yet"
	}
	want := replicas(d.Spec.Replicas)
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "progress deadline exceeded: " + c.Message
		}
	}
	switch {
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)
	}
	return ""
}

func statefulSetRolling(s *appsv1.StatefulSet) string {
	st := s.Status
	if s.Generation > st.ObservedGeneration {
		return "the StatefulSet controller has not seen the new template yet"
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return "" // its pods change only when deleted: nothing to wait for
	}
	want := replicas(s.Spec.Replicas)
	if st.ReadyReplicas < want {
		return fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, want)
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if st.UpdatedReplicas < want-*ru.Partition {
			return fmt.Sprintf("%d of %d replicas above the partition updated", st.UpdatedReplicas, want-*ru.Partition)
		}
		return ""
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	}
	return ""
}

func daemonSetRolling(d *appsv1.DaemonSet) string {
	s := d.Status
	if d.Generation > s.ObservedGeneration {
		return "the DaemonSet controller has not seen the new template yet"
	}
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return ""
	}
	if s.UpdatedNumberScheduled < s.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	}
	if s.NumberAvailable < s.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d updated pods available", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	return ""
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
