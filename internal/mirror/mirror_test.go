package mirror

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"

	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

const (
	timeout  = 30 * time.Second
	interval = 50 * time.Millisecond
)

var widgetGVK = schema.GroupVersionKind{Group: "relist.example.com", Version: "v1", Kind: "Widget"}

// listSource serves a paginated list and a watch that the test can break, standing in for the
// API server of one kind so that the reflector's relist behaviour can be driven exactly.
type listSource struct {
	gvk   schema.GroupVersionKind
	mu    sync.Mutex
	items []string
	// object builds the listed object of a name; nil gives a small labelled one.
	object func(name string) unstructured.Unstructured
	rv     int
	w      *watch.FakeWatcher
	lists  int
	pages  int
	// stream serves streamed lists (sendInitialEvents): the items as ADDED events, then the
	// bookmark that ends them. Without it such a watch is refused, as by an API server
	// without WatchList, and the reflector lists.
	stream  bool
	streams int
}

func (s *listSource) build(name string) unstructured.Unstructured {
	if s.object != nil {
		return s.object(name)
	}
	u := unstructured.Unstructured{}
	u.SetGroupVersionKind(s.gvk)
	u.SetNamespace("ns")
	u.SetName(name)
	u.SetUID(types.UID("uid-" + name))
	u.SetResourceVersion("1")
	u.SetLabels(map[string]string{"app": name})
	return u
}

func (s *listSource) listerWatcher() toolscache.ListerWatcherWithContext {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(_ context.Context, opts metav1.ListOptions) (kruntime.Object, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			start := 0
			if opts.Continue == "" {
				s.lists++
				s.rv++
			} else {
				start, _ = strconv.Atoi(opts.Continue)
			}
			s.pages++
			end := len(s.items)
			if opts.Limit > 0 && start+int(opts.Limit) < end {
				end = start + int(opts.Limit)
			}
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(s.gvk.GroupVersion().WithKind(s.gvk.Kind + "List"))
			list.SetResourceVersion(strconv.Itoa(s.rv))
			for _, n := range s.items[start:end] {
				list.Items = append(list.Items, s.build(n))
			}
			if end < len(s.items) {
				list.SetContinue(strconv.Itoa(end))
			}
			return list, nil
		},
		WatchFuncWithContext: func(_ context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if opts.SendInitialEvents == nil || !*opts.SendInitialEvents {
				s.w = watch.NewFake()
				return s.w, nil
			}
			if !s.stream {
				return nil, apierrors.NewBadRequest("streaming lists are not served here")
			}
			s.streams++
			s.rv++
			s.w = watch.NewFakeWithChanSize(len(s.items)+1, false)
			for _, n := range s.items {
				u := s.build(n)
				s.w.Add(&u)
			}
			end := &unstructured.Unstructured{}
			end.SetGroupVersionKind(s.gvk)
			end.SetResourceVersion(strconv.Itoa(s.rv))
			end.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
			s.w.Action(watch.Bookmark, end)
			return s.w, nil
		},
	}
}

// watcher returns the current watch, once the reflector has opened one.
func (s *listSource) watcher() *watch.FakeWatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w
}

// expire removes objects behind the reflector's back and ends its watch with 410 Gone, as an
// API server does when the reflector's resource version is too old: the reflector must relist.
func (s *listSource) expire(keep ...string) {
	s.mu.Lock()
	s.items = keep
	w := s.w
	s.w = nil
	s.mu.Unlock()
	gone := apierrors.NewResourceExpired("too old resource version")
	w.Error(&gone.ErrStatus)
	w.Stop()
}

func (s *listSource) listCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

// harness is a writer and an index for one test.
type harness struct {
	store *index.Store
	idx   Index
	cat   *catalog.Catalog
	w     *Writer
}

func newHarness(t *testing.T, g Gomega, wrap func(*index.Store) Index) *harness {
	st, err := index.Open(index.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = st.Close() })
	g.Expect(st.Register(widgetGVK, index.KindConfig{Namespaced: true})).To(Succeed())
	h := &harness{store: st, idx: st, cat: catalog.New()}
	if wrap != nil {
		h.idx = wrap(st)
	}
	h.w = NewWriter(h.idx, h.cat, func(string) {})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = h.w.Start(ctx) }()
	return h
}

func (h *harness) start(t *testing.T, src *listSource) *Mirror {
	m := h.w.NewMirror(Config{GVK: widgetGVK, Namespaced: true, Owner: "widgets", ListerWatcher: src.listerWatcher()})
	m.Start(context.Background())
	t.Cleanup(m.Stop)
	return m
}

