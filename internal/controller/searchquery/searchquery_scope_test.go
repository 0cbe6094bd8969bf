package searchquery

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
)

func TestNamespaceIsolation(t *testing.T) {
	a, b := newNamespace(t), newNamespace(t)
	create(t, widget(a, "mine", nil, 1, "nginx", "True"))
	create(t, widget(b, "theirs", nil, 1, "nginx", "True"))
	create(t, widget(b, "mine", nil, 1, "nginx", "True"))

	byName := newSearchQuery(t, a, "by-name", searchv1alpha1.QuerySpec{Target: widgetTarget, Names: []string{"theirs", "mine"}})
	all := newSearchQuery(t, a, "all", searchv1alpha1.QuerySpec{Target: widgetTarget})
	for _, sq := range []*searchv1alpha1.SearchQuery{byName, all} {
		st := eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
		NewWithT(t).Expect(resultNames(st, true)).To(Equal([]string{a + "/mine"}), sq.Name)
	}

	// A token from namespace b does not open namespace b's pages to a query in namespace a.
	paged := newSearchQuery(t, b, "paged", searchv1alpha1.QuerySpec{Target: widgetTarget, Limit: 1})
	st := eventuallyStatus(t, paged, func(g Gomega, st *searchv1alpha1.QueryStatus) { g.Expect(st.Continue).NotTo(BeEmpty()) })
	borrowed := newSearchQuery(t, a, "borrowed", searchv1alpha1.QuerySpec{Target: widgetTarget, Limit: 1, Continue: st.Continue})
	st = eventuallyStatus(t, borrowed, readyWith(borrowed, metav1.ConditionFalse, searchv1alpha1.ReasonInvalidQuery))
	NewWithT(t).Expect(st.Results).To(BeEmpty())
}

// TestResourceNotIndexedUntilMirrored follows a query on ConfigMaps, which nothing mirrors at
// first, through the index loading to Ready, driven only by kind-wide catalog changes.
func TestResourceNotIndexedUntilMirrored(t *testing.T) {
	ns := newNamespace(t)
	cm := &unstructured.Unstructured{}
	cm.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
	cm.SetNamespace(ns)
	cm.SetName("settings")
	cm.Object["data"] = map[string]any{"mode": "fast"}
	if err := k8s.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	target := searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"}
	sq := newSearchQuery(t, ns, "fast", searchv1alpha1.QuerySpec{
		Target: target,
		Fields: []searchv1alpha1.FieldPredicate{{Path: "data.mode", Operator: searchv1alpha1.FieldOpEquals, Values: []string{"fast"}}},
	})
	st := eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonResourceNotIndexed))
	g := NewWithT(t)
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady).Message).To(Equal(
		"no ResourceIndex mirrors ConfigMap.v1; create one with spec.target {apiVersion: v1, kind: ConfigMap}"))
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionStalled)).To(BeNil())
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReconciling)).To(BeNil())
	g.Expect(st.ObservedGeneration).To(BeZero())

	// The mirror starts: registered, loading.
	gvk := cm.GroupVersionKind()
	g.Expect(store.Register(gvk, index.KindConfig{Namespaced: true})).To(Succeed())
	t.Cleanup(func() {
		cat.Remove(gvk)
		_ = store.Unregister(gvk)
	})
	cat.Set(gvk, catalog.Kind{Index: "configmaps", Namespaced: true})
	st = eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonIndexNotReady))
	reconciling := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReconciling)
	g.Expect(reconciling).NotTo(BeNil())
	g.Expect(reconciling.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(reconciling.Reason).To(Equal(searchv1alpha1.ReasonProgressing))
	g.Expect(reconciling.Message).To(ContainSubstring("ResourceIndex configmaps is loading"))

	// The initial list lands, then the kind is marked synced.
	world.put(t, cm)
	cat.Set(gvk, catalog.Kind{Index: "configmaps", Namespaced: true, Synced: true})
	st = eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
	g.Expect(resultNames(st, true)).To(Equal([]string{ns + "/settings"}))
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReconciling)).To(BeNil())

	// Each change of the Ready reason was announced once.
	g.Eventually(func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(k8s.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
		reasons := map[string]int{}
		for _, e := range list.Items {
			if e.Regarding.Name == sq.Name {
				reasons[e.Reason]++
				g.Expect(e.Action).To(Equal(actionEvaluate))
			}
		}
		g.Expect(reasons).To(Equal(map[string]int{
			searchv1alpha1.ReasonResourceNotIndexed: 1,
			searchv1alpha1.ReasonIndexNotReady:      1,
			searchv1alpha1.ReasonSucceeded:          1,
		}))
	}).Should(Succeed())

	// The mirror stops: the results are withdrawn.
	cat.Remove(gvk)
	st = eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonResourceNotIndexed))
	g.Expect(st.Results).To(BeEmpty())
	g.Expect(st.Total).To(BeZero())
}

