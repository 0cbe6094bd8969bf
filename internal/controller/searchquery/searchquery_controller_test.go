package searchquery

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
)

func widget(ns, name string, lbls map[string]string, replicas int64, image string, ready string) *unstructured.Unstructured {
	return object(widgetGVK, ns, name, lbls, map[string]any{
		"spec": map[string]any{
			"replicas":   replicas,
			"image":      image,
			"containers": []any{map[string]any{"name": "main", "image": image}},
		},
		"status": map[string]any{
			"conditions": []any{map[string]any{"type": "Ready", "status": ready}},
		},
	})
}

func TestFilters(t *testing.T) {
	ns := newNamespace(t)
	alpha := widget(ns, "alpha", map[string]string{"team": "a", "tier": "web"}, 1, "nginx", "True")
	_ = unstructured.SetNestedField(alpha.Object, false, "spec", "paused")
	create(t, alpha)
	create(t, widget(ns, "beta", map[string]string{"team": "b", "tier": "db"}, 5, "postgres:16", "False"))
	gamma := widget(ns, "gamma", map[string]string{"team": "a", "tier": "db"}, 10, "redis:7", "False")
	gamma.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "owner-uid-1"}})
	create(t, gamma)
	// delta-alpha is created in a later second than the others, so that creation time filters
	// can tell them apart (timestamps have second precision).
	latest := gamma.GetCreationTimestamp()
	time.Sleep(time.Until(latest.Add(time.Second + 50*time.Millisecond)))
	delta := create(t, widget(ns, "delta-alpha", nil, 3, "busybox", "True"))

	sel := func(s metav1.LabelSelector) *metav1.LabelSelector { return &s }
	field := func(path string, op searchv1alpha1.FieldOperator, values ...string) []searchv1alpha1.FieldPredicate {
		return []searchv1alpha1.FieldPredicate{{Path: path, Operator: op, Values: values}}
	}
	cases := []struct {
		name      string
		spec      searchv1alpha1.QuerySpec
		want      []string
		total     int64
		remaining int64
	}{
		{name: "names", spec: searchv1alpha1.QuerySpec{Names: []string{"gamma", "alpha", "missing"}}, want: []string{"alpha", "gamma"}},
		{name: "name-contains", spec: searchv1alpha1.QuerySpec{NameContains: "ALPHA"}, want: []string{"alpha", "delta-alpha"}},
		{name: "match-labels", spec: searchv1alpha1.QuerySpec{LabelSelector: sel(metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}})}, want: []string{"alpha", "gamma"}},
		{name: "match-expressions", spec: searchv1alpha1.QuerySpec{LabelSelector: sel(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}},
			{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"b"}},
		}})}, want: []string{"gamma"}},
		{name: "label-does-not-exist", spec: searchv1alpha1.QuerySpec{LabelSelector: sel(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "team", Operator: metav1.LabelSelectorOpDoesNotExist},
		}})}, want: []string{"delta-alpha"}},
		{name: "greater-than", spec: searchv1alpha1.QuerySpec{Fields: field("spec.replicas", searchv1alpha1.FieldOpGreaterThan, "3")}, want: []string{"beta", "gamma"}},
		{name: "less-than-or-equal", spec: searchv1alpha1.QuerySpec{Fields: field("spec.replicas", searchv1alpha1.FieldOpLessThanOrEqual, "3")}, want: []string{"alpha", "delta-alpha"}},
		{name: "keyed-list", spec: searchv1alpha1.QuerySpec{Fields: field("status.conditions[type=Ready].status", searchv1alpha1.FieldOpEquals, "False")}, want: []string{"beta", "gamma"}},
		{name: "wildcard-list", spec: searchv1alpha1.QuerySpec{Fields: field("spec.containers[*].image", searchv1alpha1.FieldOpIn, "nginx", "busybox")}, want: []string{"alpha", "delta-alpha"}},
		{name: "starts-with", spec: searchv1alpha1.QuerySpec{Fields: field("spec.image", searchv1alpha1.FieldOpStartsWith, "postgres")}, want: []string{"beta"}},
		{name: "contains", spec: searchv1alpha1.QuerySpec{Fields: field("spec.image", searchv1alpha1.FieldOpContains, "dis")}, want: []string{"gamma"}},
		{name: "exists", spec: searchv1alpha1.QuerySpec{Fields: field("spec.paused", searchv1alpha1.FieldOpExists)}, want: []string{"alpha"}},
		{name: "not-equals", spec: searchv1alpha1.QuerySpec{Fields: field("status.conditions[type=Ready].status", searchv1alpha1.FieldOpNotEquals, "False")}, want: []string{"alpha", "delta-alpha"}},
		{name: "owner-uid", spec: searchv1alpha1.QuerySpec{OwnerUID: "owner-uid-1"}, want: []string{"gamma"}},
		{name: "created-after", spec: searchv1alpha1.QuerySpec{CreatedAfter: ptrTime(latest)}, want: []string{"delta-alpha"}},
		{name: "created-before", spec: searchv1alpha1.QuerySpec{CreatedBefore: ptrTime(delta.GetCreationTimestamp())}, want: []string{"alpha", "beta", "gamma"}},
		{name: "all-filters-anded", spec: searchv1alpha1.QuerySpec{
			NameContains:  "a",
			LabelSelector: sel(metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}),
			Fields:        field("spec.replicas", searchv1alpha1.FieldOpGreaterThanOrEqual, "2"),
		}, want: []string{"gamma"}},
		{name: "sort-by-field-descending", spec: searchv1alpha1.QuerySpec{Sort: []searchv1alpha1.SortKey{{Path: "spec.replicas", Order: searchv1alpha1.SortDescending}}}, want: []string{"gamma", "beta", "delta-alpha", "alpha"}},
		{name: "sort-by-name-limited", spec: searchv1alpha1.QuerySpec{Sort: []searchv1alpha1.SortKey{{Path: "metadata.name", Order: searchv1alpha1.SortDescending}}, Limit: 2},
			want: []string{"gamma", "delta-alpha"}, total: 4, remaining: 2},
		{name: "sort-by-creation", spec: searchv1alpha1.QuerySpec{Sort: []searchv1alpha1.SortKey{{Path: "metadata.creationTimestamp", Order: searchv1alpha1.SortDescending}}, Limit: 1},
			want: []string{"delta-alpha"}, total: 4, remaining: 3},
	}
	queries := make([]*searchv1alpha1.SearchQuery, len(cases))
	for i, tc := range cases {
		tc.spec.Target = widgetTarget
		queries[i] = newSearchQuery(t, ns, tc.name, tc.spec)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sq := queries[i]
			st := eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
			g := NewWithT(t)
			g.Expect(resultNames(st, false)).To(Equal(tc.want))
			total := tc.total
			if total == 0 {
				total = int64(len(tc.want))
			}
			g.Expect(st.Total).To(Equal(total))
			g.Expect(st.Count).To(BeEquivalentTo(len(tc.want)))
			g.Expect(st.Remaining).To(Equal(tc.remaining))
			if tc.remaining == 0 {
				g.Expect(st.Continue).To(BeEmpty())
			} else {
				g.Expect(st.Continue).NotTo(BeEmpty())
			}
			for _, r := range st.Results {
				g.Expect(r.Namespace).To(Equal(ns))
				g.Expect(r.UID).NotTo(BeEmpty())
				g.Expect(r.ResourceVersion).NotTo(BeEmpty())
			}
			g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReconciling)).To(BeNil())
			g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionStalled)).To(BeNil())
		})
	}
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

