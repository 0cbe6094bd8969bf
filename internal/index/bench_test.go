package index

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/sample"
	"github.com/kubesift/kubesift/internal/token"
)

var benchFields = []string{"spec.image", "spec.replicas", "spec.region", "spec.template.spec.containers[name=c1].image", "status.conditions[type=Available].status"}

type benchData struct {
	store *Store
	objs  []*unstructured.Unstructured
}

var (
	benchMu    sync.Mutex
	benchCache = map[int]*benchData{}
)

func benchObjects(n int) []*unstructured.Unstructured {
	r := rand.New(rand.NewPCG(42, uint64(n)))
	objs := make([]*unstructured.Unstructured, n)
	for i := range objs {
		objs[i] = realisticObject(r, i)
	}
	return objs
}

// benchStore returns a store holding n realistic objects, shared across benchmarks.
func benchStore(b *testing.B, n int) *benchData {
	benchMu.Lock()
	defer benchMu.Unlock()
	if d := benchCache[n]; d != nil {
		return d
	}
	s, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: benchFields}); err != nil {
		b.Fatal(err)
	}
	objs := benchObjects(n)
	if err := s.Replace(widgetGVK, objs); err != nil {
		b.Fatal(err)
	}
	d := &benchData{store: s, objs: objs}
	benchCache[n] = d
	return d
}

// sampleFields are the paths the benchmark's control plane declares for sample Templates.
var sampleFields = []string{"spec.replicas", "spec.team", "spec.tier", "status.conditions[type=Ready].status"}

// sampleStore returns a store holding n objects of internal/sample, the data "make bench"
// loads into a control plane, shared across benchmarks.
func sampleStore(b *testing.B, n int) *benchData {
	benchMu.Lock()
	defer benchMu.Unlock()
	if d := benchCache[-n]; d != nil {
		return d
	}
	s := openSampleStore(b)
	objs := benchTemplates(n)
	if err := s.Replace(sample.TemplateGVK, objs); err != nil {
		b.Fatal(err)
	}
	d := &benchData{store: s, objs: objs}
	benchCache[-n] = d
	return d
}

// openSampleStore opens an empty in-memory store with sample Templates registered as make bench
// declares them.
func openSampleStore(b *testing.B) *Store {
	s, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Register(sample.TemplateGVK, KindConfig{Namespaced: true, Fields: sampleFields}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchTemplates returns the sample Templates 0..n-1 of 100 namespaces, each with a uid and a
// resourceVersion as the API server would give them.
func benchTemplates(n int) []*unstructured.Unstructured {
	g := sample.Generator{Namespaces: 100, Seed: 1}
	objs := make([]*unstructured.Unstructured, n)
	for i := range objs {
		objs[i] = g.Template(i)
		objs[i].SetUID(typesUID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)))
		objs[i].SetResourceVersion(fmt.Sprint(1000 + i))
	}
	return objs
}

func dbBytes(b *testing.B, s *Store) int64 {
	c, err := s.acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.release(c)
	st, _, err := c.db.Prepare(`SELECT (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())`)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	st.Step()
	return st.ColumnInt64(0)
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest loads 10k objects of ~2 KB with one Replace, as an initial list does.
// objects/s depends on the machine's load; cpu-µs/object (process CPU time, GC included)
// is steadier on a shared machine.
// plainFields are benchFields without list paths.
var plainFields = benchFields[:3]

func BenchmarkIngest(b *testing.B) {
	const n = 10000
	objs := benchObjects(n)
	raw := 0
	for _, o := range objs[:100] {
		js, _ := o.MarshalJSON()
		raw += len(js)
	}
	for _, v := range []struct {
		name, vfs string
		fields    []string
	}{{"mvcc", "mvcc", plainFields}, {"memdb", "memdb", plainFields}, {"mvcc-keyed", "mvcc", benchFields}} {
		vfs := v.vfs
		b.Run(v.name, func(b *testing.B) {
			var bytes int64
			var cpu time.Duration
			for b.Loop() {
				s, err := Open(Options{vfs: vfs})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: v.fields}); err != nil {
					b.Fatal(err)
				}
				c0 := cpuTime()
				if err := s.Replace(widgetGVK, objs); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				bytes = dbBytes(b, s)
				_ = s.Close()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "objects/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/object")
			b.ReportMetric(float64(bytes)/n, "bytes/object")
			b.ReportMetric(float64(raw)/100, "json-bytes/object")
		})
	}
}

type benchCase struct {
	name string
	spec query.Spec
	deep bool // start at the middle of the result set
	// page is the 1-based page measured, reached by walking the pages before it once,
	// untimed; 0 means the first page (or the middle, with deep).
	page int
	// sample runs the case on internal/sample Templates (sampleStore) instead of Widgets.
	sample bool
}

