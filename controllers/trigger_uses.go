package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/trigger"
)

// The listers below tell a WebhookReceiver's trigger hub what the resources reading a Secret use,
// found through secretIndex (which holds the default Secret for resources without secretRef).

// listUses lists the resources of one kind that read a Secret and says what each unsuspended one
// uses.
func listUses[L client.ObjectList](c client.Reader, list func() L, uses func(L) []trigger.Uses) trigger.Lister {
	return func(ctx context.Context, secret types.NamespacedName) ([]trigger.Uses, error) {
		l := list()
		if err := c.List(ctx, l, client.MatchingFields{secretIndex: secret.String()}); err != nil {
			return nil, err
		}
		return uses(l), nil
	}
}

func gateCheckUses(c client.Reader) trigger.Lister {
	return listUses(c, func() *statsigv1alpha1.GateCheckList { return &statsigv1alpha1.GateCheckList{} },
		func(l *statsigv1alpha1.GateCheckList) []trigger.Uses {
			out := make([]trigger.Uses, 0, len(l.Items))
			for i := range l.Items {
				if gc := &l.Items[i]; !gc.Spec.Suspend {
					out = append(out, trigger.Uses{Key: client.ObjectKeyFromObject(gc),
						Names: map[trigger.Kind][]string{trigger.Gate: names(gc.Spec.Gates)}})
				}
			}
			return out
		})
}

func configSnapshotUses(c client.Reader) trigger.Lister {
	return listUses(c, func() *statsigv1alpha1.ConfigSnapshotList { return &statsigv1alpha1.ConfigSnapshotList{} },
		func(l *statsigv1alpha1.ConfigSnapshotList) []trigger.Uses {
			out := make([]trigger.Uses, 0, len(l.Items))
			for i := range l.Items {
				if cs := &l.Items[i]; !cs.Spec.Suspend {
					out = append(out, snapshotUses(client.ObjectKeyFromObject(cs), cs.Spec.SnapshotEntities))
				}
			}
			return out
		})
}

func clusterConfigSnapshotUses(c client.Reader) trigger.Lister {
	return listUses(c, func() *statsigv1alpha1.ClusterConfigSnapshotList { return &statsigv1alpha1.ClusterConfigSnapshotList{} },
		func(l *statsigv1alpha1.ClusterConfigSnapshotList) []trigger.Uses {
			out := make([]trigger.Uses, 0, len(l.Items))
			for i := range l.Items {
				if ccs := &l.Items[i]; !ccs.Spec.Suspend {
					out = append(out, snapshotUses(client.ObjectKeyFromObject(ccs), ccs.Spec.SnapshotEntities))
				}
			}
			return out
		})
}

func snapshotUses(key types.NamespacedName, e statsigv1alpha1.SnapshotEntities) trigger.Uses {
	u := trigger.Uses{Key: key, Names: map[trigger.Kind][]string{
		trigger.Gate: names(e.Gates), trigger.DynamicConfig: names(e.DynamicConfigs),
		trigger.Experiment: names(e.Experiments), trigger.Layer: names(e.Layers),
	}}
	if d := e.Discover; d != nil {
		u.Discovers = map[trigger.Kind]bool{trigger.Gate: d.Gates, trigger.DynamicConfig: d.DynamicConfigs,
			trigger.Experiment: d.Experiments, trigger.Layer: d.Layers}
	}
	return u
}
