package configmap

import (
	"fmt"
	"sort"
	"strings"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
)

// Key maps a Statsig name to a ConfigMap key: every character outside [-._a-zA-Z0-9] becomes '_'
// (gate names may contain spaces).
func Key(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '_'
	}, name)
}

// EnvName maps a name to an environment variable name: upper-cased, every character outside
// [A-Z0-9_] becomes '_', and a leading digit gets a '_' in front.
func EnvName(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, name)
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

// Keys collects data entries and refuses two different sources that map to the same key: that is
// KeyCollision, never a silent overwrite.
type Keys struct {
	data   map[string]string
	source map[string]string
}

// NewKeys returns an empty collector.
func NewKeys() *Keys { return &Keys{data: map[string]string{}, source: map[string]string{}} }

// Put adds key=value, where from says which entity produced it (for the collision message).
func (k *Keys) Put(key, value, from string) error {
	if prev, ok := k.source[key]; ok && prev != from {
		return conditions.Permanent(statsigv1alpha1.ReasonKeyCollision,
			fmt.Sprintf("%s and %s both map to the key %q", quoteSorted(prev, from)[0], quoteSorted(prev, from)[1], key))
	}
	k.data[key] = value
	k.source[key] = from
	return nil
}

// Data returns the collected entries.
func (k *Keys) Data() map[string]string { return k.data }

func quoteSorted(a, b string) [2]string {
	s := []string{a, b}
	sort.Strings(s)
	return [2]string{s[0], s[1]}
}