func benchCases() []benchCase {
	sel, _ := labels.Parse("shard=7")
	return []benchCase{
		{name: "label", spec: query.Spec{Labels: sel}},
		{name: "indexed-field", spec: query.Spec{Fields: []query.FieldPredicate{{Path: "spec.image", Operator: query.OpEquals, Values: []string{"img-42"}}}}},
		{name: "indexed-field-range", spec: query.Spec{Fields: []query.FieldPredicate{{Path: "spec.replicas", Operator: query.OpGreaterThan, Values: []string{"8"}}}, Namespaces: []string{"team-005"}}},
		{name: "unindexed-field", spec: query.Spec{Fields: []query.FieldPredicate{{Path: "status.readyReplicas", Operator: query.OpEquals, Values: []string{"4"}}}, Namespaces: []string{"team-005"}}},
		{name: "unindexed-field-scan", spec: query.Spec{Fields: []query.FieldPredicate{{Path: "status.readyReplicas", Operator: query.OpEquals, Values: []string{"4"}}}}},
		{name: "keyed-field", spec: query.Spec{Fields: []query.FieldPredicate{{Path: "spec.template.spec.containers[name=c1].image", Operator: query.OpStartsWith, Values: []string{"registry.example.com/team-042/app-1:v7."}}}}},
		{name: "keyed-field-half", spec: query.Spec{Fields: []query.FieldPredicate{{Path: "status.conditions[type=Available].status", Operator: query.OpEquals, Values: []string{"False"}}}}},
		{name: "name-contains", spec: query.Spec{NameContains: "0042"}},
		{name: "name-contains-quarter", spec: query.Spec{NameContains: "frontend"}},
		{name: "deep-page", spec: query.Spec{}, deep: true},
		{name: "sorted-created-desc", spec: query.Spec{Sort: []query.SortKey{{Path: "metadata.creationTimestamp", Descending: true}}}, deep: true},
		// anyOf, valueFrom and facets.
		{name: "any-of-two-selective", spec: query.Spec{AnyOf: []query.Group{
			{Labels: sel},
			{Fields: []query.FieldPredicate{{Path: "spec.image", Operator: query.OpEquals, Values: []string{"img-42"}}}},
		}}},
		{name: "value-from-namespace", spec: query.Spec{Namespaces: []string{"team-005"}, Fields: []query.FieldPredicate{
			{Path: "status.readyReplicas", Operator: query.OpLessThan, ValueFrom: "spec.replicas"},
		}}},
		{name: "facet-label-all", spec: query.Spec{Limit: 1, Facets: []query.FacetSpec{{Path: "metadata.labels['tier']"}}}},
		{name: "facet-declared-path-all", spec: query.Spec{Limit: 1, Facets: []query.FacetSpec{{Path: "spec.replicas"}}}},
		// Conjunctions whose most selective predicate is selective.
		{name: "sample-label-shard", sample: true, spec: query.Spec{Labels: mustParse("shard=s7")}},
		{name: "sample-label-conjunction", sample: true, spec: query.Spec{Labels: mustParse("tier=backend,env=prod,shard=s7")}},
		{name: "sample-field-conjunction", sample: true, spec: query.Spec{Fields: []query.FieldPredicate{
			{Path: "spec.replicas", Operator: query.OpGreaterThanOrEqual, Values: []string{"12"}},
			{Path: "status.conditions[type=Ready].status", Operator: query.OpEquals, Values: []string{"False"}},
		}}},
		{name: "sample-label-and-field", sample: true, spec: query.Spec{Labels: mustParse("tier=backend,env=prod"), Fields: []query.FieldPredicate{
			{Path: "spec.replicas", Operator: query.OpGreaterThanOrEqual, Values: []string{"12"}},
		}}},
		{name: "sample-label-and-keyed-field", sample: true, spec: query.Spec{Labels: mustParse("shard=s7,env!=dev"), Fields: []query.FieldPredicate{
			{Path: "status.conditions[type=Ready].status", Operator: query.OpEquals, Values: []string{"True"}},
		}}},
		// make bench's live query (freshness): a page of one namespace's prod objects.
		{name: "sample-live-namespace", sample: true, spec: query.Spec{Namespaces: []string{sample.Namespace(7)},
			Labels: mustParse("env=prod"), Limit: 50}},
		// make bench's any-of: two selective label groups.
		{name: "sample-any-of", sample: true, spec: query.Spec{Limit: 50, AnyOf: []query.Group{
			{Labels: mustParse("shard=s7,env=prod")}, {Labels: mustParse("shard=s11,tier=frontend")},
		}}},
		// make bench's field-unindexed: a prefix of a path that is not declared, 1,490 matches.
		{name: "sample-unindexed-prefix", sample: true, spec: query.Spec{Fields: []query.FieldPredicate{
			{Path: "spec.image", Operator: query.OpStartsWith, Values: []string{"registry.example.com/payments/redis:"}},
		}}},
		// make bench's sorted deep page: a third of the objects, by a declared path then name.
		{name: "sample-sorted-deep-page", sample: true, deep: true, spec: sortedPageSpec},
		// The same query's pages 1, 10 and 100, as make bench measures them: with keyset
		// pages they cost about the same.
		{name: "sample-sorted-page-1", sample: true, page: 1, spec: sortedPageSpec},
		{name: "sample-sorted-page-10", sample: true, page: 10, spec: sortedPageSpec},
		{name: "sample-sorted-page-100", sample: true, page: 100, spec: sortedPageSpec},
	}
}