func TestPaginationChainsQueries(t *testing.T) {
	ns := newNamespace(t)
	const n = 23
	want := sets.New[string]()
	for i := range n {
		name := fmt.Sprintf("w-%02d", (i*7)%n) // created out of order
		create(t, widget(ns, name, map[string]string{"app": "paged"}, int64(i%4), "nginx", "True"))
		want.Insert(name)
	}
	spec := searchv1alpha1.QuerySpec{
		Target:        widgetTarget,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "paged"}},
		Sort:          []searchv1alpha1.SortKey{{Path: "spec.replicas"}, {Path: "metadata.name", Order: searchv1alpha1.SortDescending}},
		Limit:         5,
	}
	g := NewWithT(t)
	seen := []string{}
	token := ""
	for page := 0; ; page++ {
		g.Expect(page).To(BeNumerically("<", 10), "too many pages")
		s := spec
		s.Continue = token
		sq := newSearchQuery(t, ns, fmt.Sprintf("page-%d", page), s)
		st := eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
		g.Expect(st.Total).To(BeEquivalentTo(n))
		g.Expect(st.Remaining).To(BeEquivalentTo(n - len(seen) - int(st.Count)))
		seen = append(seen, resultNames(st, false)...)
		if st.Continue == "" {
			break
		}
		token = st.Continue
	}
	g.Expect(seen).To(HaveLen(n))
	g.Expect(sets.New(seen...).Equal(want)).To(BeTrue(), "every object exactly once: %v", seen)
}

