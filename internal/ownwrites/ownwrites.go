// Package ownwrites keeps a reconciler from deciding on a cached object older than its own last
// write of it.
//
// A controller reads its objects from an informer cache, which sees a write some milliseconds after
// the API server answered it. A reconcile that runs in that window (queued by the ConfigMap the
// last reconcile wrote, say) reads the object as it was before the write, and whatever it decides
// from that status undoes what the last reconcile recorded: a waiting rollout is forgotten, a
// requeue computed from the stale status replaces the right one. controller-runtime's own answer
// (client.CacheOptions.EnableReadYourWritesConsistency) is experimental, global to the manager,
// and documented not to work with several cache namespaces, which --watch-namespaces uses; this is
// the same idea, scoped to the objects whose status a reconciler writes.
//
// Resource versions are comparable integers since Kubernetes 1.35 (KEP-5504,
// apimachinery's resourceversion.CompareResourceVersion). A cached copy whose version is below the
// last one written is known to be stale and is read again through the API reader, which reads
// from etcd; a version that cannot be compared is read live too, so no reconcile ever decides from
// a copy older than its own write. Reads cost one live GET only in that window.
package ownwrites

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reader reads objects from the cache, or live when the cache is older than the last write
// recorded for them.
type Reader struct {
	// Cache is the manager's cache-backed client; Live its API reader.
	Cache, Live client.Reader

	mu      sync.Mutex
	written map[types.NamespacedName]string
}

// Get reads key into obj, from the cache when the cache holds the last recorded write or newer.
func (r *Reader) Get(ctx context.Context, key types.NamespacedName, obj client.Object) error {
	if err := r.Cache.Get(ctx, key, obj); err != nil {
		return err
	}
	if !r.behind(key, obj.GetResourceVersion()) {
		return nil
	}
	return r.Live.Get(ctx, key, obj)
}

// Wrote records the resource version a write of key returned.
func (r *Reader) Wrote(key types.NamespacedName, rv string) {
	if rv == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		r.written = map[types.NamespacedName]string{}
	}
	if prev, ok := r.written[key]; ok {
		if c, err := resourceversion.CompareResourceVersion(rv, prev); err == nil && c < 0 {
			return // an older write answered late
		}
	}
	r.written[key] = rv
}

// Forget drops what is known of a deleted object.
func (r *Reader) Forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.written, key)
}

func (r *Reader) behind(key types.NamespacedName, rv string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.written[key]
	if !ok || w == rv {
		return false
	}
	c, err := resourceversion.CompareResourceVersion(rv, w)
	if err != nil {
		return true // cannot tell: read live
	}
	if c >= 0 {
		delete(r.written, key) // the cache has caught up; nothing to remember
		return false
	}
	return true
}
