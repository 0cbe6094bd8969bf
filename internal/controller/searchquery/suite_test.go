package searchquery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controller/authorepoch"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
)

// testRequeryInterval is short so that tests of liveness and coalescing run quickly.
const testRequeryInterval = 200 * time.Millisecond

// Access decisions expire quickly so that tests of granted and revoked rights run quickly.
const (
	testAccessCacheTTL        = 300 * time.Millisecond
	testAccessRecheckInterval = 500 * time.Millisecond
)

var (
	widgetGVK = schema.GroupVersionKind{Group: "test.kubesift.io", Version: "v1", Kind: "Widget"}
	gadgetGVK = schema.GroupVersionKind{Group: "test.kubesift.io", Version: "v1", Kind: "Gadget"}

	k8s client.Client
	// restConfig is the admin's; tests impersonate other users with copies of it.
	restConfig *rest.Config
	store      *index.Store
	cat        *catalog.Catalog
	world      = &mirror{last: map[string]*unstructured.Unstructured{}}

	queryReconciler        *reconciler[*searchv1alpha1.SearchQuery]
	clusterQueryReconciler *reconciler[*searchv1alpha1.ClusterSearchQuery]
)

// TestMain starts one API server and one manager running both query controllers for the whole
// package. The index and the catalog are fed by the mirror helper below instead of the
// ResourceIndex controller, so these tests depend only on the catalog contract.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBESIFT_TEST_LOG") != "" {
		logf.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		logf.SetLogger(zap.New(zap.WriteTo(discard{})))
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		_ = os.Setenv("KUBEBUILDER_ASSETS", filepath.Join("..", "..", "..", "bin", "controlplane"))
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "..", "config", "crd", "bases"), "testdata"},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the API server: %v\n", err)
		return 1
	}
	restConfig = cfg
	defer func() { _ = env.Stop() }()

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := searchv1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Queries are answered only when the admission policies record their author, as in a cluster.
	policyCtx, cancelPolicies := context.WithTimeout(context.Background(), time.Minute)
	defer cancelPolicies()
	if err := admission.Install(policyCtx, k8s, filepath.Join("..", "..", "..", "config", "admission")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The author epoch is kept by the manager below, in its namespace.
	if err := k8s.Create(policyCtx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: admission.PlainEpoch.Namespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if store, err = index.Open(index.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = store.Close() }()
	cat = catalog.New()
	for gvk, namespaced := range map[schema.GroupVersionKind]bool{widgetGVK: true, gadgetGVK: false} {
		if err := store.Register(gvk, index.KindConfig{Namespaced: namespaced, Fields: []string{"spec.replicas"}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cat.Set(gvk, catalog.Kind{Index: "test", Namespaced: namespaced, Synced: true})
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: authorepoch.CacheByObject(admission.PlainEpoch)},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := authorepoch.SetupWithManager(mgr, admission.PlainEpoch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if queryReconciler, clusterQueryReconciler, err = setupWithManager(mgr, store, cat, Options{
		RequeryInterval: testRequeryInterval, AccessCacheTTL: testAccessCacheTTL, AccessRecheckInterval: testAccessRecheckInterval,
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if err := admission.WaitEnforced(policyCtx, k8s, admission.PlainEpoch, metav1.NamespaceDefault); err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
	}
	return code
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// mirror stands in for the ResourceIndex controller: it writes objects to the API server, then
// into the index, and publishes the change to the catalog, in that order.
type mirror struct {
	mu   sync.Mutex
	last map[string]*unstructured.Unstructured
}

func mirrorKey(o *unstructured.Unstructured) string {
	return o.GroupVersionKind().String() + "|" + o.GetNamespace() + "/" + o.GetName()
}

// put indexes obj as the mirror would after an informer event and publishes the change.
func (m *mirror) put(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := store.Apply([]index.Change{{Object: obj.DeepCopy()}}, nil); err != nil {
		t.Fatalf("indexing %s: %v", obj.GetName(), err)
	}
	k := mirrorKey(obj)
	old := m.last[k]
	m.last[k] = obj.DeepCopy()
	cat.Publish(catalog.Change{GVK: obj.GroupVersionKind(), Old: old, New: obj.DeepCopy()})
}

// remove deletes obj from the index and publishes the change.
func (m *mirror) remove(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := store.Apply([]index.Change{{Object: obj.DeepCopy(), Deleted: true}}, nil); err != nil {
		t.Fatalf("removing %s from the index: %v", obj.GetName(), err)
	}
	k := mirrorKey(obj)
	old := m.last[k]
	delete(m.last, k)
	cat.Publish(catalog.Change{GVK: obj.GroupVersionKind(), Old: old})
}

// object builds an unstructured object of gvk.
func object(gvk schema.GroupVersionKind, ns, name string, lbls map[string]string, content map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range content {
		u.Object[k] = v
	}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	if len(lbls) > 0 {
		u.SetLabels(lbls)
	}
	return u
}

// create creates obj in the API server and mirrors the stored version.
func create(t *testing.T, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	world.put(t, obj)
	return obj
}

// update reads obj, applies mutate, writes it and mirrors the stored version.
func update(t *testing.T, obj *unstructured.Unstructured, mutate func(*unstructured.Unstructured)) *unstructured.Unstructured {
	t.Helper()
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(obj.GroupVersionKind())
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), cur); err != nil {
		t.Fatalf("getting %s: %v", obj.GetName(), err)
	}
	mutate(cur)
	if err := k8s.Update(context.Background(), cur); err != nil {
		t.Fatalf("updating %s: %v", obj.GetName(), err)
	}
	world.put(t, cur)
	return cur
}

// remove deletes obj from the API server and from the index.
func remove(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	if err := k8s.Delete(context.Background(), obj); err != nil {
		t.Fatalf("deleting %s: %v", obj.GetName(), err)
	}
	world.remove(t, obj)
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sq-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	return ns.Name
}

// widgetTarget is the target of queries on Widgets.
var widgetTarget = searchv1alpha1.TargetRef{APIVersion: "test.kubesift.io/v1", Kind: "Widget"}

// newSearchQuery creates a SearchQuery.
func newSearchQuery(t *testing.T, ns, name string, spec searchv1alpha1.QuerySpec) *searchv1alpha1.SearchQuery {
	t.Helper()
	sq := &searchv1alpha1.SearchQuery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       searchv1alpha1.SearchQuerySpec{QuerySpec: spec},
	}
	if err := k8s.Create(context.Background(), sq); err != nil {
		t.Fatalf("creating SearchQuery %s/%s: %v", ns, name, err)
	}
	return sq
}

// eventuallyStatus waits until the query's status satisfies match and returns it.
func eventuallyStatus(t *testing.T, obj client.Object, match func(g Gomega, st *searchv1alpha1.QueryStatus)) *searchv1alpha1.QueryStatus {
	t.Helper()
	g := NewWithT(t)
	var st *searchv1alpha1.QueryStatus
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		st = statusOf(obj)
		match(g, st)
	}).WithTimeout(15 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	return st
}

func statusOf(obj client.Object) *searchv1alpha1.QueryStatus {
	switch o := obj.(type) {
	case *searchv1alpha1.SearchQuery:
		return &o.Status
	case *searchv1alpha1.ClusterSearchQuery:
		return &o.Status
	}
	return &searchv1alpha1.QueryStatus{}
}

// readyWith returns a matcher for a status whose Ready condition has the given status and reason
// for the object's current generation.
func readyWith(obj client.Object, status metav1.ConditionStatus, reason string) func(Gomega, *searchv1alpha1.QueryStatus) {
	return func(g Gomega, st *searchv1alpha1.QueryStatus) {
		c := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil(), "no Ready condition")
		g.Expect(c.ObservedGeneration).To(Equal(obj.GetGeneration()))
		g.Expect(c.Status).To(Equal(status), c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		if reason == searchv1alpha1.ReasonSucceeded {
			g.Expect(st.ObservedGeneration).To(Equal(obj.GetGeneration()))
		}
	}
}

// resultNames lists the results as "name" or "namespace/name" when withNamespace is set.
func resultNames(st *searchv1alpha1.QueryStatus, withNamespace bool) []string {
	out := []string{}
	for _, r := range st.Results {
		if withNamespace {
			out = append(out, r.Namespace+"/"+r.Name)
		} else {
			out = append(out, r.Name)
		}
	}
	return out
}
