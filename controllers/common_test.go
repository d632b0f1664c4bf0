package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// TestOwnedByPassesOnlyTheKindsConfigMaps: each kind sees the events of ConfigMaps it controls, an
// update that takes the ConfigMap from it included (so that it repairs it), and nothing of another
// kind's, of an owner in another API group, or of an owner that is not the controller.
func TestOwnedByPassesOnlyTheKindsConfigMaps(t *testing.T) {
	g := NewWithT(t)
	cm := func(apiVersion, kind string, controller bool) *corev1.ConfigMap {
		c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "gates"}}
		if kind != "" {
			c.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: "checkout", UID: "uid-1", Controller: ptr.To(controller)}}
		}
		return c
	}
	ours := statsigv1alpha1.GroupVersion.String()
	p := ownedBy(gateCheckKind)

	g.Expect(p.Create(event.CreateEvent{Object: cm(ours, gateCheckKind, true)})).To(BeTrue())
	g.Expect(p.Delete(event.DeleteEvent{Object: cm(ours, gateCheckKind, true)})).To(BeTrue())
	g.Expect(p.Generic(event.GenericEvent{Object: cm(ours, gateCheckKind, true)})).To(BeTrue())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: cm(ours, gateCheckKind, true), ObjectNew: cm("", "", false)})).To(BeTrue(),
		"an owner reference taken away still reaches the owner")
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: cm("", "", false), ObjectNew: cm(ours, gateCheckKind, true)})).To(BeTrue())

	g.Expect(p.Create(event.CreateEvent{Object: cm(ours, configSnapshotKind, true)})).To(BeFalse(), "another kind's")
	g.Expect(p.Create(event.CreateEvent{Object: cm("example.com/v1", gateCheckKind, true)})).To(BeFalse(), "another group's kind of the same name")
	g.Expect(p.Create(event.CreateEvent{Object: cm(ours, gateCheckKind, false)})).To(BeFalse(), "an owner that is not the controller")
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: cm(ours, configSnapshotKind, true), ObjectNew: cm(ours, configSnapshotKind, true)})).To(BeFalse())
}