func TestLiveUpdates(t *testing.T) {
	ns := newNamespace(t)
	sq := newSearchQuery(t, ns, "team-a", searchv1alpha1.QuerySpec{
		Target:        widgetTarget,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
	})
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(st.Results).To(BeEmpty())
	})

	one := create(t, widget(ns, "one", map[string]string{"team": "a"}, 1, "nginx", "True"))
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(Equal([]string{"one"}))
		g.Expect(st.Total).To(BeEquivalentTo(1))
		g.Expect(st.Results[0].ResourceVersion).To(Equal(one.GetResourceVersion()))
	})

	two := create(t, widget(ns, "two", map[string]string{"team": "b"}, 1, "nginx", "True"))
	two = update(t, two, func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"team": "a"}) })
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(Equal([]string{"one", "two"}))
		g.Expect(st.Results[1].ResourceVersion).To(Equal(two.GetResourceVersion()))
	})

	remove(t, one)
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(Equal([]string{"two"}))
		g.Expect(st.Total).To(BeEquivalentTo(1))
	})

	// Leaving the filter is a change too: the old version matched.
	update(t, two, func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"team": "c"}) })
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(st.Results).To(BeEmpty())
		g.Expect(st.Total).To(BeZero())
	})
}

func TestNoStatusWriteOnUnrelatedChanges(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	create(t, widget(ns, "match", map[string]string{"team": "a"}, 1, "nginx", "True"))
	unrelated := create(t, widget(ns, "unrelated", map[string]string{"team": "b"}, 1, "nginx", "True"))
	elsewhere := create(t, widget(other, "match", map[string]string{"team": "a"}, 1, "nginx", "True"))
	gadget := create(t, object(gadgetGVK, "", "quiet-"+ns, nil, map[string]any{"spec": map[string]any{"n": int64(1)}}))

	sq := newSearchQuery(t, ns, "team-a", searchv1alpha1.QuerySpec{
		Target:        widgetTarget,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
	})
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(resultNames(st, false)).To(Equal([]string{"match"}))
	})
	rv := sq.ResourceVersion

	for i := range 5 {
		bump := func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, int64(i+2), "spec", "replicas")
		}
		update(t, unrelated, bump) // same namespace, matches neither before nor after
		update(t, elsewhere, bump) // matches the labels, but in another namespace
		update(t, gadget, func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, int64(i+2), "spec", "n")
		}) // another kind
	}
	g := NewWithT(t)
	g.Consistently(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(sq), sq)).To(Succeed())
		g.Expect(sq.ResourceVersion).To(Equal(rv))
	}).WithTimeout(3 * testRequeryInterval).WithPolling(50 * time.Millisecond).Should(Succeed())

	// A kind-wide change re-evaluates every query on the kind, and the unchanged result is not
	// written either.
	cat.Set(widgetGVK, catalog.Kind{Index: "test", Namespaced: true, Synced: true})
	cat.Publish(catalog.Change{GVK: widgetGVK})
	g.Consistently(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(sq), sq)).To(Succeed())
		g.Expect(sq.ResourceVersion).To(Equal(rv))
	}).WithTimeout(3 * testRequeryInterval).WithPolling(50 * time.Millisecond).Should(Succeed())
}

// Facets count over all matches, not the page, and follow changes: a label change moves a
// count from one value to another.
func TestFacetsFollowChanges(t *testing.T) {
	ns := newNamespace(t)
	create(t, widget(ns, "one", map[string]string{"team": "a"}, 1, "nginx", "True"))
	two := create(t, widget(ns, "two", map[string]string{"team": "a"}, 2, "nginx", "False"))
	create(t, widget(ns, "three", map[string]string{"team": "b"}, 3, "redis:7", "False"))
	create(t, widget(ns, "four", nil, 4, "redis:7", "True"))
	sq := newSearchQuery(t, ns, "by-team", searchv1alpha1.QuerySpec{
		Target: widgetTarget,
		Limit:  1,
		Facets: []searchv1alpha1.Facet{
			{Path: "metadata.labels['team']"},
			{Path: "spec.containers[*].image", Limit: 1},
		},
	})
	teams := func(st *searchv1alpha1.QueryStatus) searchv1alpha1.FacetResult { return st.Facets[0] }
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(st.Total).To(BeEquivalentTo(4))
		g.Expect(st.Results).To(HaveLen(1))
		g.Expect(st.Facets).To(HaveLen(2))
		g.Expect(teams(st)).To(Equal(searchv1alpha1.FacetResult{
			Path:    "metadata.labels['team']",
			Values:  []searchv1alpha1.FacetValueCount{{Value: "a", Count: 2}, {Value: "b", Count: 1}},
			Missing: 1,
		}))
		g.Expect(st.Facets[1]).To(Equal(searchv1alpha1.FacetResult{
			Path:   "spec.containers[*].image",
			Values: []searchv1alpha1.FacetValueCount{{Value: "nginx", Count: 2}},
			Other:  2,
		}))
	})

	update(t, two, func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"team": "b"}) })
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(teams(st).Values).To(Equal([]searchv1alpha1.FacetValueCount{{Value: "b", Count: 2}, {Value: "a", Count: 1}}))
	})
}

