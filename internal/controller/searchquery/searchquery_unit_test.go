package searchquery

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

func TestToIndexSpec(t *testing.T) {
	after := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cases := []struct {
		name       string
		spec       searchv1alpha1.QuerySpec
		namespaces []string
		check      func(g Gomega, s query.Spec)
		err        string
	}{
		{
			name:       "everything",
			namespaces: []string{"team-a"},
			spec: searchv1alpha1.QuerySpec{
				Target:        searchv1alpha1.TargetRef{APIVersion: "apps.example.com/v1alpha1", Kind: "Template"},
				Names:         []string{"x"},
				NameContains:  "web",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
				Fields:        []searchv1alpha1.FieldPredicate{{Path: "spec.replicas", Operator: searchv1alpha1.FieldOpGreaterThan, Values: []string{"3"}}},
				OwnerUID:      "u1",
				CreatedAfter:  &after,
				Sort:          []searchv1alpha1.SortKey{{Path: "metadata.creationTimestamp", Order: searchv1alpha1.SortDescending}, {Path: "metadata.name", Order: searchv1alpha1.SortAscending}},
				Limit:         20,
			},
			check: func(g Gomega, s query.Spec) {
				g.Expect(s.GVK).To(Equal(schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Template"}))
				g.Expect(s.Namespaces).To(Equal([]string{"team-a"}))
				g.Expect(s.Names).To(Equal([]string{"x"}))
				g.Expect(s.NameContains).To(Equal("web"))
				g.Expect(s.Labels.String()).To(Equal("team=a"))
				g.Expect(s.Fields).To(Equal([]query.FieldPredicate{{Path: "spec.replicas", Operator: query.OpGreaterThan, Values: []string{"3"}}}))
				g.Expect(s.OwnerUID).To(Equal("u1"))
				g.Expect(*s.CreatedAfter).To(Equal(after.Time))
				g.Expect(s.CreatedBefore).To(BeNil())
				g.Expect(s.Sort).To(Equal([]query.SortKey{{Path: "metadata.creationTimestamp", Descending: true}, {Path: "metadata.name"}}))
				g.Expect(s.Limit).To(Equal(20))
			},
		},
		{
			name: "defaults",
			spec: searchv1alpha1.QuerySpec{Target: searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"}},
			check: func(g Gomega, s query.Spec) {
				g.Expect(s.GVK).To(Equal(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}))
				g.Expect(s.Namespaces).To(BeNil())
				g.Expect(s.Labels).To(BeNil())
				g.Expect(s.Limit).To(BeZero()) // Compile applies its default
			},
		},
		{
			name: "clusters",
			spec: searchv1alpha1.QuerySpec{Target: searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"},
				Clusters: []string{"prod-eu", "local"}},
			check: func(g Gomega, s query.Spec) {
				g.Expect(s.Clusters).To(Equal([]string{"prod-eu", ""}), "local is the index's local cluster, \"\"")
			},
		},
		{
			name: "bad-selector",
			spec: searchv1alpha1.QuerySpec{LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}},
			err:  `spec.labelSelector: "Near" is not a valid label selector operator`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := query.FromAPI(&tc.spec, tc.namespaces)
			if tc.err != "" {
				g.Expect(err).To(MatchError(query.ErrInvalidQuery))
				g.Expect(invalidQueryMessage(err)).To(Equal(tc.err))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			tc.check(g, s)
		})
	}
}

func TestInvalidQueryMessage(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&query.Error{Field: "fields[1].path", Msg: "unexpected '.'"}, "spec.fields[1].path: unexpected '.'"},
		{&query.Error{Field: "labels[0]", Msg: "bad"}, "spec.labelSelector[0]: bad"},
		{&query.Error{Field: "continue", Msg: "token was issued for a different query"}, "spec.continue: token was issued for a different query"},
		{&query.Error{Msg: "nil query"}, "nil query"},
		{fmt.Errorf("wrapped: %w", &query.Error{Field: "limit", Msg: "out of range"}), "spec.limit: out of range"},
		{errors.New("plain"), "plain"},
	}
	for _, tc := range cases {
		NewWithT(t).Expect(invalidQueryMessage(tc.err)).To(Equal(tc.want))
	}
}

