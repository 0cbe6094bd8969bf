package resourceindex

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
)

const (
	// maxQueued is how many operations may wait for the writer before informers are held back.
	maxQueued = 20000
	// maxBatch is the most changes written in one transaction.
	maxBatch = 2000
	// countRefresh is the shortest time between two objectCount refreshes of a ResourceIndex.
	countRefresh = 5 * time.Second
	// resyncRetry is how long the writer waits before it retries a failed full replace.
	resyncRetry = 2 * time.Second
	// relistGap separates two relists in the relist metric: tombstones closer than this belong
	// to one relist.
	relistGap = 2 * time.Second
)

type opKind uint8

const (
	opUpsert opKind = iota
	opDelete
	// opSync replaces the stored set of the kind with the informer's store.
	opSync
)

// op is one unit of work for the writer.
type op struct {
	m         *mirror
	kind      opKind
	old, obj  *unstructured.Unstructured
	initial   bool // the add is part of the informer's initial list
	tombstone bool // the delete was found by a relist
}

// writer is the single goroutine that writes informer events to the index. It drains whatever
// is queued, writes it in one transaction and only then publishes the changes to the catalog.
type writer struct {
	store *index.Store
	cat   *catalog.Catalog
	// refresh asks for a reconcile of the named ResourceIndex.
	refresh func(name string)
	log     logr.Logger

	mu      sync.Mutex
	notFull *sync.Cond
	queue   []op
	closed  bool
	wake    chan struct{}

	// applyMu is held while the index is written for a mirror, so that stopping a mirror (which
	// drops its rows) never interleaves with a batch that would write them back.
	applyMu sync.Mutex
}

func newWriter(store *index.Store, cat *catalog.Catalog, refresh func(string)) *writer {
	w := &writer{store: store, cat: cat, refresh: refresh, wake: make(chan struct{}, 1), log: ctrl.Log.WithName("index-writer")}
	w.notFull = sync.NewCond(&w.mu)
	return w
}

// push queues an operation, waiting while the queue is full.
func (w *writer) push(o op) {
	w.mu.Lock()
	for len(w.queue) >= maxQueued && !w.closed {
		w.notFull.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, o)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Start runs the writer until ctx ends. It implements manager.Runnable.
func (w *writer) Start(ctx context.Context) error {
	w.log = ctrl.LoggerFrom(ctx).WithName("index-writer")
	defer func() {
		w.mu.Lock()
		w.closed = true
		w.queue = nil
		w.notFull.Broadcast()
		w.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			batch := w.queue
			w.queue = nil
			w.notFull.Broadcast()
			w.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			w.process(batch)
		}
	}
}

// NeedLeaderElection is false: every replica keeps its own index, followers included, so a new
// leader is ready at once.
func (w *writer) NeedLeaderElection() bool { return false }

// withLock runs fn while no batch is written.
func (w *writer) withLock(fn func()) {
	w.applyMu.Lock()
	defer w.applyMu.Unlock()
	fn()
}

// pending collects the changes of a transaction and what to publish once it commits.
type pending struct {
	changes []index.Change
	pubs    []catalog.Change
	mirrors map[*mirror]struct{}
	counts  map[[2]string]float64 // {kind label, event type} -> events
}

func (p *pending) reset() {
	p.changes = p.changes[:0]
	p.pubs = p.pubs[:0]
	clear(p.mirrors)
	clear(p.counts)
}

