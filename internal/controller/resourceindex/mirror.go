package resourceindex

import (
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// mirror is one kind being copied from an informer of the manager's cache into the index.
type mirror struct {
	gvk        schema.GroupVersionKind
	label      string // kindLabel(gvk)
	namespaced bool
	informer   cache.Informer
	reg        toolscache.ResourceEventHandlerRegistration
	done       chan struct{} // closed when the mirror stops

	mu     sync.Mutex
	owner  string   // name of the ResourceIndex that mirrors the kind
	fields []string // fields registered in the index

	// Guarded by writer.applyMu.
	stopped       bool
	synced        bool
	lastTombstone time.Time

	syncedFlag   atomic.Bool // readable without applyMu
	countPending atomic.Bool // a status refresh is scheduled
}

// Owner returns the name of the ResourceIndex that owns the mirror.
func (m *mirror) Owner() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owner
}

// Fields returns the fields registered for the kind.
func (m *mirror) Fields() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fields
}

func (m *mirror) setOwner(owner string, fields []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owner = owner
	m.fields = fields
}

// Synced reports whether the initial list of the kind is in the index.
func (m *mirror) Synced() bool { return m.syncedFlag.Load() }

// handler turns informer notifications into writer operations. Notifications of one handler
// arrive one at a time and in order, and push blocks while the writer's queue is full, so
// nothing is dropped: the informer just waits.
func (m *mirror) handler(w *writer) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				w.push(op{m: m, kind: opUpsert, obj: u, initial: initial})
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			u, ok := newObj.(*unstructured.Unstructured)
			if !ok {
				return
			}
			old, _ := oldObj.(*unstructured.Unstructured)
			w.push(op{m: m, kind: opUpsert, old: old, obj: u})
		},
		DeleteFunc: func(obj any) {
			u, tombstone := deletedObject(m.gvk, obj)
			if u != nil {
				w.push(op{m: m, kind: opDelete, obj: u, tombstone: tombstone})
			}
		},
	}
}

// deletedObject returns the last known state of a deleted object, and whether it came as a
// tombstone: the informer noticed the delete only when it relisted after a broken watch. A
// tombstone without a final state still has the object's key, which is enough to delete it.
func deletedObject(gvk schema.GroupVersionKind, obj any) (*unstructured.Unstructured, bool) {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		return o, false
	case toolscache.DeletedFinalStateUnknown:
		if u, ok := o.Obj.(*unstructured.Unstructured); ok && u != nil {
			return u, true
		}
		ns, name, err := toolscache.SplitMetaNamespaceKey(o.Key)
		if err != nil || name == "" {
			return nil, true
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace(ns)
		u.SetName(name)
		return u, true
	default:
		return nil, false
	}
}
