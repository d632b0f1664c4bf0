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

func gateCheckUses(c client.Reader) trigger.Lister {
	return func(ctx context.Context, secret types.NamespacedName) ([]trigger.Uses, error) {
		list := &statsigv1alpha1.GateCheckList{}
		if err := c.List(ctx, list, client.MatchingFields{secretIndex: secret.String()}); err != nil {
			return nil, err
		}
		out := make([]trigger.Uses, 0, len(list.Items))
		for i := range list.Items {
			gc := &list.Items[i]
			if gc.Spec.Suspend {
				continue
			}
			out = append(out, trigger.Uses{Key: client.ObjectKeyFromObject(gc),
				Names: map[trigger.Kind][]string{trigger.Gate: names(gc.Spec.Gates)}})
		}
		return out, nil
	}
}

func configSnapshotUses(c client.Reader) trigger.Lister {
	return func(ctx context.Context, secret types.NamespacedName) ([]trigger.Uses, error) {
		list := &statsigv1alpha1.ConfigSnapshotList{}
		if err := c.List(ctx, list, client.MatchingFields{secretIndex: secret.String()}); err != nil {
			return nil, err
		}
		out := make([]trigger.Uses, 0, len(list.Items))
		for i := range list.Items {
			if !list.Items[i].Spec.Suspend {
				out = append(out, snapshotUses(client.ObjectKeyFromObject(&list.Items[i]), list.Items[i].Spec.SnapshotEntities))
			}
		}
		return out, nil
	}
}

func clusterConfigSnapshotUses(c client.Reader) trigger.Lister {
	return func(ctx context.Context, secret types.NamespacedName) ([]trigger.Uses, error) {
		list := &statsigv1alpha1.ClusterConfigSnapshotList{}
		if err := c.List(ctx, list, client.MatchingFields{secretIndex: secret.String()}); err != nil {
			return nil, err
		}
		out := make([]trigger.Uses, 0, len(list.Items))
		for i := range list.Items {
			if !list.Items[i].Spec.Suspend {
				out = append(out, snapshotUses(client.ObjectKeyFromObject(&list.Items[i]), list.Items[i].Spec.SnapshotEntities))
			}
		}
		return out, nil
	}
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
