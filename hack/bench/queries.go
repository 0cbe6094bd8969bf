package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/sample"
)

// indexedFields are the fields of the benchmark's ResourceIndex, and of the in-process index
// that stands for it.
var indexedFields = []string{pathReplicas, "spec.team", "spec.tier", "status.conditions[type=Ready].status", "status.readyReplicas"}

// pathReplicas is an indexed numeric field the queries filter and sort on.
const pathReplicas = "spec.replicas"

// Names of the queries the report refers to.
const (
	queryLabel            = "label"
	queryLabelConjunction = "label-conjunction"
	querySortedDeepPage   = "sorted-deep-page"
	querySortedPage1      = "sorted-page-1"
	querySortedPage100    = "sorted-page-100"
)

// sortedPageSeries are the pages of one sorted query measured to show that a deep page costs
// about what the first does (keyset, not offset); the deep page (10) is among them.
var sortedPageSeries = []string{querySortedPage1, querySortedDeepPage, querySortedPage100}

// benchQuery is one question asked three ways: through kubesift's index, through a LIST on the
// API server, and through an informer cache. The baselines filter by selector where they can
// and do the rest (match, compare, page, count) in the client.
type benchQuery struct {
	name, title string
	spec        query.Spec
	// page is the 1-based page measured; pages before it are walked once, untimed.
	page int
	// selector is the part of the filter a LIST or an informer cache can apply; nil means none.
	selector labels.Selector
	// match is the rest of the filter, evaluated by the client; nil means none.
	match func(u *unstructured.Unstructured) bool
	// matchAll, when set, builds the filter from every object listed: the client needs them
	// all to follow ownerReferences. It replaces match.
	matchAll func(items []unstructured.Unstructured) func(u *unstructured.Unstructured) bool
	// compare orders matches as spec.Sort does (with the index's uid tiebreaker).
	compare func(a, b *unstructured.Unstructured) int
	// facetValues reads, for each of spec.Facets in order, an object's value at the facet's
	// path (false: none), so that the client can count matches by value.
	facetValues []func(u *unstructured.Unstructured) (string, bool)
}

// apiRequest describes what the API server is asked for q and what the client does itself.
func (q benchQuery) apiRequest() string {
	req := "LIST of all objects"
	if q.selector != nil {
		req = "LIST with labelSelector=" + q.selector.String()
	}
	work := []string{}
	if q.matchAll != nil {
		work = append(work, "follow ownerReferences")
	}
	if q.match != nil || q.matchAll != nil {
		work = append(work, "filter")
	}
	work = append(work, "sort", "page", "count")
	if len(q.facetValues) > 0 {
		work = append(work, "count by value")
	}
	return req + "; client: " + strings.Join(work, ", ")
}

