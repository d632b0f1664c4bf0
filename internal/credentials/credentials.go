// Package credentials finds the Statsig keys a resource may use: its own Secret, or the operator's
// default Secret when the resource is allowed to use it.
package credentials

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/conditions"
)

// Resolver reads credential Secrets from the API server (Reader should be the manager's uncached
// API reader): the operator does not cache Secrets in an informer. Versions, when set, tells the
// resourceVersion of a Secret from the metadata the Secret watch already keeps; then a Secret whose
// resourceVersion is the one last read is answered from the copy kept of it, and only a Secret that
// changed, is new to the resolver or lives where the watch cannot say costs a GET. The copies hold
// only Secrets that resources reference (ResolveFor records which resource reads which Secret;
// Forget drops a resource), which the operator reads anyway: a Secret no resource references any
// more leaves memory.
type Resolver struct {
	Reader client.Reader
	// Versions tells Secret resourceVersions from a watch; nil reads every time.
	Versions SecretVersions
	// Namespaces reads the Namespaces checked against TrustedNamespaces (the manager's cached
	// client: Namespaces are few and small); nil reads them through Reader.
	Namespaces client.Reader
	// DefaultSecret is --default-secret; zero when none is configured.
	DefaultSecret types.NamespacedName
	// TrustedNamespaces is --default-secret-namespaces; labels.Nothing() trusts none.
	TrustedNamespaces labels.Selector

	mu     sync.Mutex
	copies map[types.NamespacedName]*Credentials
	// users maps each resource (its Kind/namespace/name) to the Secret it last resolved.
	users map[string]types.NamespacedName
}

// SecretVersions tells a Secret's resourceVersion from a watch of Secret metadata.
type SecretVersions interface {
	// SecretVersion returns the Secret's resourceVersion, "" when it does not exist; known is
	// false when the watch cannot say (its namespace is not watched, or not listed yet).
	SecretVersion(name types.NamespacedName) (version string, known bool)
}

// Credentials is a Secret's data and where it came from.
type Credentials struct {
	Secret types.NamespacedName
	// Version is the Secret's resourceVersion, so that a change to it can trigger a sync.
	Version string
	data    map[string][]byte
}

// Key returns one data key, or a SecretNotFound failure naming the Secret and key (never a value).
func (c *Credentials) Key(name string) (string, error) {
	v, ok := c.data[name]
	if !ok || len(v) == 0 {
		return "", conditions.Permanent(statsigv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("Secret %s has no key %q", c.Secret, name))
	}
	return string(v), nil
}

// Data returns the whole Secret data, for object-store credentials.
func (c *Credentials) Data() map[string][]byte { return c.data }

// Resolve finds the Secret for a resource. namespace is the resource's namespace ("" for a
// cluster-scoped resource); ref is its secretRef (nil when omitted). A cluster-scoped resource may
// always use the default Secret; a namespaced one only when its namespace matches the trusted
// selector.
//
// Resolve keeps no copy of the Secret for later: ResolveFor does, for a resource it then tracks.
func (r *Resolver) Resolve(ctx context.Context, namespace string, ref *types.NamespacedName) (*Credentials, error) {
	return r.ResolveFor(ctx, "", namespace, ref)
}

// ResolveFor is Resolve for the resource user (Kind/namespace/name): the Secret's copy is kept
// while some resource's last resolve read it, and dropped once none does (the resource resolved
// another Secret, or was forgotten).
func (r *Resolver) ResolveFor(ctx context.Context, user, namespace string, ref *types.NamespacedName) (*Credentials, error) {
	target, err := r.secretFor(ctx, namespace, ref)
	if err != nil {
		r.Forget(user)
		return nil, err
	}
	r.use(user, target)
	return r.read(ctx, target)
}

// Forget drops a resource that no longer exists (or reads no Secret), and the copy of its Secret
// when no other resource reads it.
func (r *Resolver) Forget(user string) {
	if user == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.users[user]; ok {
		delete(r.users, user)
		r.dropUnusedLocked(old)
	}
}

// use records that user reads secret now.
func (r *Resolver) use(user string, secret types.NamespacedName) {
	if user == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.users == nil {
		r.users = map[string]types.NamespacedName{}
	}
	old, had := r.users[user]
	r.users[user] = secret
	if had && old != secret {
		r.dropUnusedLocked(old)
	}
}

func (r *Resolver) dropUnusedLocked(secret types.NamespacedName) {
	for _, s := range r.users {
		if s == secret {
			return
		}
	}
	delete(r.copies, secret)
}

// referencedLocked reports whether some resource reads secret.
func (r *Resolver) referencedLocked(secret types.NamespacedName) bool {
	for _, s := range r.users {
		if s == secret {
			return true
		}
	}
	return false
}

