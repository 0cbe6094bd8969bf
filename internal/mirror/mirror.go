package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
	"k8s.io/utils/clock"
)

const (
	// pageSize is the number of objects per LIST page: the most objects of a kind decoded at
	// once during a relist.
	pageSize = 500
	// restartBackoffReset is how long a mirror must write without failing before its restart
	// backoff starts over from restartBackoffInit.
	restartBackoffReset = 2 * time.Minute
	restartBackoffInit  = time.Second
	restartBackoffMax   = time.Minute
)

// Mirror copies one kind into the index. Create it with Writer.NewMirror, then Start it.
type Mirror struct {
	gvk        schema.GroupVersionKind
	cluster    string // "" for the local cluster
	label      string
	namespaced bool
	lw         toolscache.ListerWatcherWithContext
	w          *Writer
	log        logr.Logger

	mu      sync.Mutex
	owner   string   // name of the ResourceIndex that mirrors the kind
	fields  []string // fields registered in the index
	failure error    // the last failed write, until a write succeeds
	cancel  context.CancelFunc

	done    chan struct{} // closed when Stop is called
	stopped chan struct{} // closed when the run loop has returned
	restart chan struct{} // asks the run loop for a new reflector, so a relist

	// Guarded by Writer.applyMu.
	halted        bool
	synced        bool
	lastTombstone time.Time

	syncedFlag   atomic.Bool // readable without applyMu
	countPending atomic.Bool // a status refresh is scheduled
}

// Config describes a kind to mirror.
type Config struct {
	GVK        schema.GroupVersionKind
	Namespaced bool
	// Cluster names the cluster the ListerWatcher reads: "" for the local cluster, or a
	// MemberCluster's name. The index keeps each cluster's objects apart.
	Cluster string
	// Owner is the name of the ResourceIndex that mirrors the kind.
	Owner string
	// Fields are the fields registered in the index for the kind.
	Fields []string
	// ListerWatcher lists and watches the kind. Production passes one from
	// NewListerWatcher; tests may serve their own.
	ListerWatcher toolscache.ListerWatcherWithContext
}

// NewMirror returns a mirror of a kind that writes through w. The kind must be registered in
// the index.
func (w *Writer) NewMirror(cfg Config) *Mirror {
	label := KindLabel(cfg.GVK)
	return &Mirror{
		gvk:        cfg.GVK,
		cluster:    cfg.Cluster,
		label:      label,
		namespaced: cfg.Namespaced,
		lw:         cfg.ListerWatcher,
		w:          w,
		log:        mirrorLog(w.log, label, cfg.Cluster),
		owner:      cfg.Owner,
		fields:     cfg.Fields,
		done:       make(chan struct{}),
		stopped:    make(chan struct{}),
		restart:    make(chan struct{}, 1),
	}
}

// mirrorLog is a mirror's logger: it names the kind and, for a member, the cluster.
func mirrorLog(log logr.Logger, label, cluster string) logr.Logger {
	log = log.WithValues("kind", label)
	if cluster != "" {
		log = log.WithValues("cluster", cluster)
	}
	return log
}

// GVK returns the mirrored kind.
func (m *Mirror) GVK() schema.GroupVersionKind { return m.gvk }

// Cluster returns the mirrored cluster ("" for the local cluster).
func (m *Mirror) Cluster() string { return m.cluster }

// Namespaced reports whether objects of the kind live in namespaces.
func (m *Mirror) Namespaced() bool { return m.namespaced }

// Owner returns the name of the ResourceIndex that owns the mirror.
func (m *Mirror) Owner() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owner
}

// Fields returns the fields registered for the kind.
func (m *Mirror) Fields() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fields
}

// SetOwner records a new owner or new fields.
func (m *Mirror) SetOwner(owner string, fields []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owner = owner
	m.fields = fields
}

// Synced reports whether the initial list of the kind is in the index.
func (m *Mirror) Synced() bool { return m.syncedFlag.Load() }

