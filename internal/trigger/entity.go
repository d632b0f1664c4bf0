// Package trigger turns "entity X of Statsig project P changed" into immediate syncs of the
// resources that read X with P's credentials, without writing anything to the API server: each
// controller subscribes with a lister of what its resources use, and a triggered resource is
// reconciled as if its requested-at annotation had been bumped.
package trigger

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Kind is a kind of Statsig entity a resource can read.
type Kind string

// Entity kinds.
const (
	Gate          Kind = "gate"
	DynamicConfig Kind = "dynamic_config"
	Experiment    Kind = "experiment"
	Layer         Kind = "layer"
)

// Entity is a changed Statsig entity. No Kinds, or no Name, means the change cannot be placed (a
// segment, an ID list, a project setting, a type Statsig never documented): it may affect any
// resource of the project.
type Entity struct {
	Kinds []Kind
	Name  string
	// AllIfUnplaced widens an entity that matches no resource to every resource: for actions that
	// Statsig shares between gates, dynamic configs and segments, where the name may be a segment's.
	AllIfUnplaced bool
}

// Uses is what one resource reads from Statsig.
type Uses struct {
	Key types.NamespacedName
	// Names are the entity names the resource asks for, per kind.
	Names map[Kind][]string
	// Discovers are the kinds the resource lists whole.
	Discovers map[Kind]bool
}

// KindsForType maps a webhook's metadata.type (Gate, DynamicConfig, Experiment, ...; compared
// without case, spaces or underscores) to entity kinds; nil for a type that cannot be placed.
func KindsForType(t string) []Kind {
	n := strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(t))
	switch n {
	case "gate", "featuregate":
		return []Kind{Gate}
	case "dynamicconfig", "config":
		return []Kind{DynamicConfig}
	case "experiment", "autotune":
		return []Kind{Experiment}
	case "layer", "universe":
		return []Kind{Layer}
	}
	return nil
}

// auditActions are the audit log actions that can change evaluation (../shared/statsig/
// change-notifications.md §2), with the kinds they name; nil kinds cannot be placed.
var auditActions = func() map[string][]Kind {
	m := map[string][]Kind{}
	add := func(kinds []Kind, actions ...string) {
		for _, a := range actions {
			m[a] = kinds
		}
	}
	add([]Kind{Gate}, "gate_create", "gate_update", "gate_overrides_update", "update_gate_is_permanent")
	add([]Kind{Gate, DynamicConfig}, "config_conditions_update", "config_default_value_update", "config_state_toggle",
		"config_environments_update", "config_edit_target_apps", "config_id_type_update", "config_revert",
		"config_resalt", "config_delete", "config_review_commit")
	add([]Kind{DynamicConfig}, "dynamic_config_create")
	add([]Kind{Experiment}, "experiment_create", "experiment_start", "experiment_edit", "experiment_advanced_settings_edit",
		"experiment_overrides_edit", "experiment_group_disable", "experiment_pause_assignment", "experiment_rollout",
		"experiment_abandon", "experiment_stopped", "experiment_restart", "experiment_restart_as_new", "experiment_delete",
		"archive_experiment", "unarchive_experiment", "experiment_update_target_apps",
		"update_experiment_enabled_non_prod_environments", "experiment_assigned_to_layer", "apply_experiment_review",
		"update_experiment_salt", "resalt_experiment")
	add([]Kind{Layer}, "layer_create", "layer_edit", "layer_delete", "layer_parameters_edit", "layer_parameter_add",
		"update_layer_parameter", "delete_layer_parameter", "layer_overrides_edit", "layer_review_commit",
		"layer_update_target_apps")
	add(nil, "segment_create", "ID_list_update", "holdout_create", "holdout_update", "holdout_delete",
		"holdout_layer_parameter_values_update", "company_environments_edit", "edit_target_app", "delete_target_app",
		"sdk_key_update_environments", "sdk_key_update_target_app")
	return m
}()

// ForAuditAction returns the entity an audit log entry names, and false for an action that does not
// change evaluation (reviews, discussions, logins, metrics, unknown actions).
func ForAuditAction(action, name string) (Entity, bool) {
	kinds, ok := auditActions[action]
	if !ok {
		return Entity{}, false
	}
	if kinds == nil {
		return Entity{}, true
	}
	return Entity{Kinds: kinds, Name: name, AllIfUnplaced: strings.HasPrefix(action, "config_")}, true
}

// Affected returns the resources among uses that a change of e can affect:
//   - an entity that cannot be placed (no kind, no name) affects them all;
//   - otherwise those that name it (the same name, or the same after lower-casing and turning spaces
//     and dashes into underscores, so that a display name finds its id) or discover its kind; an
//     experiment also affects those reading layers, since layers serve their experiments' values;
//   - a name that matches nothing and is shaped like a display name (spaces or capitals), or an
//     entity marked AllIfUnplaced, affects them all: it may be an entity they use under another
//     name.
func Affected(uses []Uses, e Entity) []types.NamespacedName {
	all := func() []types.NamespacedName {
		out := make([]types.NamespacedName, 0, len(uses))
		for _, u := range uses {
			out = append(out, u.Key)
		}
		return out
	}
	if len(e.Kinds) == 0 || e.Name == "" {
		return all()
	}
	want := normalize(e.Name)
	var out []types.NamespacedName
	for _, u := range uses {
		if reads(u, e.Kinds, e.Name, want) {
			out = append(out, u.Key)
		}
	}
	if len(out) == 0 && (e.AllIfUnplaced || !idShaped(e.Name)) {
		return all()
	}
	return out
}

func reads(u Uses, kinds []Kind, name, normalized string) bool {
	for _, k := range kinds {
		check := []Kind{k}
		if k == Experiment {
			check = append(check, Layer)
		}
		for _, c := range check {
			if u.Discovers[c] || (c != k && len(u.Names[c]) > 0) {
				return true
			}
		}
		for _, n := range u.Names[k] {
			if n == name || normalize(n) == normalized {
				return true
			}
		}
	}
	return false
}

func normalize(s string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(s)))
}

// idShaped reports whether a name looks like an id rather than a display name.
func idShaped(s string) bool {
	return !strings.ContainsAny(s, " ") && strings.ToLower(s) == s
}