// benchQueries are the measured questions, chosen so that their answers are small pages of a
// selective match (except the sorted deep page and the facets) whatever N is. The owner chain
// query is among them when tree is not nil.
func benchQueries(tree *ownerTree) []benchQuery {
	gvk := sample.TemplateGVK
	sel := func(s string) labels.Selector {
		out, err := labels.Parse(s)
		if err != nil {
			panic(err) // constant selectors
		}
		return out
	}
	const (
		minReplicas = 12
		imagePrefix = "registry.example.com/payments/redis:"
		nameText    = "ledger-12"
	)
	qs := []benchQuery{{
		name:     queryLabel,
		title:    "Selective label query (shard=s7), cluster-wide, first page of 50 + total",
		spec:     query.Spec{GVK: gvk, Labels: sel("shard=s7"), Limit: 50},
		page:     1,
		selector: sel("shard=s7"),
		compare:  byNamespaceName,
	}, {
		name:     queryLabelConjunction,
		title:    "Selective label conjunction (tier=backend,env=prod,shard=s7), cluster-wide, first page of 50 + total",
		spec:     query.Spec{GVK: gvk, Labels: sel("tier=backend,env=prod,shard=s7"), Limit: 50},
		page:     1,
		selector: sel("tier=backend,env=prod,shard=s7"),
		compare:  byNamespaceName,
	}, {
		name:  "field-indexed",
		title: "Field comparison on indexed fields (spec.replicas >= 12 and Ready condition False), first page of 50 + total",
		spec: query.Spec{GVK: gvk, Limit: 50, Fields: []query.FieldPredicate{
			{Path: pathReplicas, Operator: query.OpGreaterThanOrEqual, Values: []string{fmt.Sprint(minReplicas)}},
			{Path: "status.conditions[type=Ready].status", Operator: query.OpEquals, Values: []string{"False"}},
		}},
		page: 1,
		match: func(u *unstructured.Unstructured) bool {
			r, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			return r >= minReplicas && readyStatus(u) == "False"
		},
		compare: byNamespaceName,
	}, {
		name:  "field-unindexed",
		title: "Field comparison on a field not indexed (spec.image starts with " + imagePrefix + "), first page of 50 + total",
		spec: query.Spec{GVK: gvk, Limit: 50, Fields: []query.FieldPredicate{
			{Path: "spec.image", Operator: query.OpStartsWith, Values: []string{imagePrefix}},
		}},
		page: 1,
		match: func(u *unstructured.Unstructured) bool {
			img, _, _ := unstructured.NestedString(u.Object, "spec", "image")
			return strings.HasPrefix(img, imagePrefix)
		},
		compare: byNamespaceName,
	}, {
		name:  "name-substring",
		title: "Substring name search (name contains " + nameText + "), first page of 50 + total",
		spec:  query.Spec{GVK: gvk, NameContains: nameText, Limit: 50},
		page:  1,
		match: func(u *unstructured.Unstructured) bool {
			return strings.Contains(strings.ToLower(u.GetName()), nameText)
		},
		compare: byNamespaceName,
	}, {
		name:  "field-unindexed-equals",
		title: "String equality on a field not indexed (status.phase = Degraded), first page of 50 + total",
		spec: query.Spec{GVK: gvk, Limit: 50, Fields: []query.FieldPredicate{
			{Path: "status.phase", Operator: query.OpEquals, Values: []string{"Degraded"}},
		}},
		page: 1,
		match: func(u *unstructured.Unstructured) bool {
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			return phase == "Degraded"
		},
		compare: byNamespaceName,
	}, {
		name:  "any-of",
		title: "Any of two selective groups (shard=s7,env=prod or shard=s11,tier=frontend), first page of 50 + total",
		spec: query.Spec{GVK: gvk, Limit: 50, AnyOf: []query.Group{
			{Labels: sel("shard=s7,env=prod")}, {Labels: sel("shard=s11,tier=frontend")},
		}},
		page:     1,
		selector: sel("shard in (s7,s11)"),
		match: func(u *unstructured.Unstructured) bool {
			l := u.GetLabels()
			return (l["shard"] == "s7" && l["env"] == "prod") || (l["shard"] == "s11" && l["tier"] == "frontend")
		},
		compare: byNamespaceName,
	}, {
		name: "value-from",
		title: "A field compared with another, both indexed (status.readyReplicas < spec.replicas), " +
			"first page of 50 + total",
		spec: query.Spec{GVK: gvk, Limit: 50, Fields: []query.FieldPredicate{
			{Path: "status.readyReplicas", Operator: query.OpLessThan, ValueFrom: pathReplicas},
		}},
		page: 1,
		match: func(u *unstructured.Unstructured) bool {
			ready, ok1, _ := unstructured.NestedInt64(u.Object, "status", "readyReplicas")
			r, ok2, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			return ok1 && ok2 && ready < r
		},
		compare: byNamespaceName,
	}}
	qs = append(qs, facetQueries()...)
	if tree != nil {
		qs = append(qs, ownerQuery(*tree))
	}
	for _, page := range []struct {
		name string
		page int
	}{{querySortedPage1, 1}, {querySortedDeepPage, 10}, {querySortedPage100, 100}} {
		qs = append(qs, sortedPage(page.name, page.page, sel("env=prod")))
	}
	return qs
}

// sortedPage is page n (of 100 objects) of env=prod sorted by spec.replicas descending, then name.
func sortedPage(name string, n int, env labels.Selector) benchQuery {
	return benchQuery{
		name:  name,
		title: fmt.Sprintf("Sorted page (env=prod by spec.replicas desc, name), page %d of 100 + total", n),
		spec: query.Spec{GVK: sample.TemplateGVK, Labels: env, Limit: 100, Sort: []query.SortKey{
			{Path: pathReplicas, Descending: true}, {Path: "metadata.name"},
		}},
		page:     n,
		selector: env,
		compare: func(a, b *unstructured.Unstructured) int {
			ra, _, _ := unstructured.NestedInt64(a.Object, "spec", "replicas")
			rb, _, _ := unstructured.NestedInt64(b.Object, "spec", "replicas")
			// The index breaks ties by uid in the direction of the first key.
			return cmp.Or(cmp.Compare(rb, ra), cmp.Compare(a.GetName(), b.GetName()), cmp.Compare(b.GetUID(), a.GetUID()))
		},
	}
}

