package snapshot

import (
	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// RequestFor turns a snapshot spec into a Request. Names keep the spec's spelling; Fetch sorts and
// de-duplicates them.
func RequestFor(e statsigv1alpha1.SnapshotEntities) Request {
	r := Request{
		Gates:          names(e.Gates),
		DynamicConfigs: names(e.DynamicConfigs),
		Experiments:    names(e.Experiments),
		Layers:         names(e.Layers),
		// A snapshot that rolls workloads never logs on a read: its exposures are logged when pods
		// really run a group (internal/rolloutevents).
		Options: statsig.ReadOptions{LogExposures: e.LogExposures && len(e.RolloutTargets) == 0},
	}
	if d := e.Discover; d != nil {
		r.Discover = Kinds{Gates: d.Gates, DynamicConfigs: d.DynamicConfigs, Experiments: d.Experiments, Layers: d.Layers}
	}
	return r
}

func names(in []statsigv1alpha1.EntityName) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, n := range in {
		out[i] = string(n)
	}
	return out
}