// Failure returns the error of the last write to the index, while writes fail; nil once a
// write succeeded again.
func (m *Mirror) Failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failure
}

// setFailure records the outcome of a write and asks for a status refresh when it changes
// whether writes fail.
func (m *Mirror) setFailure(err error) {
	m.mu.Lock()
	changed := (m.failure == nil) != (err == nil)
	m.failure = err
	m.mu.Unlock()
	if changed {
		m.w.refresh(m.Owner())
	}
}

// Start runs the mirror until Stop is called, ctx ends or the writer stops.
func (m *Mirror) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-m.w.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	m.mu.Lock()
	m.cancel = cancel
	m.mu.Unlock()
	go m.run(ctx)
}

// Stop ends the mirror and waits until its reflector has returned. Writes already queued
// for it are dropped.
func (m *Mirror) Stop() {
	m.mu.Lock()
	cancel := m.cancel
	m.mu.Unlock()
	select {
	case <-m.done:
	default:
		close(m.done)
	}
	if cancel != nil {
		cancel()
		<-m.stopped
	}
	m.w.withLock(func() { m.halted = true })
}

// run keeps a reflector running. client-go's Reflector does the listing and watching, with
// its pagination, bookmarks, relist after 410 Gone and exponential backoff on failures; run
// only replaces it with a fresh one, after a backoff of its own, when a write of a watch event
// failed: the new reflector relists, which repairs whatever the failed write left out.
func (m *Mirror) run(ctx context.Context) {
	defer close(m.stopped)
	backoff := wait.Backoff{Duration: restartBackoffInit, Factor: 2, Jitter: 0.2, Steps: 8, Cap: restartBackoffMax}
	delay := backoff.DelayWithReset(clock.RealClock{}, restartBackoffReset)
	for {
		rctx, cancel := context.WithCancel(ctx)
		expected := &unstructured.Unstructured{}
		expected.SetGroupVersionKind(m.gvk)
		r := toolscache.NewReflectorWithOptions(&listerWatcher{m: m, ctx: rctx}, expected, &reflectorStore{m: m, ctx: rctx},
			toolscache.ReflectorOptions{Name: "mirror " + m.label, TypeDescription: m.label})
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			r.RunWithContext(rctx)
		}()
		select {
		case <-ctx.Done():
			cancel()
			<-exited
			return
		case <-m.restart:
			cancel()
			<-exited
		}
		d := delay()
		m.log.Info("Relisting after a failed write", "after", d.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// relist asks the run loop for a new reflector.
func (m *Mirror) relist() {
	select {
	case m.restart <- struct{}{}:
	default:
	}
}

// listerWatcher wraps the kind's ListerWatcher so that a LIST is written to the index page by
// page as it arrives. It hands the reflector a list without items, so neither the pager nor
// the reflector ever holds the list: the reflector then calls Replace, which commits the relist.
type listerWatcher struct {
	m   *Mirror
	ctx context.Context // the reflector's
}

// IsWatchListSemanticsUnSupported tells the reflector whether the kind's ListerWatcher can
// stream a list (WatchList). When it can, the reflector opens the stream and WatchWithContext
// writes the streamed objects to the index page by page, so the reflector's temporary store
// stays empty.
func (l *listerWatcher) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(l.m.lw)
}

// List is ListWithContext with the reflector's context.
func (l *listerWatcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(l.ctx, opts)
}

// Watch is WatchWithContext with the reflector's context.
func (l *listerWatcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(l.ctx, opts)
}

// ListWithContext lists every object of the kind, page by page, writing each page to the
// index, and returns an empty list with the list's resourceVersion. The reflector's options
// are honoured loosely on purpose: every list is paginated and reads the latest state
// (resourceVersion ""), which is at least as fresh as any version the reflector asks for. The
// watch cache ignores limits for resourceVersion "0", and the reflector turns pagination off
// when it relists at a known version; either would put the whole list in one response.
func (l *listerWatcher) ListWithContext(ctx context.Context, _ metav1.ListOptions) (runtime.Object, error) {
	for attempt := 0; ; attempt++ {
		list, err := l.listOnce(ctx)
		if err != nil && apierrors.IsResourceExpired(err) && attempt < 3 {
			// The continue token expired between two pages: start over.
			continue
		}
		if err != nil {
			watchErrorsTotal.WithLabelValues(l.m.label).Inc()
		}
		return list, err
	}
}

func (l *listerWatcher) listOnce(ctx context.Context) (runtime.Object, error) {
	m := l.m
	if err := m.w.do(ctx, op{m: m, kind: opBegin}); err != nil {
		return nil, err
	}
	// The next page is fetched while the writer writes the previous one.
	pages := pager{m: m, ctx: ctx}
	opts := metav1.ListOptions{Limit: pageSize}
	var rv string
	for {
		obj, err := m.lw.ListWithContext(ctx, opts)
		if err != nil {
			return nil, errors.Join(err, pages.written())
		}
		page, ok := obj.(*unstructured.UnstructuredList)
		if !ok {
			return nil, errors.Join(fmt.Errorf("listing %s: got %T, want an unstructured list", m.label, obj), pages.written())
		}
		if rv == "" {
			rv = page.GetResourceVersion()
		}
		for i := range page.Items {
			u := &page.Items[i]
			if u.GetKind() == "" {
				u.SetGroupVersionKind(m.gvk)
			}
			pages.page = append(pages.page, trim(u))
		}
		last := page.GetContinue() == ""
		if err := pages.flush(last); err != nil {
			return nil, err
		}
		if last {
			out := &unstructured.UnstructuredList{}
			out.SetGroupVersionKind(m.gvk.GroupVersion().WithKind(m.gvk.Kind + "List"))
			out.SetResourceVersion(rv)
			return out, nil
		}
		opts.Continue = page.GetContinue()
	}
}

// WatchWithContext watches the kind, counting watches that end with an error. A watch that
// streams a list (sendInitialEvents) writes the initial events to the index as a relist.
func (l *listerWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := l.m.lw.WatchWithContext(ctx, opts)
	if err != nil {
		watchErrorsTotal.WithLabelValues(l.m.label).Inc()
		return nil, err
	}
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		return l.m.streamRelist(ctx, w), nil
	}
	label := l.m.label
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if e.Type == watch.Error {
			watchErrorsTotal.WithLabelValues(label).Inc()
		}
		return e, true
	}), nil
}