// names returns the sorted names of the stored objects of the kind.
func (h *harness) names(g Gomega) []string {
	q, err := query.Compile(query.Spec{GVK: widgetGVK, Sort: []query.SortKey{{Path: "metadata.name"}}, Limit: 500})
	g.Expect(err).NotTo(HaveOccurred())
	page, err := h.store.Search(context.Background(), q, "")
	g.Expect(err).NotTo(HaveOccurred())
	out := []string{}
	for _, it := range page.Items {
		out = append(out, it.Name)
	}
	return out
}

// TestRelistDeletesVanishedObjects checks that objects deleted while a watch was broken leave
// the index when the reflector relists, that the relist is counted, and that a live query that
// matched a deleted object hears of it, with the labels the object had, although the relist
// only learns the object's absence.
func TestRelistDeletesVanishedObjects(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, g, nil)
	// A row left over from before a restart, which the initial list must drop.
	writeStale(g, h.store)

	// A live query on app=b, as the SearchQuery controller subscribes one.
	q, err := query.Compile(query.Spec{GVK: widgetGVK, Labels: labels.SelectorFromSet(labels.Set{"app": "b"})})
	g.Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	var requeued []string
	h.cat.Subscribe(func(c catalog.Change) {
		if c.GVK == widgetGVK && (c.KindWide() || q.Matches(c.Old) || q.Matches(c.New)) {
			mu.Lock()
			defer mu.Unlock()
			if c.Old != nil && c.New == nil {
				requeued = append(requeued, "delete of "+c.Old.GetName())
			} else {
				requeued = append(requeued, "other")
			}
		}
	}, func(gvk schema.GroupVersionKind) bool { return gvk == widgetGVK })

	src := &listSource{gvk: widgetGVK, items: []string{"a", "b", "c"}}
	m := h.start(t, src)
	g.Eventually(func(g Gomega) {
		g.Expect(m.Synced()).To(BeTrue())
		g.Expect(h.names(g)).To(Equal([]string{"a", "b", "c"}))
	}, timeout, interval).Should(Succeed())
	g.Eventually(src.watcher, timeout, interval).ShouldNot(BeNil())
	mu.Lock()
	requeued = nil
	mu.Unlock()

	before := testutil.ToFloat64(relistsTotal.WithLabelValues(m.label))
	src.expire("a", "c")
	g.Eventually(src.listCount, timeout, interval).Should(BeNumerically(">=", 2))
	g.Eventually(func(g Gomega) {
		g.Expect(h.names(g)).To(Equal([]string{"a", "c"}))
	}, timeout, interval).Should(Succeed())
	g.Expect(testutil.ToFloat64(relistsTotal.WithLabelValues(m.label))).To(Equal(before + 1))
	mu.Lock()
	g.Expect(requeued).To(Equal([]string{"delete of b"}))
	mu.Unlock()
	g.Expect(m.Failure()).NotTo(HaveOccurred())
}

// faultyIndex fails every write while fail is set.
type faultyIndex struct {
	*index.Store
	fail atomic.Bool
}

var errInjected = errors.New("injected write failure")

func (f *faultyIndex) check() error {
	if f.fail.Load() {
		return errInjected
	}
	return nil
}

func (f *faultyIndex) Apply(c []index.Change, obs index.Observer) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Apply(c, obs)
}

func (f *faultyIndex) BeginRelist(gvk schema.GroupVersionKind, cluster string) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.BeginRelist(gvk, cluster)
}

func (f *faultyIndex) ApplyRelist(gvk schema.GroupVersionKind, cluster string, objs []*unstructured.Unstructured, obs index.Observer) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.ApplyRelist(gvk, cluster, objs, obs)
}

func (f *faultyIndex) CommitRelist(gvk schema.GroupVersionKind, cluster string, obs index.Observer) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.CommitRelist(gvk, cluster, obs)
}

// TestWriteFailureRecovers checks that a failed write of a watch event is reported and
// repaired by a relist once writes succeed again.
func TestWriteFailureRecovers(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) { testWriteFailureRecovers(t, stream) })
	}
}

func testWriteFailureRecovers(t *testing.T, stream bool) {
	g := NewWithT(t)
	var faulty *faultyIndex
	h := newHarness(t, g, func(s *index.Store) Index {
		faulty = &faultyIndex{Store: s}
		return faulty
	})
	src := &listSource{gvk: widgetGVK, items: []string{"a"}, stream: stream}
	faulty.fail.Store(true)
	m := h.start(t, src)
	g.Eventually(m.Failure, timeout, interval).Should(MatchError(errInjected))
	g.Expect(m.Synced()).To(BeFalse())
	faulty.fail.Store(false)
	g.Eventually(m.Synced, timeout, interval).Should(BeTrue())
	g.Expect(m.Failure()).NotTo(HaveOccurred())
	g.Eventually(src.watcher, timeout, interval).ShouldNot(BeNil())

	faulty.fail.Store(true)
	src.mu.Lock()
	src.items = append(src.items, "b")
	src.mu.Unlock()
	b := src.build("b")
	src.watcher().Add(&b)
	g.Eventually(m.Failure, timeout, interval).Should(MatchError(errInjected))
	faulty.fail.Store(false)
	g.Eventually(func(g Gomega) {
		g.Expect(h.names(g)).To(Equal([]string{"a", "b"}))
		g.Expect(m.Failure()).NotTo(HaveOccurred())
	}, timeout, interval).Should(Succeed())
}

