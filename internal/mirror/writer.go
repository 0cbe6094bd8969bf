package mirror

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
)

const (
	// maxQueued is how many watch events may wait for the writer before reflectors are held
	// back. Each holds a decoded object until it is written, so this bounds that memory.
	maxQueued = 4096
	// maxBatch is the most changes written in one transaction.
	maxBatch = 2000
	// countRefresh is the shortest time between two objectCount refreshes of a ResourceIndex.
	countRefresh = 5 * time.Second
	// relistGap separates two relists in the relist metric: deletes found closer than this
	// belong to one relist.
	relistGap = 2 * time.Second
)

// Index is what the writer needs of the index. *index.Store implements it.
type Index interface {
	Apply(changes []index.Change, obs index.Observer) error
	BeginRelist(gvk schema.GroupVersionKind, cluster string) error
	ApplyRelist(gvk schema.GroupVersionKind, cluster string, objs []*unstructured.Unstructured, obs index.Observer) error
	CommitRelist(gvk schema.GroupVersionKind, cluster string, obs index.Observer) error
}

type opKind uint8

const (
	// opUpsert and opDelete are watch events, written in batches.
	opUpsert opKind = iota
	opDelete
	// opBegin, opPage and opCommit are the steps of a relist; their caller waits for them.
	opBegin
	opPage
	opCommit
)

// op is one unit of work for the writer.
type op struct {
	m     *Mirror
	kind  opKind
	objs  []*unstructured.Unstructured
	event string     // add, update or delete, for the events metric
	done  chan error // relist steps only
}

// Writer is the single goroutine that writes every mirror's changes to the index. It drains
// whatever is queued, writes watch events in one transaction and only then publishes the
// changes to the catalog. It implements manager.Runnable.
type Writer struct {
	idx Index
	cat *catalog.Catalog
	// refresh asks for a reconcile of the named ResourceIndex.
	refresh func(name string)
	log     logr.Logger

	mu      sync.Mutex
	notFull *sync.Cond
	queue   []op
	closed  bool
	wake    chan struct{}
	// stopped is closed when Start returns; the mirrors stop with the writer.
	stopped chan struct{}

	// applyMu is held while the index is written for a mirror, so that stopping a mirror (which
	// drops its rows) never interleaves with a batch that would write them back.
	applyMu sync.Mutex

	// gc raises the garbage collector's target while relists are written.
	gc relistGC
}

// NewWriter returns a writer to idx that publishes to cat and calls refresh with the name of
// a ResourceIndex whose status may have changed.
func NewWriter(idx Index, cat *catalog.Catalog, refresh func(string)) *Writer {
	w := &Writer{
		idx: idx, cat: cat, refresh: refresh, log: ctrl.Log.WithName("mirror"),
		wake: make(chan struct{}, 1), stopped: make(chan struct{}),
	}
	w.notFull = sync.NewCond(&w.mu)
	return w
}