// byNamespaceName is the index's default order: namespace, name, then uid.
func byNamespaceName(a, b *unstructured.Unstructured) int {
	return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()),
		cmp.Compare(a.GetUID(), b.GetUID()))
}

// readyStatus returns the status of the object's Ready condition, "" without one.
func readyStatus(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// answer is what a query returns: the page's objects in order, the total number of matches
// and the counts by value of its facets.
type answer struct {
	names  []string // namespace/name
	total  int64
	facets string // facetText of the counts
}

// disagreement reports that a baseline answered a query differently from kubesift.
type disagreement struct {
	query, baseline, detail string
}

func (d *disagreement) Error() string {
	return fmt.Sprintf("query %s: %s disagrees with kubesift: %s", d.query, d.baseline, d.detail)
}

// compareAnswers returns a *disagreement when got differs from want.
func compareAnswers(name, baseline string, want, got answer) error {
	if want.total != got.total {
		return &disagreement{name, baseline, fmt.Sprintf("total %d, kubesift %d", got.total, want.total)}
	}
	if want.facets != got.facets {
		return &disagreement{name, baseline, fmt.Sprintf("facets %s, kubesift %s", got.facets, want.facets)}
	}
	for i := range max(len(want.names), len(got.names)) {
		w, g := "(none)", "(none)"
		if i < len(want.names) {
			w = want.names[i]
		}
		if i < len(got.names) {
			g = got.names[i]
		}
		if w != g {
			return &disagreement{name, baseline, fmt.Sprintf("item %d of the page is %s, kubesift has %s", i, g, w)}
		}
	}
	return nil
}

// clientSide does in the client what the API cannot: filter by q.match, sort, cut the page and
// count.
func clientSide(q benchQuery, items []unstructured.Unstructured) answer {
	match := q.match
	if q.matchAll != nil {
		match = q.matchAll(items)
	}
	matches := make([]*unstructured.Unstructured, 0, len(items))
	for i := range items {
		if match == nil || match(&items[i]) {
			matches = append(matches, &items[i])
		}
	}
	slices.SortFunc(matches, q.compare)
	limit := q.spec.Limit
	from := min((q.page-1)*limit, len(matches))
	to := min(from+limit, len(matches))
	a := answer{total: int64(len(matches)), names: make([]string, 0, to-from)}
	for _, u := range matches[from:to] {
		a.names = append(a.names, u.GetNamespace()+"/"+u.GetName())
	}
	a.facets = countFacets(q, matches)
	return a
}

// measureQueries measures every benchmark query with the three methods over the n objects
// loaded, and checks that they agree. It also returns the mean JSON size of an object and, with
// o.clusters > 1, the same queries over the same objects spread over that many clusters (nil
// otherwise).
func measureQueries(ctx context.Context, c *cluster, o options, n int) ([]QueryResult, *ClustersResult, int, error) {
	// A consistent read, so that the in-process index holds every write of the load; the
	// baselines then ask for data not older than it.
	all, err := c.templates.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("listing the objects: %w", err)
	}
	if len(all.Items) != n {
		return nil, nil, 0, fmt.Errorf("the API server lists %d objects, want %d", len(all.Items), n)
	}
	objBytes, err := meanSize(all.Items)
	if err != nil {
		return nil, nil, 0, err
	}

	rv := all.GetResourceVersion()
	store, err := loadIndex(all.Items)
	if err != nil {
		return nil, nil, 0, err
	}
	defer func() { _ = store.Close() }()

	informer, stopInformer, err := startInformer(ctx, c)
	if err != nil {
		return nil, nil, 0, err
	}
	defer stopInformer()

	tree, err := findOwnerTree(o, all.Items)
	if err != nil {
		return nil, nil, 0, err
	}
	var out []QueryResult
	for _, q := range benchQueries(tree) {
		r, err := measureQuery(ctx, c, o, store, informer, rv, q)
		if err != nil {
			return nil, nil, 0, err
		}
		logf("  %-17s total %6d  kubesift %9.3f ms  API LIST %9.3f ms (%6.0fx)  informer %8.3f ms (%5.1fx)  [medians]",
			q.name, r.Total, r.Kubesift.Median, r.API.Median, r.API.Median/r.Kubesift.Median,
			r.Informer.Median, r.Informer.Median/r.Kubesift.Median)
		out = append(out, r)
	}
	if o.clusters < 2 {
		return out, nil, objBytes, nil
	}
	// The same LIST, so that every answer must be the single-cluster index's.
	spread, err := measureClusterQueries(ctx, o, store, all.Items, benchQueries(tree), out)
	if err != nil {
		return nil, nil, 0, err
	}
	return out, spread, objBytes, nil
}

