package configmap

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Outputs remembers each resource's last written ConfigMap data, so that a deleted or edited
// ConfigMap, or a namespace that starts matching a ClusterConfigSnapshot's selector, gets the last
// good content without a call to Statsig. Status cannot stand in for it: the cache can show a status
// older than the last write (a repair from it would put old values back), and a snapshot's data can
// be a megabyte. After a restart the store is empty and a repair costs one sync.
type Outputs struct {
	mu sync.Mutex
	m  map[types.NamespacedName]output
}

type output struct {
	uid  types.UID
	hash string
	data map[string]string
}

// Put records data (whose content hash is hash) as the last written output of the resource key
// with the given uid.
func (o *Outputs) Put(key types.NamespacedName, uid types.UID, hash string, data map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[types.NamespacedName]output{}
	}
	o.m[key] = output{uid: uid, hash: hash, data: data}
}

// Get returns the last output written for the resource key with the given uid, and its content
// hash. It is at least as new as the resource's status (which the cache may not show yet), and a
// resource recreated under the same name is never answered with its predecessor's data.
func (o *Outputs) Get(key types.NamespacedName, uid types.UID) (hash string, data map[string]string, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out, ok := o.m[key]
	if !ok || out.uid != uid {
		return "", nil, false
	}
	return out.hash, out.data, true
}

// Forget drops a deleted resource's output.
func (o *Outputs) Forget(key types.NamespacedName) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, key)
}
