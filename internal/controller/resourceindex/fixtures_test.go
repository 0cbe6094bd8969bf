package resourceindex

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

const (
	timeout  = 30 * time.Second
	interval = 100 * time.Millisecond
)

// changeLog records the changes the catalog publishes.
type changeLog struct {
	mu  sync.Mutex
	all []catalog.Change
}

func (l *changeLog) add(c catalog.Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, c)
}

// objectChanges counts published changes of single objects of a kind.
func (l *changeLog) objectChanges(gvk schema.GroupVersionKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.all {
		if c.GVK == gvk && !c.KindWide() {
			n++
		}
	}
	return n
}

func metav1ObjectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func newNamespace(t *testing.T, name string) {
	t.Helper()
	g := NewWithT(t)
	g.Expect(k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1ObjectMeta(name)})).To(Succeed())
}

func newResourceIndex(t *testing.T, name, apiVersion, kind string, fields ...string) {
	t.Helper()
	ri := &searchv1alpha1.ResourceIndex{
		ObjectMeta: metav1ObjectMeta(name),
		Spec: searchv1alpha1.ResourceIndexSpec{
			Target: searchv1alpha1.TargetRef{APIVersion: apiVersion, Kind: kind},
			Fields: fields,
		},
	}
	NewWithT(t).Expect(k8sClient.Create(context.Background(), ri)).To(Succeed())
}

// readyOf returns the Ready condition of the named ResourceIndex, or nil.
func readyOf(g Gomega, name string) *metav1.Condition {
	ri := &searchv1alpha1.ResourceIndex{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, ri)).To(Succeed())
	return meta.FindStatusCondition(ri.Status.Conditions, searchv1alpha1.ConditionReady)
}

// eventuallyReason waits until the named ResourceIndex's Ready condition has the reason and
// returns it.
func eventuallyReason(t *testing.T, name, reason string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	NewWithT(t).Eventually(func(g Gomega) {
		cond = readyOf(g, name)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Reason).To(Equal(reason), "message: %s", cond.Message)
	}, timeout, interval).Should(Succeed())
	return cond
}

// deleteResourceIndex deletes a ResourceIndex and waits until it is gone.
func deleteResourceIndex(t *testing.T, name string) {
	t.Helper()
	g := NewWithT(t)
	ri := &searchv1alpha1.ResourceIndex{ObjectMeta: metav1ObjectMeta(name)}
	g.Expect(client.IgnoreNotFound(k8sClient.Delete(context.Background(), ri))).To(Succeed())
	g.Eventually(func() bool {
		err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, ri)
		return apierrors.IsNotFound(err)
	}, timeout, interval).Should(BeTrue())
}

// search returns the sorted names of the stored objects that match the query.
func search(g Gomega, spec query.Spec) []string {
	q, err := query.Compile(spec)
	g.Expect(err).NotTo(HaveOccurred())
	page, err := store.Search(context.Background(), q, "")
	g.Expect(err).NotTo(HaveOccurred())
	names := make([]string, 0, len(page.Items))
	for _, it := range page.Items {
		names = append(names, it.Name)
	}
	slices.Sort(names)
	return names
}

// field builds a query predicate.
func field(path string, op query.Operator, values ...string) query.FieldPredicate {
	return query.FieldPredicate{Path: path, Operator: op, Values: values}
}

// errInjected is the write failure that faultyIndex injects.
var errInjected = errors.New("injected write failure")

// faultyIndex is the index the mirrors write through in these tests; while fail is set every
// write fails, as when the index file is unwritable.
type faultyIndex struct {
	*index.Store
	fail atomic.Bool
}

func (f *faultyIndex) err() error {
	if f.fail.Load() {
		return errInjected
	}
	return nil
}

func (f *faultyIndex) Apply(changes []index.Change, obs index.Observer) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.Apply(changes, obs)
}

func (f *faultyIndex) BeginRelist(gvk schema.GroupVersionKind, cluster string) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.BeginRelist(gvk, cluster)
}

func (f *faultyIndex) ApplyRelist(gvk schema.GroupVersionKind, cluster string, objs []*unstructured.Unstructured, obs index.Observer) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.ApplyRelist(gvk, cluster, objs, obs)
}

func (f *faultyIndex) CommitRelist(gvk schema.GroupVersionKind, cluster string, obs index.Observer) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.CommitRelist(gvk, cluster, obs)
}