// measureQuery measures one query three ways and checks the answers agree.
func measureQuery(ctx context.Context, c *cluster, o options, store *index.Store, informer cache.Cache, rv string,
	q benchQuery) (QueryResult, error) {
	r := QueryResult{Name: q.name, Title: q.title, Limit: q.spec.Limit, Page: q.page, APIRequest: q.apiRequest()}
	compiled, err := query.Compile(q.spec)
	if err != nil {
		return r, fmt.Errorf("query %s: %w", q.name, err)
	}
	// Walk to the page measured; with few objects, the last page stands for it.
	token, page, err := walkTo(ctx, store, compiled, q.page)
	if err != nil {
		return r, fmt.Errorf("query %s: walking to page %d: %w", q.name, q.page, err)
	}
	q.page = page
	r.Page = q.page
	kubesift := searchAnswer(store, compiled, token)
	api := func(ctx context.Context) (answer, error) {
		opts := metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}
		if q.selector != nil {
			opts.LabelSelector = q.selector.String()
		}
		list, err := c.templates.List(ctx, opts)
		if err != nil {
			return answer{}, err
		}
		return clientSide(q, list.Items), nil
	}
	inMemory := func(ctx context.Context) (answer, error) {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(sample.TemplateGVK.GroupVersion().WithKind(sample.TemplateGVK.Kind + "List"))
		opts := []client.ListOption{client.UnsafeDisableDeepCopy}
		if q.selector != nil {
			opts = append(opts, client.MatchingLabelsSelector{Selector: q.selector})
		}
		if err := informer.List(ctx, list, opts...); err != nil {
			return answer{}, err
		}
		return clientSide(q, list.Items), nil
	}

	var want answer
	if r.Kubesift, want, err = measure(ctx, o.queryBudget, 1000, kubesift); err != nil {
		return r, fmt.Errorf("query %s with kubesift: %w", q.name, err)
	}
	r.Total, r.want = want.total, want
	if want.total == 0 {
		return r, fmt.Errorf("query %s matches nothing: the sample data is not what the benchmark expects", q.name)
	}
	for _, b := range []struct {
		name string
		f    func(context.Context) (answer, error)
		lat  *Latency
		max  int
	}{{"the API server LIST", api, &r.API, 200}, {"the informer cache", inMemory, &r.Informer, 300}} {
		lat, got, err := measure(ctx, o.queryBudget, b.max, b.f)
		if err != nil {
			return r, fmt.Errorf("query %s with %s: %w", q.name, b.name, err)
		}
		if err := compareAnswers(q.name, b.name, want, got); err != nil {
			return r, err
		}
		*b.lat = lat
	}
	return r, nil
}

// walkTo returns the continue token of page (1-based) of compiled in store, and the page it
// reached: the last page when there are fewer.
func walkTo(ctx context.Context, store *index.Store, compiled *query.Query, page int) (string, int, error) {
	token := ""
	for p := 1; p < page; p++ {
		res, err := store.Search(ctx, compiled, token)
		if err != nil {
			return "", 0, err
		}
		if res.Continue == "" {
			return token, p, nil
		}
		token = res.Continue
	}
	return token, page, nil
}

// searchAnswer asks store for the page of compiled that token continues to.
func searchAnswer(store *index.Store, compiled *query.Query, token string) func(context.Context) (answer, error) {
	return func(ctx context.Context) (answer, error) {
		p, err := store.Search(ctx, compiled, token)
		if err != nil {
			return answer{}, err
		}
		a := answer{total: p.Total, names: make([]string, 0, len(p.Items)), facets: facetText(p.Facets)}
		for _, it := range p.Items {
			a.names = append(a.names, it.Namespace+"/"+it.Name)
		}
		return a, nil
	}
}