func TestApplyOutcome(t *testing.T) {
	target := searchv1alpha1.TargetRef{APIVersion: "apps.example.com/v1alpha1", Kind: "Template"}
	page := index.Page{Items: []index.Ref{{Namespace: "a", Name: "x", UID: "u", ResourceVersion: "7"}}, Total: 3, Remaining: 2, Continue: "tok",
		Facets: []index.FacetCounts{{Path: "metadata.labels['env']", Values: []index.FacetValue{{Value: "prod", Count: 2}}, Missing: 1}}}
	facets := []searchv1alpha1.FacetResult{{Path: "metadata.labels['env']", Values: []searchv1alpha1.FacetValueCount{{Value: "prod", Count: 2}}, Missing: 1}}
	conditionsOf := func(st *searchv1alpha1.QueryStatus) map[string]string {
		out := map[string]string{}
		for _, c := range st.Conditions {
			out[c.Type] = string(c.Status) + "/" + c.Reason
		}
		return out
	}
	withPage := func() searchv1alpha1.QueryStatus {
		st := searchv1alpha1.QueryStatus{}
		applyOutcome(&st, 1, succeeded(page))
		return st
	}
	cases := []struct {
		name        string
		before      searchv1alpha1.QueryStatus
		out         outcome
		conditions  map[string]string
		observed    int64
		keepResults bool
	}{
		{name: "succeeded", out: succeeded(page), observed: 2, keepResults: true,
			conditions: map[string]string{"Ready": "True/Succeeded"}},
		{name: "invalid clears results", before: withPage(), out: invalidQuery(&query.Error{Field: "limit", Msg: "x"}), observed: 1,
			conditions: map[string]string{"Ready": "False/InvalidQuery", "Stalled": "True/InvalidQuery"}},
		{name: "not indexed clears results", before: withPage(), out: resourceNotIndexed(target), observed: 1,
			conditions: map[string]string{"Ready": "False/ResourceNotIndexed"}},
		{name: "loading keeps results", before: withPage(), out: indexNotReady(target, "templates"), observed: 1, keepResults: true,
			conditions: map[string]string{"Ready": "False/IndexNotReady", "Reconciling": "True/Progressing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			st := *tc.before.DeepCopy()
			applyOutcome(&st, 2, tc.out)
			g.Expect(conditionsOf(&st)).To(Equal(tc.conditions))
			g.Expect(st.ObservedGeneration).To(Equal(tc.observed))
			if tc.keepResults {
				g.Expect(st.Results).To(Equal([]searchv1alpha1.ResultRef{{Namespace: "a", Name: "x", UID: "u", ResourceVersion: "7"}}))
				g.Expect([]any{st.Total, st.Count, st.Remaining, st.Continue}).To(Equal([]any{int64(3), int32(1), int64(2), "tok"}))
				g.Expect(st.Facets).To(Equal(facets))
			} else {
				g.Expect(st.Results).To(BeNil())
				g.Expect(st.Facets).To(BeNil())
				g.Expect([]any{st.Total, st.Count, st.Remaining, st.Continue}).To(Equal([]any{int64(0), int32(0), int64(0), ""}))
			}
			for _, c := range st.Conditions {
				g.Expect(c.ObservedGeneration).To(Equal(int64(2)))
				g.Expect(c.Message).NotTo(BeEmpty())
			}
		})
	}

	t.Run("unchanged outcome keeps the transition time", func(t *testing.T) {
		g := NewWithT(t)
		st := withPage()
		ready := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady)
		ready.LastTransitionTime = metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		before := *st.DeepCopy()
		applyOutcome(&st, 1, succeeded(page))
		g.Expect(st).To(Equal(before))
	})

	t.Run("an empty page has no results list", func(t *testing.T) {
		g := NewWithT(t)
		st := withPage()
		applyOutcome(&st, 1, succeeded(index.Page{}))
		g.Expect(st.Results).To(BeNil())
		g.Expect(st.Count).To(BeZero())
	})
}

func TestRequeryDelay(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC)
	cases := []struct {
		name string
		last time.Time
		want time.Duration
	}{
		{name: "never evaluated", last: time.Time{}, want: 0},
		{name: "long ago", last: now.Add(-time.Hour), want: 0},
		{name: "exactly one interval ago", last: now.Add(-time.Second), want: 0},
		{name: "just now", last: now, want: time.Second},
		{name: "mid-interval", last: now.Add(-300 * time.Millisecond), want: 700 * time.Millisecond},
		{name: "clock went back", last: now.Add(time.Minute), want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(requeryDelay(now, tc.last, time.Second)).To(Equal(tc.want))
		})
	}
}

// recordingQueue records what liveQueries puts on the controller's queue.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	mu    sync.Mutex
	added []string
}

func (q *recordingQueue) Add(r reconcile.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.added = append(q.added, r.Name)
}

func (q *recordingQueue) AddAfter(r reconcile.Request, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.added = append(q.added, fmt.Sprintf("%s after %s", r.Name, d))
}

func (q *recordingQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.added
	q.added = nil
	return out
}

