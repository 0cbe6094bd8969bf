package index

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubesift/kubesift/internal/query"
)

// fuzzStore is shared by fuzz targets: opening a store per input would dominate.
var fuzzStore *Store

// fuzzObject is the one object in fuzzStore.
var fuzzObject = obj("n", "a", map[string]any{
	"metadata": map[string]any{
		"labels":      map[string]any{"env": "prod", "x.io/y": "v"},
		"annotations": map[string]any{"x.io/y": "it's"},
	},
	"spec": map[string]any{"a": int64(1), "l": []any{map[string]any{"k": "v", "x": []any{"s", int64(2), true, nil}}}},
})

func getFuzzStore(t testing.TB) *Store {
	if fuzzStore != nil {
		return fuzzStore
	}
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: []string{"spec.a", "metadata.annotations['x.io/y']", "spec.l[k=v].x[*]", "spec.l[*].k"}}); err != nil {
		t.Fatal(err)
	}
	if err := upsert(s, fuzzObject); err != nil {
		t.Fatal(err)
	}
	fuzzStore = s
	return s
}

// fuzzSpec is the JSON shape fuzz inputs are decoded from.
type fuzzSpec struct {
	Clusters     []string
	Namespaces   []string
	Names        []string
	NameContains string
	Labels       string
	Fields       []query.FieldPredicate
	OwnerUID     string
	Owner        *query.OwnerSpec
	AnyOf        []fuzzGroup
	Sort         []query.SortKey
	Limit        int
	Facets       []query.FacetSpec
}

// fuzzGroup is the JSON shape of an anyOf group.
type fuzzGroup struct {
	Names        []string
	NameContains string
	Labels       string
	Fields       []query.FieldPredicate
	OwnerUID     string
	Owner        *query.OwnerSpec
}