// measure calls f once to warm up, then repeatedly for about budget (at least 5 and at most
// maxSamples times), and returns the latencies and the answer. Every answer must be the same.
func measure(ctx context.Context, budget time.Duration, maxSamples int, f func(context.Context) (answer, error)) (Latency, answer, error) {
	// Start each method without the garbage of the one before (a LIST of everything leaves
	// hundreds of megabytes), so that no method pays for another's collection.
	runtime.GC()
	first, err := f(ctx)
	if err != nil {
		return Latency{}, first, err
	}
	var samples []time.Duration
	start := time.Now()
	for len(samples) < maxSamples && (len(samples) < 5 || time.Since(start) < budget) {
		t := time.Now()
		a, err := f(ctx)
		d := time.Since(t)
		if err != nil {
			return Latency{}, first, err
		}
		if err := compareAnswers("", "a repetition", first, a); err != nil {
			return Latency{}, first, fmt.Errorf("the answer changed between two calls: %w", err)
		}
		samples = append(samples, d)
	}
	return summarize(samples), first, nil
}

// measurePair measures a and b as measure does, call by call in turn (a, b, a, b, ...), so that
// both see the same machine: a comparison of two measurements taken minutes apart also
// measures whatever changed on the machine in between. Each must answer the same every time.
func measurePair(ctx context.Context, budget time.Duration, maxSamples int, a, b func(context.Context) (answer, error)) (
	la, lb Latency, first [2]answer, err error) {
	runtime.GC()
	fs := [2]func(context.Context) (answer, error){a, b}
	for i, f := range fs {
		if first[i], err = f(ctx); err != nil {
			return la, lb, first, err
		}
	}
	var samples [2][]time.Duration
	start := time.Now()
	for len(samples[1]) < maxSamples && (len(samples[1]) < 5 || time.Since(start) < budget) {
		for i, f := range fs {
			t := time.Now()
			got, err := f(ctx)
			d := time.Since(t)
			if err != nil {
				return la, lb, first, err
			}
			if err := compareAnswers("", "a repetition", first[i], got); err != nil {
				return la, lb, first, fmt.Errorf("the answer changed between two calls: %w", err)
			}
			samples[i] = append(samples[i], d)
		}
	}
	return summarize(samples[0]), summarize(samples[1]), first, nil
}

// loadIndex fills an in-memory index with objs, registered as the benchmark's ResourceIndex
// registers the kind and loaded as the controller loads an initial list: one Replace.
// managedFields are dropped (in place), as the manager's cache transform does.
func loadIndex(objs []unstructured.Unstructured) (*index.Store, error) {
	start := time.Now()
	store, err := openIndex()
	if err != nil {
		return nil, err
	}
	list := make([]*unstructured.Unstructured, len(objs))
	for i := range objs {
		objs[i].SetManagedFields(nil)
		list[i] = &objs[i]
	}
	if err := store.Replace(sample.TemplateGVK, list); err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("loading the index: %w", err)
	}
	logf("  in-process index loaded with %d objects in %s", len(objs), time.Since(start).Round(time.Millisecond))
	return store, nil
}

// openIndex opens an empty in-memory index with the kind registered as the benchmark's
// ResourceIndex registers it.
func openIndex() (*index.Store, error) {
	store, err := index.Open(index.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening the index: %w", err)
	}
	if err := store.Register(sample.TemplateGVK, index.KindConfig{Namespaced: true, Fields: indexedFields}); err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("registering the kind: %w", err)
	}
	return store, nil
}

// startInformer starts a controller-runtime cache with an informer for the Template kind and
// waits until it holds every object.
func startInformer(ctx context.Context, c *cluster) (cache.Cache, func(), error) {
	start := time.Now()
	ic, err := cache.New(c.cfg, cache.Options{Scheme: kruntime.NewScheme()})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the informer cache: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(sample.TemplateGVK)
	if _, err := ic.GetInformer(ctx, u); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("creating the informer: %w", err)
	}
	go func() { _ = ic.Start(ctx) }()
	if !ic.WaitForCacheSync(ctx) {
		cancel()
		return nil, nil, fmt.Errorf("the informer cache did not sync")
	}
	logf("  informer cache synced in %s", time.Since(start).Round(time.Millisecond))
	return ic, cancel, nil
}

// meanSize returns the mean JSON size of a sample of objs, without managedFields.
func meanSize(objs []unstructured.Unstructured) (int, error) {
	step := max(len(objs)/1000, 1)
	total, count := 0, 0
	for i := 0; i < len(objs); i += step {
		u := objs[i].DeepCopy()
		u.SetManagedFields(nil)
		b, err := json.Marshal(u.Object)
		if err != nil {
			return 0, fmt.Errorf("encoding an object: %w", err)
		}
		total += len(b)
		count++
	}
	return total / max(count, 1), nil
}