// TestNoCopyAfterSync mirrors 20,000 objects of ~2 KB and checks that, once they are in the
// index and garbage is collected, the Go heap grew by less than the index's own bytes plus a
// small bound per object: no decoded copy of the objects stays behind. An informer cache
// would keep ~16 KB of heap per object of this size.
func TestNoCopyAfterSync(t *testing.T) {
	if testing.Short() {
		t.Skip("mirrors 20,000 objects")
	}
	const n = 20000
	g := NewWithT(t)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("w-%05d", i)
	}
	src := &listSource{gvk: widgetGVK, items: names, object: bigWidget}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	h := newHarness(t, g, nil)
	m := h.start(t, src)
	g.Eventually(m.Synced, 5*time.Minute, 100*time.Millisecond).Should(BeTrue())
	count, err := h.store.Count(widgetGVK)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(count).To(Equal(int64(n)))
	g.Expect(src.pages).To(BeNumerically(">=", n/pageSize), "the list was read page by page")

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	dbBytes, err := h.store.Bytes()
	g.Expect(err).NotTo(HaveOccurred())
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// The bound per object covers the reflector's bookkeeping and SQLite's page cache, which
	// is capped in total; a decoded object of this size alone takes ~16 KB.
	const perObject = 512
	t.Logf("heap grew by %d bytes (%d per object); the index holds %d bytes (%d per object)",
		grown, grown/n, dbBytes, dbBytes/n)
	g.Expect(grown).To(BeNumerically("<", dbBytes+perObject*n))
}

// bigWidget is an object of about 2 KB of JSON, like the benchmark's Templates.
func bigWidget(name string) unstructured.Unstructured {
	containers := make([]any, 0, 4)
	for i := range 4 {
		containers = append(containers, map[string]any{
			"name":  fmt.Sprintf("c%d", i),
			"image": fmt.Sprintf("registry.example.com/team/app-%d:v1.2.%d", i, i),
			"env": []any{
				map[string]any{"name": "LOG_LEVEL", "value": "info"},
				map[string]any{"name": "REGION", "value": "eu-west-1"},
			},
			"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}},
		})
	}
	return unstructured.Unstructured{Object: map[string]any{
		"apiVersion": widgetGVK.GroupVersion().String(),
		"kind":       widgetGVK.Kind,
		"metadata": map[string]any{
			"name":              name,
			"namespace":         "ns",
			"uid":               "uid-" + name,
			"resourceVersion":   "1",
			"creationTimestamp": "2026-01-01T00:00:00Z",
			"labels":            map[string]any{"app": name, "team": "payments", "tier": "web"},
			"annotations":       map[string]any{"description": "a widget with enough fields to weigh about two kilobytes"},
		},
		"spec": map[string]any{"replicas": int64(3), "containers": containers},
		"status": map[string]any{"conditions": []any{
			map[string]any{"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"},
		}},
	}}
}

// TestStreamedList checks that a streamed list (WatchList) is written as a relist: every
// streamed object lands in the index, a row that the stream did not contain is dropped, no
// LIST is made, and the changes that follow the stream on the same watch are written too.
func TestStreamedList(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, g, nil)
	writeStale(g, h.store)

	const n = 1234 // three pages
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("w-%04d", i)
	}
	src := &listSource{gvk: widgetGVK, items: names, stream: true}
	m := h.start(t, src)
	g.Eventually(m.Synced, timeout, interval).Should(BeTrue())
	count, err := h.store.Count(widgetGVK)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(count).To(Equal(int64(n)))
	g.Expect(src.listCount()).To(Equal(0), "the stream replaced the LIST")

	added := src.build("added")
	src.watcher().Add(&added)
	g.Eventually(func() (int64, error) { return h.store.Count(widgetGVK) }, timeout, interval).Should(Equal(int64(n + 1)))
	g.Expect(m.Failure()).NotTo(HaveOccurred())
}

// writeStale writes the Widget ns/stale straight into the index, as a row left over from
// before a restart that the API server does not have.
func writeStale(g Gomega, store *index.Store) {
	stale := &unstructured.Unstructured{}
	stale.SetGroupVersionKind(widgetGVK)
	stale.SetNamespace("ns")
	stale.SetName("stale")
	g.Expect(store.Apply([]index.Change{{Object: stale}}, nil)).To(Succeed())
}