// push queues an operation, waiting while the queue is full. It reports false once the
// writer has stopped.
func (w *Writer) push(o op) bool {
	w.mu.Lock()
	for len(w.queue) >= maxQueued && !w.closed {
		w.notFull.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, o)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// do queues a relist step behind the events queued before it and waits for its outcome.
func (w *Writer) do(ctx context.Context, o op) error {
	o.done = make(chan error, 1)
	if !w.push(o) {
		return errStopped
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start runs the writer until ctx ends.
func (w *Writer) Start(ctx context.Context) error {
	w.log = ctrl.LoggerFrom(ctx).WithName("mirror")
	defer w.gc.endAll()
	defer func() {
		w.mu.Lock()
		if !w.closed {
			close(w.stopped)
		}
		w.closed = true
		for _, o := range w.queue {
			if o.done != nil {
				o.done <- errStopped
			}
		}
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
func (w *Writer) NeedLeaderElection() bool { return false }

// withLock runs fn while no batch is written.
func (w *Writer) withLock(fn func()) {
	w.applyMu.Lock()
	defer w.applyMu.Unlock()
	fn()
}

// WithLock runs fn while no batch is written, for changes to the kinds of the index.
func (w *Writer) WithLock(fn func()) { w.withLock(fn) }

// observer collects the changes of one transaction for the catalog. For kinds that no
// subscriber wants single-object changes of, it asks the index for no old versions and
// publishes one kind-wide change instead.
type observer struct {
	cat      *catalog.Catalog
	wants    map[schema.GroupVersionKind]bool
	changes  []catalog.Change
	kindWide map[schema.GroupVersionKind]struct{}
}

func newObserver(cat *catalog.Catalog) *observer {
	return &observer{cat: cat, wants: map[schema.GroupVersionKind]bool{}, kindWide: map[schema.GroupVersionKind]struct{}{}}
}

func (o *observer) WantsOld(gvk schema.GroupVersionKind) bool {
	want, ok := o.wants[gvk]
	if !ok {
		want = o.cat.Wants(gvk)
		o.wants[gvk] = want
	}
	return want
}

func (o *observer) Observe(wr index.Written) {
	if !o.WantsOld(wr.GVK) {
		o.kindWide[wr.GVK] = struct{}{}
		return
	}
	o.changes = append(o.changes, catalog.Change{GVK: wr.GVK, Old: wr.Old, New: wr.New, Cluster: wr.Cluster})
}

// result is what a committed write leaves to do once the lock is released.
type result struct {
	pubs  []catalog.Change
	dones []func()
}

func (r *result) take(o *observer) {
	r.pubs = append(r.pubs, o.changes...)
	for gvk := range o.kindWide {
		r.pubs = append(r.pubs, catalog.Change{GVK: gvk})
	}
	o.changes = o.changes[:0]
	clear(o.kindWide)
}

func (w *Writer) process(batch []op) {
	var res result
	touched := map[*Mirror]struct{}{}
	var events []index.Change
	var eventOps []op

	flush := func() {
		if len(events) == 0 {
			return
		}
		obs := newObserver(w.cat)
		start := time.Now()
		err := w.idx.Apply(events, obs)
		applyDuration.Observe(time.Since(start).Seconds())
		mirrors := map[*Mirror]struct{}{}
		for _, o := range eventOps {
			mirrors[o.m] = struct{}{}
		}
		if err != nil {
			// Nothing was written. A new reflector relists each kind, after a backoff, which
			// brings back whatever these events carried.
			w.log.Error(err, "Unable to write changes to the index, relisting the kinds", "changes", len(events))
			for m := range mirrors {
				m.setFailure(err)
				m.relist()
			}
		} else {
			for _, o := range eventOps {
				eventsTotal.WithLabelValues(o.m.label, o.event).Inc()
			}
			res.take(obs)
			for m := range mirrors {
				touched[m] = struct{}{}
				m.setFailure(nil)
			}
		}
		events, eventOps = events[:0], eventOps[:0]
	}

	w.applyMu.Lock()
	for _, o := range batch {
		m := o.m
		if m.halted {
			if o.done != nil {
				o.done <- errStopped
			}
			continue
		}
		switch o.kind {
		case opUpsert, opDelete:
			if !m.synced {
				// Not listed yet: the relist writes every object.
				continue
			}
			events = append(events, index.Change{Object: o.objs[0], Deleted: o.kind == opDelete, Cluster: m.cluster})
			eventOps = append(eventOps, o)
			if len(events) >= maxBatch {
				flush()
			}
		default:
			flush()
			err := w.relistStep(m, o, &res)
			if err == nil {
				touched[m] = struct{}{}
			}
			d := o.done
			res.dones = append(res.dones, func() { d <- err })
		}
	}
	flush()
	w.applyMu.Unlock()

	// Publish only after commit, outside the lock: subscribers may read the index.
	for _, ch := range res.pubs {
		w.cat.Publish(ch)
	}
	for _, done := range res.dones {
		done()
	}
	for m := range touched {
		w.scheduleRefresh(m)
	}
}

// relistStep writes one step of a relist.
func (w *Writer) relistStep(m *Mirror, o op, res *result) error {
	// Before the first sync nobody can query the kind, so nothing is published.
	var obs *observer
	var iobs index.Observer
	if m.synced {
		obs = newObserver(w.cat)
		iobs = obs
	}
	start := time.Now()
	var err error
	if o.kind != opCommit {
		w.gc.step(m)
	}
	switch o.kind {
	case opBegin:
		err = w.idx.BeginRelist(m.gvk, m.cluster)
	case opPage:
		err = w.idx.ApplyRelist(m.gvk, m.cluster, o.objs, iobs)
	case opCommit:
		var deleted int
		counter := &deleteCounter{next: iobs}
		err = w.idx.CommitRelist(m.gvk, m.cluster, counter)
		deleted = counter.deletes
		if err == nil {
			w.committed(m, deleted)
		}
	}
	if o.kind != opBegin {
		applyDuration.Observe(time.Since(start).Seconds())
	}
	if o.kind == opCommit || err != nil {
		// A failed relist begins again after a backoff, with a step that raises the target.
		w.gc.end(m)
	}
	if err != nil {
		w.log.Error(err, "Unable to write a relist to the index, retrying with backoff", "kind", m.label)
		m.setFailure(err)
		return err
	}
	m.setFailure(nil)
	if obs != nil {
		res.take(obs)
	}
	return nil
}

// committed records a committed relist: the first one marks the mirror synced, later ones
// that deleted objects count as relists that found deletes.
func (w *Writer) committed(m *Mirror, deleted int) {
	if !m.synced {
		m.synced = true
		m.syncedFlag.Store(true)
		m.log.Info("Kind synced into the index")
		if m.cluster == "" {
			w.cat.Set(m.gvk, catalog.Kind{Index: m.Owner(), Namespaced: m.namespaced, Synced: true})
		} else {
			// The kind is queryable already (the local cluster decides that): a member's objects
			// arriving change the answers, which a live query learns like any relist.
			w.cat.Publish(catalog.Change{GVK: m.gvk})
		}
		w.refresh(m.Owner())
		return
	}
	if deleted > 0 {
		eventsTotal.WithLabelValues(m.label, "delete").Add(float64(deleted))
		if now := time.Now(); now.Sub(m.lastTombstone) > relistGap {
			relistsTotal.WithLabelValues(m.label).Inc()
			m.log.Info("Relist found deleted objects", "deleted", deleted)
			m.lastTombstone = now
		}
	}
}

// deleteCounter counts the deletes of a relist commit and passes changes on.
type deleteCounter struct {
	next    index.Observer
	deletes int
}

func (d *deleteCounter) WantsOld(gvk schema.GroupVersionKind) bool {
	return d.next != nil && d.next.WantsOld(gvk)
}

func (d *deleteCounter) Observe(wr index.Written) {
	if wr.New == nil {
		d.deletes++
	}
	if d.next != nil {
		d.next.Observe(wr)
	}
}

// scheduleRefresh asks for a reconcile of the mirror's ResourceIndex in countRefresh, unless one
// is already scheduled, so that status.objectCount follows changes without a write per event.
func (w *Writer) scheduleRefresh(m *Mirror) {
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