// anyOf and valueFrom through the controller: widgets not Ready, or with more replicas than
// their spec.minReplicas.
func TestAnyOfAndValueFrom(t *testing.T) {
	ns := newNamespace(t)
	withMin := func(u *unstructured.Unstructured, n int64) *unstructured.Unstructured {
		_ = unstructured.SetNestedField(u.Object, n, "spec", "minReplicas")
		return u
	}
	create(t, withMin(widget(ns, "ready-above-min", nil, 3, "nginx", "True"), 2))
	create(t, withMin(widget(ns, "ready-at-min", nil, 2, "nginx", "True"), 2))
	create(t, withMin(widget(ns, "not-ready", nil, 1, "nginx", "False"), 2))
	sq := newSearchQuery(t, ns, "attention", searchv1alpha1.QuerySpec{
		Target: widgetTarget,
		AnyOf: []searchv1alpha1.FilterGroup{
			{Fields: []searchv1alpha1.FieldPredicate{{Path: "status.conditions[type=Ready].status", Operator: searchv1alpha1.FieldOpEquals, Values: []string{"False"}}}},
			{Fields: []searchv1alpha1.FieldPredicate{{Path: "spec.replicas", Operator: searchv1alpha1.FieldOpGreaterThan, ValueFrom: &searchv1alpha1.ValueSource{Path: "spec.minReplicas"}}}},
		},
	})
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(resultNames(st, false)).To(Equal([]string{"not-ready", "ready-above-min"}))
	})
}

// "Every Widget that belongs to this Gadget": owners two levels up, found by kind and name,
// kept current when an object in the middle of the chain or the owner itself changes.
func TestOwnerChainsFollowChanges(t *testing.T) {
	ns := newNamespace(t)
	ownedBy := func(u *unstructured.Unstructured, owner *unstructured.Unstructured) *unstructured.Unstructured {
		u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: owner.GetAPIVersion(), Kind: owner.GetKind(), Name: owner.GetName(), UID: owner.GetUID()}})
		return u
	}
	root := create(t, object(gadgetGVK, "", ns+"-root", nil, nil))
	mid := create(t, ownedBy(widget(ns, "mid", nil, 1, "nginx", "True"), root))
	create(t, ownedBy(widget(ns, "leaf-a", nil, 1, "nginx", "True"), mid))
	create(t, ownedBy(widget(ns, "leaf-b", nil, 1, "nginx", "False"), mid))
	create(t, widget(ns, "stranger", nil, 1, "nginx", "True"))
	sq := newSearchQuery(t, ns, "family", searchv1alpha1.QuerySpec{
		Target: widgetTarget,
		Owner:  &searchv1alpha1.OwnerSelector{APIVersion: "test.kubesift.io/v1", Kind: "Gadget", Name: ns + "-root", Depth: 2},
		Fields: []searchv1alpha1.FieldPredicate{{Path: "status.conditions[type=Ready].status", Operator: searchv1alpha1.FieldOpEquals, Values: []string{"True"}}},
	})
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(resultNames(st, false)).To(Equal([]string{"leaf-a", "mid"}))
		g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady).Message).To(
			ContainSubstring("followed through the indexed kinds Gadget.test.kubesift.io, Widget.test.kubesift.io only"))
	})
	// mid stops matching the other filters: only its place in the chain keeps leaf-a.
	update(t, mid, func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": "False"}}, "status", "conditions")
	})
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(Equal([]string{"leaf-a"}))
	})
	// mid leaves the family: so do its leaves.
	update(t, mid, func(u *unstructured.Unstructured) { u.SetOwnerReferences(nil) })
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(BeEmpty())
	})
	// A change of another kind only: the owner goes away and comes back with mid under it.
	update(t, mid, func(u *unstructured.Unstructured) { ownedBy(u, root) })
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(Equal([]string{"leaf-a"}))
	})
	remove(t, root)
	eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultNames(st, false)).To(BeEmpty())
		g.Expect(st.Total).To(BeZero())
	})
}