// SecretFor returns which Secret a resource would read, without reading it (for watches).
func (r *Resolver) secretFor(ctx context.Context, namespace string, ref *types.NamespacedName) (types.NamespacedName, error) {
	if ref != nil {
		return *ref, nil
	}
	if r.DefaultSecret.Name == "" {
		return types.NamespacedName{}, conditions.Permanent(statsigv1alpha1.ReasonCredentialsNotAllowed,
			"spec.secretRef is not set and the operator has no default Secret (--default-secret)")
	}
	if namespace == "" {
		return r.DefaultSecret, nil
	}
	trusted, err := r.trusted(ctx, namespace)
	if err != nil {
		return types.NamespacedName{}, err
	}
	if !trusted {
		return types.NamespacedName{}, conditions.Permanent(statsigv1alpha1.ReasonCredentialsNotAllowed,
			fmt.Sprintf("spec.secretRef is not set and namespace %s is not trusted to use the operator's default Secret (--default-secret-namespaces)", namespace))
	}
	return r.DefaultSecret, nil
}

func (r *Resolver) trusted(ctx context.Context, namespace string) (bool, error) {
	if r.TrustedNamespaces == nil || r.TrustedNamespaces.Empty() {
		// An empty selector would match everything; the flag's "empty" means nobody.
		return false, nil
	}
	reader := r.Reader
	if r.Namespaces != nil {
		reader = r.Namespaces
	}
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return false, fmt.Errorf("get namespace %s: %w", namespace, err)
	}
	return r.TrustedNamespaces.Matches(labels.Set(ns.Labels)), nil
}

func (r *Resolver) read(ctx context.Context, name types.NamespacedName) (*Credentials, error) {
	if c := r.unchanged(name); c != nil {
		return c, nil
	}
	s := &corev1.Secret{}
	if err := r.Reader.Get(ctx, name, s); err != nil {
		if apierrors.IsNotFound(err) {
			r.keep(name, nil)
			return nil, conditions.Permanent(statsigv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s not found", name))
		}
		return nil, fmt.Errorf("get Secret %s: %w", name, err)
	}
	c := &Credentials{Secret: name, Version: s.ResourceVersion, data: s.Data}
	if r.Versions != nil {
		r.keep(name, c)
	}
	return c, nil
}

// unchanged returns the copy of the Secret when the watch shows it at the version last read. Any
// doubt (no copy, a watch that cannot say, a different version or none) returns nil: read it again.
func (r *Resolver) unchanged(name types.NamespacedName) *Credentials {
	if r.Versions == nil {
		return nil
	}
	r.mu.Lock()
	c := r.copies[name]
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	if v, known := r.Versions.SecretVersion(name); !known || v == "" || v != c.Version {
		return nil
	}
	return c
}

// keep stores the copy last read of a Secret; nil forgets it.
func (r *Resolver) keep(name types.NamespacedName, c *Credentials) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c == nil {
		delete(r.copies, name)
		return
	}
	if !r.referencedLocked(name) {
		return // no resource reads it: nothing to keep it for
	}
	if r.copies == nil {
		r.copies = map[types.NamespacedName]*Credentials{}
	}
	r.copies[name] = c
}

// LocalRef turns a namespaced resource's secretRef into a NamespacedName in its namespace.
func LocalRef(namespace string, ref *statsigv1alpha1.LocalSecretReference) *types.NamespacedName {
	if ref == nil {
		return nil
	}
	return &types.NamespacedName{Namespace: namespace, Name: ref.Name}
}

// TransformSecretMetadata is the informer transform for the Secret metadata watched to notice a
// rotated credentials Secret. The operator reads only a Secret's namespace, name and
// resourceVersion from that watch (which resources read the Secret, and whether it changed since
// it was last read), yet the watch covers every Secret of a namespace where some resource reads
// one, most of them unrelated: so it keeps just those fields (and the UID) and drops labels,
// annotations (such as a kubectl last-applied copy), owner references, finalizers and managed
// fields.
func TransformSecretMetadata() func(any) (any, error) {
	return func(in any) (any, error) {
		obj, ok := in.(metav1.Object)
		if !ok {
			return in, nil
		}
		kept := metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(),
			ResourceVersion: obj.GetResourceVersion()}
		switch o := in.(type) {
		case *metav1.PartialObjectMetadata:
			o.ObjectMeta = kept
		case *corev1.Secret:
			// Typed Secrets are never watched (the client reads them straight from the API server);
			// should one reach this informer it keeps no data either.
			o.ObjectMeta = kept
			o.Data, o.StringData = nil, nil
		}
		return in, nil
	}
}