func (w *writer) process(batch []op) {
	p := &pending{mirrors: map[*mirror]struct{}{}, counts: map[[2]string]float64{}}
	var published []catalog.Change
	touched := map[*mirror]struct{}{}

	w.applyMu.Lock()
	for _, o := range batch {
		m := o.m
		if m.stopped {
			continue
		}
		switch o.kind {
		case opSync:
			published = append(published, w.flush(p, touched)...)
			if ch, ok := w.replace(m); ok {
				published = append(published, ch...)
				touched[m] = struct{}{}
			}
			continue
		case opUpsert:
			// The initial list is written at once by the replace that follows it.
			if o.initial && !m.synced {
				continue
			}
			typ := "add"
			if o.old != nil {
				typ = "update"
			}
			p.changes = append(p.changes, index.Change{Object: o.obj})
			p.pubs = append(p.pubs, catalog.Change{GVK: m.gvk, Old: o.old, New: o.obj})
			p.counts[[2]string{m.label, typ}]++
		case opDelete:
			if o.tombstone {
				now := time.Now()
				if now.Sub(m.lastTombstone) > relistGap {
					relistsTotal.WithLabelValues(m.label).Inc()
					w.log.Info("Relist found deleted objects", "kind", m.label)
				}
				m.lastTombstone = now
			}
			p.changes = append(p.changes, index.Change{Object: o.obj, Deleted: true})
			p.pubs = append(p.pubs, catalog.Change{GVK: m.gvk, Old: o.obj})
			p.counts[[2]string{m.label, "delete"}]++
		}
		p.mirrors[m] = struct{}{}
		if len(p.changes) >= maxBatch {
			published = append(published, w.flush(p, touched)...)
		}
	}
	published = append(published, w.flush(p, touched)...)
	w.applyMu.Unlock()

	// Publish only after commit, outside the lock: subscribers may read the index.
	for _, ch := range published {
		w.cat.Publish(ch)
	}
	for m := range touched {
		w.scheduleRefresh(m)
	}
}

// flush writes the pending changes in one transaction. On failure nothing was written; the
// mirrors involved are reloaded from their informers instead, so no event is lost.
func (w *writer) flush(p *pending, touched map[*mirror]struct{}) []catalog.Change {
	if len(p.changes) == 0 {
		p.reset()
		return nil
	}
	start := time.Now()
	err := w.store.Apply(p.changes)
	applyDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		w.log.Error(err, "Unable to write changes to the index, reloading the kinds", "changes", len(p.changes))
		for m := range p.mirrors {
			w.retrySync(m)
		}
		p.reset()
		return nil
	}
	for k, n := range p.counts {
		eventsTotal.WithLabelValues(k[0], k[1]).Add(n)
	}
	for m := range p.mirrors {
		touched[m] = struct{}{}
	}
	pubs := append([]catalog.Change(nil), p.pubs...)
	p.reset()
	return pubs
}

// replace makes the stored set of the kind exactly the informer's store. The first successful
// replace marks the mirror synced.
func (w *writer) replace(m *mirror) ([]catalog.Change, bool) {
	objs, err := informerObjects(m.informer)
	if err == nil {
		start := time.Now()
		err = w.store.Replace(m.gvk, objs)
		applyDuration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		w.log.Error(err, "Unable to load the kind into the index, retrying", "kind", m.label)
		w.retrySync(m)
		return nil, false
	}
	first := !m.synced
	m.synced = true
	m.syncedFlag.Store(true)
	if first {
		w.log.Info("Kind synced into the index", "kind", m.label, "objects", len(objs))
		w.cat.Set(m.gvk, catalog.Kind{Index: m.Owner(), Namespaced: m.namespaced, Synced: true})
		w.refresh(m.Owner())
		return nil, true
	}
	return []catalog.Change{{GVK: m.gvk}}, true
}

// retrySync queues a full replace of the kind after a pause.
func (w *writer) retrySync(m *mirror) {
	time.AfterFunc(resyncRetry, func() {
		select {
		case <-m.done:
		default:
			w.push(op{m: m, kind: opSync})
		}
	})
}

// scheduleRefresh asks for a reconcile of the mirror's ResourceIndex in countRefresh, unless one
// is already scheduled, so that status.objectCount follows changes without a write per event.
func (w *writer) scheduleRefresh(m *mirror) {
	if !m.countPending.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(countRefresh, func() {
		m.countPending.Store(false)
		select {
		case <-m.done:
		default:
			w.refresh(m.Owner())
		}
	})
}

// informerObjects lists the objects in an informer's store.
func informerObjects(inf any) ([]*unstructured.Unstructured, error) {
	s, ok := inf.(interface{ GetStore() toolscache.Store })
	if !ok {
		return nil, fmt.Errorf("informer %T does not expose its store", inf)
	}
	items := s.GetStore().List()
	objs := make([]*unstructured.Unstructured, 0, len(items))
	for _, it := range items {
		if u, ok := it.(*unstructured.Unstructured); ok {
			objs = append(objs, u)
		}
	}
	return objs, nil
}
