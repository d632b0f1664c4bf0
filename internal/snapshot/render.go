package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// Render lays values out as ConfigMap data in format (Files when empty). The output is a function
// of the values alone: every JSON document is written canonically (object keys sorted, no
// insignificant whitespace, numbers exactly as Statsig sent them, no HTML escaping), so the same
// values always give byte-identical data and the same content hash. Two names that map to the same
// key are a KeyCollision failure.
func Render(v *Values, format statsigv1alpha1.SnapshotFormat) (map[string]string, error) {
	switch format {
	case statsigv1alpha1.FormatFiles, "":
		return renderFiles(v)
	case statsigv1alpha1.FormatEnv:
		return renderEnv(v)
	}
	return nil, fmt.Errorf("unknown snapshot format %q", format)
}

// CheckNames renders req's named entities with empty values, so that names colliding on a key are
// refused before any call to Statsig. Collisions that depend on values (Env fields) or on discovered
// names are found by Render.
func CheckNames(req Request, format statsigv1alpha1.SnapshotFormat) error {
	v := &Values{
		Kinds:          req.Kinds(),
		Gates:          map[string]statsig.GateResult{},
		DynamicConfigs: map[string]statsig.ConfigResult{},
		Experiments:    map[string]statsig.ConfigResult{},
		Layers:         map[string]statsig.LayerResult{},
	}
	empty := json.RawMessage("{}")
	for _, n := range req.Gates {
		v.Gates[n] = statsig.GateResult{Name: n}
	}
	for _, n := range req.DynamicConfigs {
		v.DynamicConfigs[n] = statsig.ConfigResult{Name: n, Value: empty}
	}
	for _, n := range req.Experiments {
		v.Experiments[n] = statsig.ConfigResult{Name: n, Value: empty}
	}
	for _, n := range req.Layers {
		v.Layers[n] = statsig.LayerResult{Name: n, Value: empty}
	}
	_, err := Render(v, format)
	return err
}

// renderFiles writes, for each kind held, an aggregate JSON file keyed by the entity's own name,
// and one key per entity whose name is mapped by configmap.Key.
func renderFiles(v *Values) (map[string]string, error) {
	keys := configmap.NewKeys()
	if v.Kinds.Gates {
		all := map[string]any{}
		for _, n := range sortedKeys(v.Gates) {
			val := v.Gates[n].Value
			all[n] = val
			if err := keys.Put("gate."+configmap.Key(n), strconv.FormatBool(val), "gate "+strconv.Quote(n)); err != nil {
				return nil, err
			}
		}
		if err := putJSON(keys, "gates.json", all); err != nil {
			return nil, err
		}
	}
	if v.Kinds.DynamicConfigs {
		all := map[string]any{}
		for _, n := range sortedKeys(v.DynamicConfigs) {
			val, err := decode(v.DynamicConfigs[n].Value)
			if err != nil {
				return nil, fmt.Errorf("dynamic config %q: %w", n, err)
			}
			all[n] = val
			if err := putJSONFrom(keys, "config."+configmap.Key(n)+".json", val, "dynamic config "+strconv.Quote(n)); err != nil {
				return nil, err
			}
		}
		if err := putJSON(keys, "dynamic_configs.json", all); err != nil {
			return nil, err
		}
	}
	if v.Kinds.Experiments {
		all := map[string]any{}
		for _, n := range sortedKeys(v.Experiments) {
			r := v.Experiments[n]
			val, err := decode(r.Value)
			if err != nil {
				return nil, fmt.Errorf("experiment %q: %w", n, err)
			}
			// A user outside the experiment has no group: null in JSON, empty in the .group key.
			var group any
			if r.GroupName != "" {
				group = r.GroupName
			}
			all[n] = map[string]any{"group": group, "value": val}
			from := "experiment " + strconv.Quote(n)
			if err := putJSONFrom(keys, "experiment."+configmap.Key(n)+".json", val, from); err != nil {
				return nil, err
			}
			if err := keys.Put("experiment."+configmap.Key(n)+".group", r.GroupName, from+" group"); err != nil {
				return nil, err
			}
		}
		if err := putJSON(keys, "experiments.json", all); err != nil {
			return nil, err
		}
	}
	if v.Kinds.Layers {
		all := map[string]any{}
		for _, n := range sortedKeys(v.Layers) {
			val, err := decode(v.Layers[n].Value)
			if err != nil {
				return nil, fmt.Errorf("layer %q: %w", n, err)
			}
			all[n] = val
			if err := putJSONFrom(keys, "layer."+configmap.Key(n)+".json", val, "layer "+strconv.Quote(n)); err != nil {
				return nil, err
			}
		}
		if err := putJSON(keys, "layers.json", all); err != nil {
			return nil, err
		}
	}
	return keys.Data(), nil
}