// reflectorStore is the reflector's store. It keeps nothing: each event goes to the writer's
// queue, and Replace commits the relist that the lister wrote page by page.
type reflectorStore struct {
	m   *Mirror
	ctx context.Context // the reflector's
}

func (s *reflectorStore) Add(obj any) error    { return s.push(obj, opUpsert, "add") }
func (s *reflectorStore) Update(obj any) error { return s.push(obj, opUpsert, "update") }
func (s *reflectorStore) Delete(obj any) error { return s.push(obj, opDelete, "delete") }

func (s *reflectorStore) push(obj any, kind opKind, event string) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u == nil {
		return fmt.Errorf("mirror of %s: got %T, want an unstructured object", s.m.label, obj)
	}
	s.m.w.push(op{m: s.m, kind: kind, objs: []*unstructured.Unstructured{trim(u)}, event: event})
	return nil
}

// Replace commits the relist. The items are empty: the lister wrote them already.
func (s *reflectorStore) Replace([]any, string) error {
	return s.m.w.do(s.ctx, op{m: s.m, kind: opCommit})
}

// Resync does nothing: there is no cache to resync, and the reflector runs without a resync
// period.
func (s *reflectorStore) Resync() error { return nil }

// trim drops what the index never stores before the object waits in the writer's queue.
func trim(u *unstructured.Unstructured) *unstructured.Unstructured {
	out, err := TransformObject(u)
	if t, ok := out.(*unstructured.Unstructured); ok && err == nil {
		return t
	}
	return u
}

var errStopped = errors.New("mirror stopped")
