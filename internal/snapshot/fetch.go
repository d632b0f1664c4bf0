// Package snapshot evaluates what a ConfigSnapshot or ClusterConfigSnapshot asks for and renders it
// as ConfigMap data in the contract's Files and Env formats. It calls Statsig once per sync, whatever
// the number of ConfigMaps the result is written to.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// DefaultConcurrency bounds the get_config and get_layer calls one sync has in flight. The client's
// rate limiter still paces them; the bound keeps one large snapshot from queueing every request of
// the key at once.
const DefaultConcurrency = 8

// Evaluator evaluates entities for a user with a server secret key.
type Evaluator interface {
	CheckGates(ctx context.Context, user statsig.User, names []string, o statsig.ReadOptions) (map[string]statsig.GateResult, error)
	GetConfig(ctx context.Context, user statsig.User, name string, o statsig.ReadOptions) (statsig.ConfigResult, error)
	GetLayer(ctx context.Context, user statsig.User, name string, o statsig.ReadOptions) (statsig.LayerResult, error)
}

// Lister lists the entities of a kind through the Console API with a console key.
type Lister interface {
	ListEntities(ctx context.Context, kind statsig.EntityKind) ([]statsig.Entity, error)
}

// Kinds says which entity kinds a snapshot holds. A kind is held when the spec names at least one
// entity of it or discovers it, even when that leaves it empty: its aggregate file is then "{}".
type Kinds struct {
	Gates, DynamicConfigs, Experiments, Layers bool
}

// Request is what one snapshot asks for.
type Request struct {
	Gates, DynamicConfigs, Experiments, Layers []string
	// Discover lists every entity of a kind through the Console API in addition to the named ones.
	Discover Kinds
	Options  statsig.ReadOptions
}

// Kinds returns the kinds the request holds.
func (r Request) Kinds() Kinds {
	return Kinds{
		Gates:          len(r.Gates) > 0 || r.Discover.Gates,
		DynamicConfigs: len(r.DynamicConfigs) > 0 || r.Discover.DynamicConfigs,
		Experiments:    len(r.Experiments) > 0 || r.Discover.Experiments,
		Layers:         len(r.Layers) > 0 || r.Discover.Layers,
	}
}

// Discovers reports whether the request needs the Console API (and so a console key).
func (r Request) Discovers() bool {
	d := r.Discover
	return d.Gates || d.DynamicConfigs || d.Experiments || d.Layers
}

// Values is one evaluation of a Request. Maps are keyed by the entity's SDK name.
type Values struct {
	Kinds          Kinds
	Gates          map[string]statsig.GateResult
	DynamicConfigs map[string]statsig.ConfigResult
	Experiments    map[string]statsig.ConfigResult
	Layers         map[string]statsig.LayerResult
}

// Count is the number of entities evaluated.
func (v *Values) Count() int {
	return len(v.Gates) + len(v.DynamicConfigs) + len(v.Experiments) + len(v.Layers)
}

// Fetcher evaluates Requests.
type Fetcher struct {
	// Concurrency bounds the calls in flight for one Fetch; 0 means DefaultConcurrency.
	Concurrency int
}

// Fetch lists what the request discovers, then evaluates every entity: gates in one CheckGates call
// (the client's batcher splits and merges check_gate calls), one get_config per dynamic config and
// experiment and one get_layer per layer. lister may be nil when the request discovers nothing. The
// first failure cancels the rest and is returned: a snapshot is all or nothing.
func (f Fetcher) Fetch(ctx context.Context, ev Evaluator, lister Lister, user statsig.User, req Request) (*Values, error) {
	names, discoveredLayers, err := f.names(ctx, lister, req)
	if err != nil {
		return nil, err
	}
	out := &Values{
		Kinds:          req.Kinds(),
		Gates:          map[string]statsig.GateResult{},
		DynamicConfigs: make(map[string]statsig.ConfigResult, len(names.DynamicConfigs)),
		Experiments:    make(map[string]statsig.ConfigResult, len(names.Experiments)),
		Layers:         make(map[string]statsig.LayerResult, len(names.Layers)),
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.limit())
	if len(names.Gates) > 0 {
		g.Go(func() error {
			res, err := ev.CheckGates(gctx, user, names.Gates, req.Options)
			if err != nil {
				return fmt.Errorf("check gates: %w", err)
			}
			for _, n := range names.Gates {
				r, ok := res[n]
				if !ok {
					return fmt.Errorf("check gates: statsig answered without gate %q", n)
				}
				mu.Lock()
				out.Gates[n] = r
				mu.Unlock()
			}
			return nil
		})
	}
	configs := func(list []string, dst map[string]statsig.ConfigResult, what string) {
		for _, n := range list {
			g.Go(func() error {
				r, err := ev.GetConfig(gctx, user, n, req.Options)
				if err != nil {
					return fmt.Errorf("get %s %q: %w", what, n, err)
				}
				mu.Lock()
				dst[n] = r
				mu.Unlock()
				return nil
			})
		}
	}
	configs(names.DynamicConfigs, out.DynamicConfigs, "dynamic config")
	configs(names.Experiments, out.Experiments, "experiment")
	for _, n := range names.Layers {
		g.Go(func() error {
			r, err := ev.GetLayer(gctx, user, n, req.Options)
			if err != nil {
				// A discovered layer deleted between the list and the get has simply left; a layer
				// the spec names must exist.
				if discoveredLayers[n] && statsig.Classify(err) == statsig.ClassNotFound {
					return nil
				}
				return fmt.Errorf("get layer %q: %w", n, err)
			}
			mu.Lock()
			out.Layers[n] = r
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (f Fetcher) limit() int {
	if f.Concurrency > 0 {
		return f.Concurrency
	}
	return DefaultConcurrency
}

// names merges the spec's names with the discovered ones, sorted and without duplicates. It also
// returns the layers known only through discovery.
func (f Fetcher) names(ctx context.Context, lister Lister, req Request) (Request, map[string]bool, error) {
	out := Request{
		Gates: req.Gates, DynamicConfigs: req.DynamicConfigs, Experiments: req.Experiments, Layers: req.Layers,
	}
	type list struct {
		on   bool
		kind statsig.EntityKind
		dst  *[]string
	}
	lists := []list{
		{req.Discover.Gates, statsig.EntityGates, &out.Gates},
		{req.Discover.DynamicConfigs, statsig.EntityDynamicConfigs, &out.DynamicConfigs},
		{req.Discover.Experiments, statsig.EntityExperiments, &out.Experiments},
		{req.Discover.Layers, statsig.EntityLayers, &out.Layers},
	}
	found := make([][]string, len(lists))
	if req.Discovers() {
		if lister == nil {
			return out, nil, errors.New("discover needs a Console API lister")
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(f.limit())
		for i, l := range lists {
			if !l.on {
				continue
			}
			g.Go(func() error {
				entities, err := lister.ListEntities(gctx, l.kind)
				if err != nil {
					return fmt.Errorf("discover %s: %w", l.kind, err)
				}
				ids := make([]string, 0, len(entities))
				for _, e := range entities {
					// The Console's id is the name the SDK API takes; name is for display.
					ids = append(ids, e.ID)
				}
				found[i] = ids
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return out, nil, err
		}
	}
	discoveredLayers := map[string]bool{}
	for _, id := range found[3] {
		if !slices.Contains(req.Layers, id) {
			discoveredLayers[id] = true
		}
	}
	for i, l := range lists {
		*l.dst = sortedUnique(slices.Concat(*l.dst, found[i]))
	}
	return out, discoveredLayers, nil
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
