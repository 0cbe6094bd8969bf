// Package catalog is the manager's in-memory record of the kinds that the index mirrors. The
// ResourceIndex reconciler writes it as mirrors start, sync and stop; the query reconcilers read it
// to tell whether a target can be searched, and subscribe to it to learn which objects changed so
// that they re-evaluate only the queries a change can affect.
//
// Nothing here is persisted: like the index itself, the catalog is rebuilt from list and watch when
// the manager starts.
package catalog

import (
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kind is the state of one mirrored kind.
type Kind struct {
	// Index is the name of the ResourceIndex that mirrors the kind.
	Index string
	// Namespaced is true when objects of the kind live in namespaces.
	Namespaced bool
	// Synced is true once the initial list is in the index.
	Synced bool
}

// Change tells subscribers that objects of a kind changed. It is published only after the change
// is committed to the index, so a query evaluated after receiving it sees the change.
type Change struct {
	// GVK is the kind that changed.
	GVK schema.GroupVersionKind
	// Old is the object before the change; nil when it was created.
	Old *unstructured.Unstructured
	// New is the object after the change; nil when it was deleted.
	New *unstructured.Unstructured
	// Cluster is the cluster of the object: "" for the local cluster.
	Cluster string
}

// KindWide reports whether the change concerns the whole kind (a relist, the kind starting or
// stopping to be mirrored, its sync state changing) rather than a single object.
func (c Change) KindWide() bool { return c.Old == nil && c.New == nil }

// Catalog records mirrored kinds and fans out changes. It is safe for concurrent use.
type Catalog struct {
	mu    sync.RWMutex
	kinds map[schema.GroupVersionKind]Kind
	subs  []subscriber
}

// subscriber is a function that receives changes, and the kinds it wants single-object
// changes of (nil: every kind).
type subscriber struct {
	fn    func(Change)
	wants func(schema.GroupVersionKind) bool
}

// New returns an empty catalog.
func New() *Catalog {
	return &Catalog{kinds: map[schema.GroupVersionKind]Kind{}}
}

// Get returns the state of a kind and whether it is mirrored.
func (c *Catalog) Get(gvk schema.GroupVersionKind) (Kind, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.kinds[gvk]
	return k, ok
}

// List returns every mirrored kind and its state.
func (c *Catalog) List() map[schema.GroupVersionKind]Kind {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[schema.GroupVersionKind]Kind, len(c.kinds))
	for gvk, k := range c.kinds {
		out[gvk] = k
	}
	return out
}

// Set records the state of a kind and, when it differs from the previous state, publishes a
// kind-wide change.
func (c *Catalog) Set(gvk schema.GroupVersionKind, k Kind) {
	c.mu.Lock()
	old, ok := c.kinds[gvk]
	c.kinds[gvk] = k
	c.mu.Unlock()
	if !ok || old != k {
		c.Publish(Change{GVK: gvk})
	}
}

// Remove forgets a kind and publishes a kind-wide change if it was known.
func (c *Catalog) Remove(gvk schema.GroupVersionKind) {
	c.mu.Lock()
	_, ok := c.kinds[gvk]
	delete(c.kinds, gvk)
	c.mu.Unlock()
	if ok {
		c.Publish(Change{GVK: gvk})
	}
}

// Subscribe registers fn to receive every published change. fn runs on the publisher's goroutine
// and must not block: hand the work to a queue. wants tells which kinds fn needs single-object
// changes of, with both versions of the object; nil means every kind. For the other kinds the
// mirror may publish one kind-wide change per batch instead, which spares it from reading back
// old versions nobody looks at.
func (c *Catalog) Subscribe(fn func(Change), wants func(schema.GroupVersionKind) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = append(c.subs, subscriber{fn: fn, wants: wants})
}

// Wants reports whether a subscriber needs single-object changes of a kind.
func (c *Catalog) Wants(gvk schema.GroupVersionKind) bool {
	c.mu.RLock()
	subs := c.subs
	c.mu.RUnlock()
	for _, s := range subs {
		if s.wants == nil || s.wants(gvk) {
			return true
		}
	}
	return false
}

// Publish delivers a change to every subscriber. The mirror calls it after committing the change
// to the index.
func (c *Catalog) Publish(ch Change) {
	c.mu.RLock()
	subs := c.subs
	c.mu.RUnlock()
	for _, s := range subs {
		s.fn(ch)
	}
}