// sortedPageSpec is make bench's sorted page query: a third of the objects, by a declared
// path (descending) then name.
var sortedPageSpec = query.Spec{Labels: mustParse("env=prod"), Limit: 100,
	Sort: []query.SortKey{{Path: "spec.replicas", Descending: true}, {Path: "metadata.name"}}}

// pageToken walks the pages of q before page and returns the continue token of page.
func pageToken(b *testing.B, s *Store, q *query.Query, page int) string {
	cont := ""
	for range page - 1 {
		p, err := s.Search(context.Background(), q, cont)
		if err != nil {
			b.Fatal(err)
		}
		if p.Continue == "" {
			b.Skipf("the query has fewer than %d pages", page)
		}
		cont = p.Continue
	}
	return cont
}

// middleToken builds the continue token of the page that starts at the middle.
func middleToken(b *testing.B, s *Store, q *query.Query) string {
	k := s.kind(q.GVK())
	sb := &sqlBuilder{k: k}
	keys := keyFields(q)
	sb.w("SELECT ")
	for i, key := range keys {
		if i > 0 {
			sb.w(", ")
		}
		sb.sortExpr(key, false)
	}
	sb.w(" FROM ", k.table, " AS o")
	sb.orderBy(keys, false)
	sb.w(fmt.Sprintf(" LIMIT 1 OFFSET %d", k.count.Load()/2))
	c, _ := s.acquire(context.Background())
	defer s.release(c)
	st, _, err := c.db.Prepare(sb.b.String())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	_ = bind(st, sb.args)
	st.Step()
	vals := make([]any, len(keys))
	for i := range keys {
		vals[i] = columnValue(st, i)
	}
	return token.Encode(s.tokenKey, q.Fingerprint(), vals)
}

func BenchmarkQuery(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		for _, bc := range benchCases() {
			bc.spec.GVK = widgetGVK
			load := benchStore
			if bc.sample {
				bc.spec.GVK, load = sample.TemplateGVK, sampleStore
			}
			q, err := query.Compile(bc.spec)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("n=%d/%s/index", n, bc.name), func(b *testing.B) {
				d := load(b, n)
				cont := ""
				switch {
				case bc.deep:
					cont = middleToken(b, d.store, q)
				case bc.page > 1:
					cont = pageToken(b, d.store, q, bc.page)
				}
				var p Page
				for b.Loop() {
					p, err = d.store.Search(context.Background(), q, cont)
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(p.Total), "matches")
			})
			b.Run(fmt.Sprintf("n=%d/%s/in-memory", n, bc.name), func(b *testing.B) {
				d := load(b, n)
				var page []*unstructured.Unstructured
				for b.Loop() {
					page = inMemorySearch(d.objs, q, bc.deep, bc.page)
				}
				if len(page) == 0 && bc.page > 1 {
					b.Skipf("the query has fewer than %d pages", bc.page)
				}
			})
		}
	}
}

