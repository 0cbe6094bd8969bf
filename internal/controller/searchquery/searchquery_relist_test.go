package searchquery

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/index"
	indexmirror "github.com/kubesift/kubesift/internal/mirror"
)

// deafListerWatcher lists and watches through the API server, but can stop hearing watch
// events, as a watch whose connection silently broke, and then end the watch with 410 Gone so
// that the reflector relists.
type deafListerWatcher struct {
	inner toolscache.ListerWatcherWithContext
	deaf  atomic.Bool
	mu    sync.Mutex
	out   *watch.RaceFreeFakeWatcher
}

func (l *deafListerWatcher) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	return l.inner.ListWithContext(ctx, opts)
}

func (l *deafListerWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	in, err := l.inner.WatchWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	out := watch.NewRaceFreeFake()
	l.mu.Lock()
	l.out = out
	l.mu.Unlock()
	go func() {
		defer in.Stop()
		for e := range in.ResultChan() {
			if out.IsStopped() {
				return
			}
			if !l.deaf.Load() {
				out.Action(e.Type, e.Object)
			}
		}
		out.Stop()
	}()
	return out, nil
}

// expire ends the current watch with 410 Gone and hears again from the next one.
func (l *deafListerWatcher) expire() {
	l.mu.Lock()
	out := l.out
	l.mu.Unlock()
	l.deaf.Store(false)
	gone := apierrors.NewResourceExpired("too old resource version")
	out.Error(&gone.ErrStatus)
}

func (l *deafListerWatcher) watching() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out != nil
}

// TestRelistRemovesDeletedObjectFromLiveQuery runs a real mirror whose watch misses a delete:
// the relist that follows the broken watch finds the object gone, and the live query that listed
// it shows it no more.
func TestRelistRemovesDeletedObjectFromLiveQuery(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gvk := schema.GroupVersionKind{Group: "test.kubesift.io", Version: "v1", Kind: "Cog"}
	gvr := schema.GroupVersionResource{Group: "test.kubesift.io", Version: "v1", Resource: "cogs"}
	g.Expect(store.Register(gvk, index.KindConfig{Namespaced: true})).To(Succeed())
	defer func() {
		cat.Remove(gvk)
		_ = store.Unregister(gvk)
	}()

	ns := newNamespace(t)
	for _, name := range []string{"a", "b"} {
		g.Expect(k8s.Create(ctx, object(gvk, ns, name, map[string]string{"team": "a"}, nil))).To(Succeed())
	}

	rc, err := indexmirror.NewRESTClient(restConfig, nil)
	g.Expect(err).NotTo(HaveOccurred())
	lw := &deafListerWatcher{inner: indexmirror.NewListerWatcher(rc, gvr)}
	w := indexmirror.NewWriter(store, cat, func(string) {})
	go func() { _ = w.Start(ctx) }()
	m := w.NewMirror(indexmirror.Config{GVK: gvk, Namespaced: true, Owner: "cogs", ListerWatcher: lw})
	m.Start(ctx)
	defer m.Stop()
	g.Eventually(m.Synced, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
	g.Eventually(lw.watching, 30*time.Second, 100*time.Millisecond).Should(BeTrue())

	sq := newSearchQuery(t, ns, "team-a", searchv1alpha1.QuerySpec{
		Target:        searchv1alpha1.TargetRef{APIVersion: "test.kubesift.io/v1", Kind: "Cog"},
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
	})
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(resultNames(st, false)).To(Equal([]string{"a", "b"}))
	})

	// The watch goes deaf, b is deleted, and the index keeps b: the mirror missed the delete.
	lw.deaf.Store(true)
	g.Expect(k8s.Delete(ctx, object(gvk, ns, "b", nil, nil))).To(Succeed())
	time.Sleep(time.Second)
	g.Expect(statusOf(sq).Results).To(HaveLen(2), "the delete was missed")

	lw.expire()
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(Equal([]string{"a"}))
		g.Expect(st.Total).To(BeEquivalentTo(1))
	})
}