func TestClusterSearchQuery(t *testing.T) {
	a, b, c := newNamespace(t), newNamespace(t), newNamespace(t)
	suite := map[string]string{"suite": a}
	for _, ns := range []string{a, b, c} {
		create(t, widget(ns, "w1", suite, 1, "nginx", "True"))
		create(t, widget(ns, "w2", suite, 2, "nginx", "True"))
	}
	create(t, object(gadgetGVK, "", a+"-g1", nil, nil))
	create(t, object(gadgetGVK, "", a+"-g2", nil, nil))

	newCSQ := func(name string, spec searchv1alpha1.ClusterSearchQuerySpec) *searchv1alpha1.ClusterSearchQuery {
		csq := &searchv1alpha1.ClusterSearchQuery{ObjectMeta: metav1.ObjectMeta{Name: a + "-" + name}, Spec: spec}
		if err := k8s.Create(context.Background(), csq); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), csq) })
		return csq
	}
	selector := &metav1.LabelSelector{MatchLabels: suite}
	everywhere := newCSQ("everywhere", searchv1alpha1.ClusterSearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{
		Target: widgetTarget, LabelSelector: selector,
	}})
	someNamespaces := newCSQ("some", searchv1alpha1.ClusterSearchQuerySpec{
		QuerySpec: searchv1alpha1.QuerySpec{
			Target: widgetTarget, LabelSelector: selector,
			Fields: []searchv1alpha1.FieldPredicate{{Path: "spec.replicas", Operator: searchv1alpha1.FieldOpEquals, Values: []string{"2"}}},
		},
		Namespaces: []string{c, a},
	})
	gadgetTarget := searchv1alpha1.TargetRef{APIVersion: "test.kubesift.io/v1", Kind: "Gadget"}
	gadgets := newCSQ("gadgets", searchv1alpha1.ClusterSearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{
		Target: gadgetTarget, NameContains: a, Sort: []searchv1alpha1.SortKey{{Path: "metadata.name", Order: searchv1alpha1.SortDescending}},
	}})
	gadgetsInNamespace := newCSQ("gadgets-ns", searchv1alpha1.ClusterSearchQuerySpec{
		QuerySpec:  searchv1alpha1.QuerySpec{Target: gadgetTarget},
		Namespaces: []string{a},
	})

	g := NewWithT(t)
	st := eventuallyStatus(t, everywhere, readyWith(everywhere, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
	g.Expect(resultNames(st, true)).To(Equal(sortedStrings(a+"/w1", a+"/w2", b+"/w1", b+"/w2", c+"/w1", c+"/w2")))

	st = eventuallyStatus(t, someNamespaces, readyWith(someNamespaces, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
	g.Expect(resultNames(st, true)).To(Equal(sortedStrings(a+"/w2", c+"/w2")))

	st = eventuallyStatus(t, gadgets, readyWith(gadgets, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
	g.Expect(resultNames(st, true)).To(Equal([]string{"/" + a + "-g2", "/" + a + "-g1"}))

	st = eventuallyStatus(t, gadgetsInNamespace, readyWith(gadgetsInNamespace, metav1.ConditionFalse, searchv1alpha1.ReasonInvalidQuery))
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady).Message).To(Equal(
		"spec.namespaces: Gadget.v1.test.kubesift.io is cluster-scoped, so namespaces must be empty"))

	// Live across namespaces.
	w := create(t, widget(b, "w3", suite, 2, "nginx", "True"))
	st = eventuallyStatus(t, everywhere, func(g Gomega, st *searchv1alpha1.QueryStatus) { g.Expect(st.Total).To(BeEquivalentTo(7)) })
	g.Expect(resultNames(st, true)).To(ContainElement(b + "/w3"))
	remove(t, w)
	eventuallyStatus(t, everywhere, func(g Gomega, st *searchv1alpha1.QueryStatus) { g.Expect(st.Total).To(BeEquivalentTo(6)) })
}

func sortedStrings(s ...string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestDeletedQueriesAreForgotten checks that a deleted query leaves the live registry.
func TestDeletedQueriesAreForgotten(t *testing.T) {
	ns := newNamespace(t)
	g := NewWithT(t)
	sq := newSearchQuery(t, ns, "short-lived", searchv1alpha1.QuerySpec{Target: widgetTarget})
	csq := &searchv1alpha1.ClusterSearchQuery{
		ObjectMeta: metav1.ObjectMeta{Name: "short-lived-" + ns},
		Spec:       searchv1alpha1.ClusterSearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{Target: widgetTarget}},
	}
	g.Expect(k8s.Create(context.Background(), csq)).To(Succeed())
	eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
	eventuallyStatus(t, csq, readyWith(csq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
	g.Expect(queryReconciler.live.tracked(client.ObjectKeyFromObject(sq))).To(BeTrue())
	g.Expect(clusterQueryReconciler.live.tracked(client.ObjectKeyFromObject(csq))).To(BeTrue())

	g.Expect(k8s.Delete(context.Background(), sq)).To(Succeed())
	g.Expect(k8s.Delete(context.Background(), csq)).To(Succeed())
	g.Eventually(func() bool {
		return queryReconciler.live.tracked(client.ObjectKeyFromObject(sq)) ||
			clusterQueryReconciler.live.tracked(client.ObjectKeyFromObject(csq))
	}).Should(BeFalse())
}

// tracked reports whether the query named key is registered.
func (l *liveQueries) tracked(key types.NamespacedName) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.kindOf[key]
	return ok
}

// TestResourceIndexNotYetInCatalog covers a ResourceIndex that exists before the catalog knows its
// kind (as right after a restart), and one that reports a problem.
func TestResourceIndexNotYetInCatalog(t *testing.T) {
	ns := newNamespace(t)
	target := searchv1alpha1.TargetRef{APIVersion: "test.kubesift.io/v1", Kind: "Sprocket"}
	sq := newSearchQuery(t, ns, "sprockets", searchv1alpha1.QuerySpec{Target: target})
	eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonResourceNotIndexed))

	ri := &searchv1alpha1.ResourceIndex{
		ObjectMeta: metav1.ObjectMeta{Name: "sprockets-" + ns},
		Spec:       searchv1alpha1.ResourceIndexSpec{Target: target},
	}
	g := NewWithT(t)
	g.Expect(k8s.Create(context.Background(), ri)).To(Succeed())
	st := eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonIndexNotReady))
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady).Message).To(Equal(
		"ResourceIndex " + ri.Name + " is starting to mirror Sprocket.v1.test.kubesift.io; results follow once it has synced"))
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReconciling)).NotTo(BeNil())

	meta.SetStatusCondition(&ri.Status.Conditions, metav1.Condition{
		Type: searchv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: searchv1alpha1.ReasonResourceNotFound, Message: "the API server does not serve sprockets",
	})
	g.Expect(k8s.Status().Update(context.Background(), ri)).To(Succeed())
	st = eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonResourceNotIndexed))
	g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady).Message).To(Equal(
		"no ResourceIndex mirrors Sprocket.v1.test.kubesift.io: ResourceIndex " + ri.Name +
			" reports ResourceNotFound: the API server does not serve sprockets"))

	g.Expect(k8s.Delete(context.Background(), ri)).To(Succeed())
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady).Message).To(Equal(
			"no ResourceIndex mirrors Sprocket.v1.test.kubesift.io; create one with spec.target {apiVersion: test.kubesift.io/v1, kind: Sprocket}"))
	})
}