func FuzzCompile(f *testing.F) {
	seeds := []fuzzSpec{
		{Labels: "a=b,c!=d,e in (f),!g,h>3", Fields: []query.FieldPredicate{{Path: "spec.a", Operator: query.OpGreaterThan, Values: []string{"1"}}}},
		{Fields: []query.FieldPredicate{{Path: "spec.l[k=v].x[*]", Operator: query.OpNotIn, Values: []string{"a", "1", "true"}}}, Sort: []query.SortKey{{Path: "spec.a", Descending: true}}},
		{NameContains: "WeB", Names: []string{"a"}, Namespaces: []string{"n"}, Limit: 3},
		{Clusters: []string{"", "prod-eu", "x'y"}, Sort: []query.SortKey{{Path: "cluster", Descending: true}, {Path: "spec.a"}}},
		{Fields: []query.FieldPredicate{{Path: "metadata.annotations['x.io/y']", Operator: query.OpStartsWith, Values: []string{"'; DROP TABLE kinds; --"}}}},
		{Fields: []query.FieldPredicate{{Path: "spec.a", Operator: query.OpContains, Values: []string{"\x00\xff"}}}},
		{Fields: []query.FieldPredicate{{Path: "spec.l[*].k", Operator: query.OpStartsWith, Values: []string{"\xff\xff", ""}}, {Path: "spec.l[k=v].x[*]", Operator: query.OpLessThanOrEqual, Values: []string{"2"}}}},
		{Fields: []query.FieldPredicate{{Path: "spec.l[*].k", Operator: query.OpNotEquals, ValueFrom: "spec.a"}, {Path: "spec.a", Operator: query.OpLessThan, ValueFrom: "metadata.annotations['x.io/y']"}}},
		{Labels: "a=b", AnyOf: []fuzzGroup{{Labels: "c in (d)", NameContains: "web"}, {Fields: []query.FieldPredicate{{Path: "spec.l[*].k", Operator: query.OpIn, Values: []string{"v"}}, {Path: "spec.a", Operator: query.OpGreaterThan, Values: []string{"0"}}}}, {OwnerUID: "u", Names: []string{"a"}}}},
		{Owner: &query.OwnerSpec{UID: "'; DROP TABLE kinds; --", Depth: 3}, AnyOf: []fuzzGroup{{Owner: &query.OwnerSpec{Group: "apps.example.com", Kind: "Widget", Name: "a'b", Depth: 2}}, {Names: []string{"x"}}}},
		{Owner: &query.OwnerSpec{Group: "x", Kind: "NotIndexed", Name: "n", Depth: 5}},
		{NameContains: "a\"b'c", Fields: []query.FieldPredicate{{Path: "spec.l[k=v].x[*]", Operator: query.OpIn, Values: []string{"true", "s", "2.0"}}}},
		// Facets: a label (from the label table), declared and undeclared scalar paths (grouped
		// by SQLite), list paths (evaluated in Go), and path text that looks like SQL or JSON
		// path syntax.
		{Facets: []query.FacetSpec{{Path: "metadata.labels['env']"}, {Path: "metadata.labels['x.io/y']", Limit: 1}, {Path: "metadata.labels.missing"}}},
		{Labels: "env=prod", Facets: []query.FacetSpec{{Path: "spec.a", Limit: 1}, {Path: "metadata.annotations['x.io/y']"}, {Path: "spec.b"}, {Path: "spec.l"}}},
		{Facets: []query.FacetSpec{{Path: "spec.l[*].k"}, {Path: "spec.l[k=v].x[*]", Limit: 2}, {Path: "spec.l[*]"}}, AnyOf: []fuzzGroup{{Names: []string{"a"}}, {Labels: "env"}}},
		{Facets: []query.FacetSpec{{Path: "spec.l[k='v\" OR 1=1 --'].x[*]"}, {Path: "spec.l[k='$.a\")]'].k"}, {Path: "metadata['labels']['x.io/y']"}, {Path: "spec['a-b_c.d/e']"}}},
		{Facets: []query.FacetSpec{{Path: "metadata.labels['$.a\"]'"}}},
		{Facets: []query.FacetSpec{{Path: "spec.a'); DROP TABLE kinds; --"}}},
		{Facets: []query.FacetSpec{{Path: "metadata.labels['a'']"}, {Path: "spec.a", Limit: 101}}},
		{Owner: &query.OwnerSpec{UID: "u", Depth: 2}, Facets: []query.FacetSpec{{Path: "metadata.labels['env']"}, {Path: "spec.a"}, {Path: "spec.l[*].x[*]"}}},
	}
	for _, s := range seeds {
		js, _ := json.Marshal(s)
		f.Add(string(js), false)
	}
	// Deep pages on nullable keys in both directions, declared or not, after a lone label.
	for _, s := range []fuzzSpec{
		{Labels: "env=prod", Sort: []query.SortKey{{Path: "spec.a", Descending: true}, {Path: "metadata.name"}}, Limit: 100},
		{Labels: "env in (a,b)", Sort: []query.SortKey{{Path: "spec.a"}, {Path: "spec.b", Descending: true}}},
		{Fields: []query.FieldPredicate{{Path: "spec.l[*].k", Operator: query.OpExists}}, Sort: []query.SortKey{{Path: "spec.b", Descending: true}}},
		{Sort: []query.SortKey{{Path: "metadata.namespace", Descending: true}, {Path: "spec.a", Descending: true}}},
	} {
		js, _ := json.Marshal(s)
		f.Add(string(js), true)
	}
	f.Fuzz(func(t *testing.T, input string, deep bool) {
		var fs fuzzSpec
		if json.Unmarshal([]byte(input), &fs) != nil {
			return
		}
		spec := query.Spec{GVK: widgetGVK, Clusters: fs.Clusters, Namespaces: fs.Namespaces, Names: fs.Names, NameContains: fs.NameContains,
			Fields: fs.Fields, OwnerUID: fs.OwnerUID, Owner: fs.Owner, Sort: fs.Sort, Limit: fs.Limit, Facets: fs.Facets}
		if fs.Labels != "" {
			sel, err := labels.Parse(fs.Labels)
			if err != nil {
				return
			}
			spec.Labels = sel
		}
		for _, g := range fs.AnyOf {
			group := query.Group{Names: g.Names, NameContains: g.NameContains, Fields: g.Fields, OwnerUID: g.OwnerUID, Owner: g.Owner}
			if g.Labels != "" {
				sel, err := labels.Parse(g.Labels)
				if err != nil {
					return
				}
				group.Labels = sel
			}
			spec.AnyOf = append(spec.AnyOf, group)
		}
		q, err := query.Compile(spec)
		if err != nil {
			var qe *query.Error
			if !errors.As(err, &qe) || !errors.Is(err, query.ErrInvalidQuery) {
				t.Fatalf("query.Compile error is not a query.Error: %v", err)
			}
			return
		}
		s := getFuzzStore(t)
		k := s.kind(widgetGVK)
		keys := keyFields(q)
		// Cursors among the missing values of the first key and among its values.
		var cursors [][]any
		for first := range 2 {
			cursor := make([]any, len(keys))
			for i := range cursor {
				cursor[i] = []any{nil, int64(1), "x", 2.5}[(i+first)%4]
			}
			cursors = append(cursors, cursor)
		}
		c, err := s.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.release(c)
		plan, err := planFilters(c, k, q)
		if err != nil {
			// An owner named by a kind that is not indexed is the only user error planning
			// finds; it is a query error, located in the spec.
			var qe *query.Error
			if !errors.As(err, &qe) || !strings.HasSuffix(qe.Field, "owner.kind") {
				t.Fatalf("choosing the driver: %v", err)
			}
			return
		}
		for i := range 8 {
			walk := i%2 == 1
			var cur []any
			if deep {
				cur = cursors[i/4]
			}
			fp := filterPlan{trigram: everyTrigram, chains: plan.chains}
			if walk {
				fp.trigram = leadTrigram
			}
			if i%4 >= 2 {
				fp = plan
			}
			for _, part := range pageParts(k, keys, cur, walk) {
				sql, args, err := buildPageSQL(k, q, keys, part, walk, fp, q.Limit())
				if err != nil {
					t.Fatalf("a compiled query does not render: %v", err)
				}
				st, _, err := c.db.Prepare(sql)
				if err != nil {
					t.Fatalf("page SQL does not prepare: %v\n%s", err, sql)
				}
				if st.BindCount() != len(args) {
					t.Fatalf("%d parameters, %d arguments", st.BindCount(), len(args))
				}
				_ = st.Close()
			}
			if cur == nil {
				continue
			}
			for _, part := range []partRows{allRows, presentRows, missingRows} {
				sb := atOrBeforeSQL(k, q, keys, cur, fp, part, part != presentRows, 10)
				if sb.err != nil {
					t.Fatalf("a compiled query's count does not render: %v", sb.err)
				}
				st, _, err := c.db.Prepare(sb.b.String())
				if err != nil {
					t.Fatalf("count SQL does not prepare: %v\n%s", err, sb.b.String())
				}
				if st.BindCount() != len(sb.args) {
					t.Fatalf("%d parameters, %d arguments", st.BindCount(), len(sb.args))
				}
				_ = st.Close()
			}
		}
		page, err := s.Search(context.Background(), q, "")
		if err != nil && !errors.Is(err, query.ErrInvalidQuery) {
			t.Fatalf("Search: %v", err)
		}
		if err == nil {
			checkFuzzFacets(t, q, page)
		}
		_ = q.Matches(obj("n", "a", map[string]any{"spec": map[string]any{"a": int64(1)}}))
	})
}

// checkFuzzFacets compares the facets of page, counted by SQL for labels and scalar paths,
// with the evaluator of Matches applied to fuzzObject, the one object a page can count.
func checkFuzzFacets(t *testing.T, q *query.Query, page Page) {
	t.Helper()
	if len(page.Facets) != len(q.Facets()) {
		t.Fatalf("%d facets, want %d", len(page.Facets), len(q.Facets()))
	}
	for i, f := range q.Facets() {
		var texts []string
		var missing int64
		if page.Total == 1 {
			texts = f.Path.FacetValues(fuzzObject.Object, nil)
			if len(texts) == 0 {
				missing = 1
			}
		}
		slices.Sort(texts)
		var values []FacetValue
		for _, v := range texts[:min(f.Limit, len(texts))] {
			values = append(values, FacetValue{Value: v, Count: 1})
		}
		other := int64(len(texts) - len(values))
		got := page.Facets[i]
		if got.Path != f.Text || got.Missing != missing || got.Other != other || !slices.Equal(got.Values, values) {
			t.Fatalf("facet %s over %d matches: got %+v, want values %v other %d missing %d", f.Text, page.Total, got, values, other, missing)
		}
	}
}