func TestLiveQueriesScheduling(t *testing.T) {
	g := NewWithT(t)
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Template"}
	other := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	compile := func(gvk schema.GroupVersionKind, nameContains string) *query.Query {
		q, err := query.Compile(query.Spec{GVK: gvk, Namespaces: []string{"ns"}, NameContains: nameContains})
		g.Expect(err).NotTo(HaveOccurred())
		return q
	}
	obj := func(gvk schema.GroupVersionKind, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace("ns")
		u.SetName(name)
		return u
	}

	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLiveQueries(time.Second)
	l.now = func() time.Time { return clock }
	queue := &recordingQueue{}
	l.queue = queue // as the source's Start does
	web := types.NamespacedName{Namespace: "ns", Name: "web"}
	db := types.NamespacedName{Namespace: "ns", Name: "db"}
	cms := types.NamespacedName{Namespace: "ns", Name: "cms"}
	l.track(web, compile(gvk, "web"))
	l.track(db, compile(gvk, "db"))
	l.track(cms, compile(other, "web"))

	send := func(ch catalog.Change) []string {
		l.onChange(ch)
		l.dispatch()
		return queue.take()
	}

	clock = clock.Add(5 * time.Second)
	g.Expect(send(catalog.Change{GVK: gvk, New: obj(gvk, "web-1")})).To(Equal([]string{"web"}), "leading edge: queued at once")
	g.Expect(send(catalog.Change{GVK: gvk, New: obj(gvk, "web-1")})).To(BeEmpty(), "already queued")
	g.Expect(send(catalog.Change{GVK: gvk, New: obj(gvk, "api-1")})).To(BeEmpty(), "matches no filter")
	g.Expect(send(catalog.Change{GVK: gvk, Old: obj(gvk, "db-1")})).To(Equal([]string{"db"}), "the old version matched")

	// web is evaluated; a change 300ms later waits for the rest of the interval, once.
	l.track(web, compile(gvk, "web"))
	clock = clock.Add(300 * time.Millisecond)
	g.Expect(send(catalog.Change{GVK: gvk, Old: obj(gvk, "web-1"), New: obj(gvk, "web-1")})).To(Equal([]string{"web after 700ms"}))
	clock = clock.Add(100 * time.Millisecond)
	g.Expect(send(catalog.Change{GVK: gvk, New: obj(gvk, "web-2")})).To(BeEmpty(), "coalesced into the pending evaluation")

	// The pending evaluation of web runs; db's evaluation was lost, so a change more than an
	// interval after its schedule renews it.
	clock = clock.Add(600 * time.Millisecond)
	l.track(web, compile(gvk, "web"))
	clock = clock.Add(time.Second)

	// A kind-wide change reaches every query on the kind and no other.
	g.Expect(sortedStrings(send(catalog.Change{GVK: gvk})...)).To(Equal([]string{"db", "web"}))
	g.Expect(send(catalog.Change{GVK: other, New: obj(other, "web-1")})).To(Equal([]string{"cms"}))

	// A query that names clusters hears only of changes in them.
	l.forget(db)
	onlyEU, err := query.Compile(query.Spec{GVK: gvk, Namespaces: []string{"ns"}, NameContains: "db", Clusters: []string{"prod-eu"}})
	g.Expect(err).NotTo(HaveOccurred())
	l.track(db, onlyEU)
	clock = clock.Add(time.Minute)
	g.Expect(send(catalog.Change{GVK: gvk, New: obj(gvk, "db-1")})).To(BeEmpty(), "a change in the local cluster")
	g.Expect(send(catalog.Change{GVK: gvk, New: obj(gvk, "db-1"), Cluster: "prod-us"})).To(BeEmpty(), "a change in another member")
	g.Expect(send(catalog.Change{GVK: gvk, New: obj(gvk, "db-1"), Cluster: "prod-eu"})).To(Equal([]string{"db"}))

	// Forgotten queries and unknown kinds are ignored, and nothing is buffered for them.
	l.forget(web)
	l.forget(db)
	clock = clock.Add(time.Minute)
	g.Expect(send(catalog.Change{GVK: gvk})).To(BeEmpty())
	g.Expect(l.pending).To(BeEmpty())
	g.Expect(l.byKind).NotTo(HaveKey(gvk))

	// A query whose target changed moves to the new kind.
	l.track(cms, compile(gvk, "web"))
	g.Expect(send(catalog.Change{GVK: other})).To(BeEmpty())
	clock = clock.Add(time.Minute)
	g.Expect(send(catalog.Change{GVK: gvk})).To(Equal([]string{"cms"}))
}