// inMemorySearch is what a controller does with an informer cache: filter every object,
// sort the matches, cut the page (the middle one with deep, else the 1-based page).
func inMemorySearch(objs []*unstructured.Unstructured, q *query.Query, deep bool, page int) []*unstructured.Unstructured {
	var matches []*unstructured.Unstructured
	for _, o := range objs {
		if q.Matches(o) {
			matches = append(matches, o)
		}
	}
	sortDesc := len(q.Sort()) == 1 && q.Sort()[0].Path.Is("metadata", "creationTimestamp")
	slices.SortFunc(matches, func(a, b *unstructured.Unstructured) int {
		switch {
		case sortDesc:
			at, bt := a.GetCreationTimestamp(), b.GetCreationTimestamp()
			if c := bt.Compare(at.Time); c != 0 {
				return c
			}
			return strings.Compare(string(b.GetUID()), string(a.GetUID()))
		case len(q.Sort()) > 0:
			return compareBySort(q, a, b)
		}
		return cmp.Or(strings.Compare(a.GetNamespace(), b.GetNamespace()), strings.Compare(a.GetName(), b.GetName()))
	})
	// Facets count over every match, as a client counting a full list would.
	for _, f := range q.Facets() {
		counts := map[string]int{}
		var values []string
		for _, o := range matches {
			values = f.Path.FacetValues(o.Object, values[:0])
			for _, v := range values {
				counts[v]++
			}
		}
	}
	start := 0
	switch {
	case deep:
		start = len(matches) / 2
	case page > 1:
		start = min((page-1)*q.Limit(), len(matches))
	}
	end := min(start+q.Limit(), len(matches))
	return matches[start:end]
}

// compareBySort orders two objects by q's sort keys, then uid, as the index does.
func compareBySort(q *query.Query, a, b *unstructured.Unstructured) int {
	for _, k := range q.Sort() {
		var av, bv any
		if x := k.Path.Select(a.Object, nil); len(x) > 0 {
			av = x[0]
		}
		if x := k.Path.Select(b.Object, nil); len(x) > 0 {
			bv = x[0]
		}
		c := sqlOrder(av, bv)
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return strings.Compare(string(a.GetUID()), string(b.GetUID()))
}

// updatedCopy returns obj with a new resourceVersion and status, sharing everything else.
func updatedCopy(obj *unstructured.Unstructured, gen int) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: maps.Clone(obj.Object)}
	md := maps.Clone(obj.Object["metadata"].(map[string]any))
	md["resourceVersion"] = fmt.Sprint(1_000_000 + gen)
	u.Object["metadata"] = md
	st := maps.Clone(obj.Object["status"].(map[string]any))
	st["readyReplicas"] = int64(gen % 11)
	u.Object["status"] = st
	return u
}

// BenchmarkConcurrent runs searches (ns/op is per search, across 2 goroutines) while one
// goroutine applies batches of 100 updates to a store of 10k objects, for each candidate
// storage: the mvcc and memdb in-memory VFSes, and a WAL-mode file.
func BenchmarkConcurrent(b *testing.B) {
	const n = 10000
	objs := benchObjects(n)
	sel, _ := labels.Parse("tier=cache")
	queries := []query.Spec{
		{GVK: widgetGVK, Labels: sel},
		{GVK: widgetGVK, Fields: []query.FieldPredicate{{Path: "spec.replicas", Operator: query.OpGreaterThan, Values: []string{"7"}}}, Namespaces: []string{"team-001", "team-002"}},
		{GVK: widgetGVK, NameContains: "0042"},
		{GVK: widgetGVK, Sort: []query.SortKey{{Path: "metadata.creationTimestamp", Descending: true}}},
	}
	for _, storage := range []string{"mvcc", "memdb", "file"} {
		b.Run(storage, func(b *testing.B) {
			opts := Options{vfs: storage}
			if storage == "file" {
				opts = Options{Path: filepath.Join(b.TempDir(), "index.db")}
			}
			s, err := Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: plainFields}); err != nil {
				b.Fatal(err)
			}
			if err := s.Replace(widgetGVK, objs); err != nil {
				b.Fatal(err)
			}
			var compiled []*query.Query
			for _, spec := range queries {
				compiled = append(compiled, mustCompile(b, spec))
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			var updates atomic.Int64
			go func() {
				defer close(done)
				r := rand.New(rand.NewPCG(1, 2))
				for gen := 0; ; gen++ {
					select {
					case <-stop:
						return
					default:
					}
					batch := make([]Change, 100)
					for i := range batch {
						batch[i] = Change{Object: updatedCopy(objs[r.IntN(n)], gen*100+i)}
					}
					if err := s.Apply(batch, nil); err != nil {
						b.Error(err)
						return
					}
					updates.Add(int64(len(batch)))
				}
			}()
			var next atomic.Int64
			var latMu sync.Mutex
			var lat []time.Duration
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					q := compiled[int(next.Add(1))%len(compiled)]
					t0 := time.Now()
					if _, err := s.Search(context.Background(), q, ""); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				latMu.Lock()
				lat = append(lat, mine...)
				latMu.Unlock()
			})
			elapsed := b.Elapsed()
			close(stop)
			<-done
			slices.Sort(lat)
			b.ReportMetric(float64(updates.Load())/elapsed.Seconds(), "updates/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// mustParse parses a selector known to be valid.
func mustParse(s string) labels.Selector {
	sel, _ := labels.Parse(s)
	return sel
}
