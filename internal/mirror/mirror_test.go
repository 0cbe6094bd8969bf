package mirror

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

// listSource serves a list and a watch that the test can break, standing in for the API server
// of one kind so that the informer's relist behaviour can be driven exactly.
type listSource struct {
	gvk   schema.GroupVersionKind
	mu    sync.Mutex
	items []string
	rv    int
	w     *watch.FakeWatcher
	lists int
}

func (s *listSource) object(name string) unstructured.Unstructured {
	u := unstructured.Unstructured{}
	u.SetGroupVersionKind(s.gvk)
	u.SetNamespace("ns")
	u.SetName(name)
	u.SetUID(types.UID("uid-" + name))
	u.SetResourceVersion("1")
	return u
}

func (s *listSource) listerWatcher() *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.lists++
			s.rv++
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(s.gvk.GroupVersion().WithKind(s.gvk.Kind + "List"))
			list.SetResourceVersion(fmt.Sprint(s.rv))
			for _, n := range s.items {
				list.Items = append(list.Items, s.object(n))
			}
			return list, nil
		},
		WatchFuncWithContext: func(_ context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
				return nil, apierrors.NewBadRequest("streaming lists are not served here")
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			s.w = watch.NewFake()
			return s.w, nil
		},
	}
}

// expire removes objects behind the informer's back and ends its watch with 410 Gone, as an API
// server does when the informer's resource version is too old: the informer must relist.
func (s *listSource) expire(keep ...string) {
	s.mu.Lock()
	s.items = keep
	w := s.w
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

// TestRelistDeletesVanishedObjects checks that objects deleted while a watch was broken leave the
// index when the informer relists, and that the relist is counted.
func TestRelistDeletesVanishedObjects(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	gvk := schema.GroupVersionKind{Group: "relist.example.com", Version: "v1", Kind: "Widget"}
	st, err := index.Open(index.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = st.Close() }()
	g.Expect(st.Register(gvk, index.KindConfig{Namespaced: true})).To(Succeed())
	// A row left over from before a restart, which the initial replace must drop.
	stale := &unstructured.Unstructured{}
	stale.SetGroupVersionKind(gvk)
	stale.SetNamespace("ns")
	stale.SetName("stale")
	g.Expect(st.Apply([]index.Change{{Object: stale}}, nil)).To(Succeed())

	cat := catalog.New()
	var mu sync.Mutex
	var deleted []string
	cat.Subscribe(func(c catalog.Change) {
		if c.GVK == gvk && c.New == nil && c.Old != nil {
			mu.Lock()
			deleted = append(deleted, c.Old.GetName())
			mu.Unlock()
		}
	})
	w := newWriter(st, cat, func(string) {})
	go func() { _ = w.Start(ctx) }()

	src := &listSource{gvk: gvk, items: []string{"a", "b", "c"}}
	inf := toolscache.NewSharedIndexInformer(src.listerWatcher(), &unstructured.Unstructured{}, 0, toolscache.Indexers{})
	m := &mirror{gvk: gvk, label: kindLabel(gvk), namespaced: true, informer: inf, done: make(chan struct{}), owner: "widgets"}
	defer close(m.done)
	reg, err := inf.AddEventHandlerWithOptions(m.handler(w), toolscache.HandlerOptions{ResyncPeriod: ptr.To(time.Duration(0))})
	g.Expect(err).NotTo(HaveOccurred())
	go inf.RunWithContext(ctx)
	g.Eventually(reg.HasSynced, timeout, interval).Should(BeTrue())
	w.push(op{m: m, kind: opSync})

	names := func(g Gomega) []string {
		q, err := query.Compile(query.Spec{GVK: gvk, Sort: []query.SortKey{{Path: "metadata.name"}}})
		g.Expect(err).NotTo(HaveOccurred())
		page, err := st.Search(context.Background(), q, "")
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, it := range page.Items {
			out = append(out, it.Name)
		}
		return out
	}
	g.Eventually(func(g Gomega) {
		g.Expect(m.Synced()).To(BeTrue())
		g.Expect(names(g)).To(Equal([]string{"a", "b", "c"}))
	}, timeout, interval).Should(Succeed())

	before := testutil.ToFloat64(relistsTotal.WithLabelValues(m.label))
	src.expire("a", "c")
	g.Eventually(src.listCount, timeout, interval).Should(BeNumerically(">=", 2))
	g.Eventually(func(g Gomega) {
		g.Expect(names(g)).To(Equal([]string{"a", "c"}))
	}, timeout, interval).Should(Succeed())
	g.Expect(testutil.ToFloat64(relistsTotal.WithLabelValues(m.label))).To(Equal(before + 1))
	mu.Lock()
	g.Expect(deleted).To(Equal([]string{"b"}))
	mu.Unlock()
}