// TestLiveQueriesPendingIsBounded checks that changes which arrive faster than they are matched
// collapse into one re-evaluation of each query of the kind instead of piling up.
func TestLiveQueriesPendingIsBounded(t *testing.T) {
	g := NewWithT(t)
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1", Kind: "Widget"}
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLiveQueries(time.Second)
	l.now = func() time.Time { return clock }
	queue := &recordingQueue{}
	l.queue = queue
	for _, name := range []string{"web", "db"} {
		q, err := query.Compile(query.Spec{GVK: gvk, NameContains: name})
		g.Expect(err).NotTo(HaveOccurred())
		l.track(types.NamespacedName{Namespace: "ns", Name: name}, q)
	}
	g.Expect(l.wants(gvk)).To(BeTrue())
	g.Expect(l.wants(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})).To(BeFalse())
	for i := range 3 * maxPendingChanges {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace("ns")
		u.SetName(fmt.Sprintf("api-%d", i))
		l.onChange(catalog.Change{GVK: gvk, New: u})
	}
	g.Expect(l.pending).To(HaveLen(1))
	g.Expect(l.pending[gvk].all).To(BeTrue())
	g.Expect(l.pending[gvk].changes).To(BeEmpty())
	clock = clock.Add(5 * time.Second)
	l.dispatch()
	g.Expect(sortedStrings(queue.take()...)).To(Equal([]string{"db", "web"}))
	g.Expect(l.pending).To(BeEmpty())
}

func TestOnChangeBeforeStartIsDropped(t *testing.T) {
	l := newLiveQueries(time.Second)
	q, err := query.Compile(query.Spec{GVK: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	l.track(types.NamespacedName{Name: "q"}, q)
	l.onChange(catalog.Change{GVK: q.GVK()})
	NewWithT(t).Expect(l.pending).To(BeEmpty())
}

func TestResourceIndexStateChanged(t *testing.T) {
	base := func(mutate func(ri *searchv1alpha1.ResourceIndex)) *searchv1alpha1.ResourceIndex {
		ri := &searchv1alpha1.ResourceIndex{Spec: searchv1alpha1.ResourceIndexSpec{
			Target: searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"},
		}}
		ri.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "True", Reason: "Synced", Message: "ok"}}
		if mutate != nil {
			mutate(ri)
		}
		return ri
	}
	now := metav1.Now()
	cases := []struct {
		name string
		new  *searchv1alpha1.ResourceIndex
		want bool
	}{
		{name: "object count only", new: base(func(ri *searchv1alpha1.ResourceIndex) { ri.Status.ObjectCount = 7 }), want: false},
		{name: "fields only", new: base(func(ri *searchv1alpha1.ResourceIndex) { ri.Spec.Fields = []string{"data.a"} }), want: false},
		{name: "target", new: base(func(ri *searchv1alpha1.ResourceIndex) { ri.Spec.Target.Kind = "Secret" }), want: true},
		{name: "deleting", new: base(func(ri *searchv1alpha1.ResourceIndex) { ri.DeletionTimestamp = &now }), want: true},
		{name: "ready reason", new: base(func(ri *searchv1alpha1.ResourceIndex) {
			ri.Status.Conditions[0] = metav1.Condition{Type: "Ready", Status: "False", Reason: "Forbidden", Message: "no"}
		}), want: true},
		{name: "ready removed", new: base(func(ri *searchv1alpha1.ResourceIndex) { ri.Status.Conditions = nil }), want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := resourceIndexStateChanged.Update(event.UpdateEvent{ObjectOld: base(nil), ObjectNew: tc.new})
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}

// A query is re-evaluated at most once per interval, or once per costShare times its last
// search's duration when that is longer.
func TestSpacingFollowsTheSearchCost(t *testing.T) {
	g := NewWithT(t)
	l := newLiveQueries(50 * time.Millisecond)
	q, err := query.Compile(query.Spec{GVK: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}})
	g.Expect(err).NotTo(HaveOccurred())
	key := types.NamespacedName{Name: "q"}
	l.track(key, q)
	lq := l.byKind[q.GVK()][key]
	g.Expect(l.spacing(lq)).To(Equal(50 * time.Millisecond))
	l.observe(key, q, 2*time.Millisecond)
	g.Expect(l.spacing(lq)).To(Equal(50 * time.Millisecond))
	l.observe(key, q, 30*time.Millisecond)
	g.Expect(l.spacing(lq)).To(Equal(300 * time.Millisecond))
	// A measurement of a query that was since replaced is dropped.
	other, err := query.Compile(query.Spec{GVK: q.GVK(), Names: []string{"x"}})
	g.Expect(err).NotTo(HaveOccurred())
	l.observe(key, other, time.Second)
	g.Expect(l.spacing(lq)).To(Equal(300 * time.Millisecond))
}