// Env variable prefixes, one per kind.
const (
	envGate       = "STATSIG_GATE_"
	envConfig     = "STATSIG_CONFIG_"
	envExperiment = "STATSIG_EXPERIMENT_"
	envLayer      = "STATSIG_LAYER_"
)

// renderEnv writes one variable per gate, one JSON variable per config, experiment and layer, the
// experiment's group, and one variable per top-level scalar field of each value. Names and field
// names are mapped by configmap.EnvName.
func renderEnv(v *Values) (map[string]string, error) {
	keys := configmap.NewKeys()
	for _, n := range sortedKeys(v.Gates) {
		if err := keys.Put(envGate+configmap.EnvName(n), strconv.FormatBool(v.Gates[n].Value), "gate "+strconv.Quote(n)); err != nil {
			return nil, err
		}
	}
	for _, n := range sortedKeys(v.DynamicConfigs) {
		if err := putEnvValue(keys, envConfig+configmap.EnvName(n), v.DynamicConfigs[n].Value, "dynamic config "+strconv.Quote(n)); err != nil {
			return nil, err
		}
	}
	for _, n := range sortedKeys(v.Experiments) {
		r := v.Experiments[n]
		name := envExperiment + configmap.EnvName(n)
		from := "experiment " + strconv.Quote(n)
		if err := putEnvValue(keys, name, r.Value, from); err != nil {
			return nil, err
		}
		if err := keys.Put(name+"_GROUP", r.GroupName, from+" group"); err != nil {
			return nil, err
		}
	}
	for _, n := range sortedKeys(v.Layers) {
		if err := putEnvValue(keys, envLayer+configmap.EnvName(n), v.Layers[n].Value, "layer "+strconv.Quote(n)); err != nil {
			return nil, err
		}
	}
	return keys.Data(), nil
}

// putEnvValue writes the value as JSON under name, and each top-level string, number and boolean
// field under name_FIELD: strings raw, numbers and booleans as JSON writes them.
func putEnvValue(keys *configmap.Keys, name string, raw json.RawMessage, from string) error {
	val, err := decode(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if err := putJSONFrom(keys, name, val, from); err != nil {
		return err
	}
	obj, ok := val.(map[string]any)
	if !ok {
		return nil
	}
	for _, f := range slices.Sorted(maps.Keys(obj)) {
		var s string
		switch x := obj[f].(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case bool:
			s = strconv.FormatBool(x)
		default:
			// null, arrays and objects have no single scalar form; the JSON variable carries them.
			continue
		}
		if err := keys.Put(name+"_"+configmap.EnvName(f), s, from+" field "+strconv.Quote(f)); err != nil {
			return err
		}
	}
	return nil
}

// decode reads a JSON value keeping numbers as their literal text, so that canonical output never
// rounds a large integer or reformats a float.
func decode(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("value is not JSON: %w", err)
	}
	return v, nil
}

// Canonical writes v as compact JSON with sorted object keys and without HTML escaping (values are
// read by programs, not embedded in pages).
func Canonical(v any) (string, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return "", fmt.Errorf("encode JSON: %w", err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

func putJSON(keys *configmap.Keys, key string, v any) error {
	return putJSONFrom(keys, key, v, "aggregate "+key)
}

func putJSONFrom(keys *configmap.Keys, key string, v any, from string) error {
	s, err := Canonical(v)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	return keys.Put(key, s, from)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
