package index

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubesift/kubesift/internal/query"
)

var (
	diffKeys   = []string{"app", "tier", "example.com/team", "n"}
	diffValues = []string{"a", "b", "c", "1", "2", "10", "03"}
)

func randomObject(r *rand.Rand, i int) *unstructured.Unstructured {
	l := map[string]string{}
	for _, k := range diffKeys {
		if r.IntN(3) > 0 {
			l[k] = diffValues[r.IntN(len(diffValues))]
		}
	}
	scalar := func() any {
		switch r.IntN(7) {
		case 0:
			return int64(r.IntN(5))
		case 1:
			return float64(r.IntN(10)) / 4
		case 2:
			return diffValues[r.IntN(len(diffValues))]
		case 3:
			return r.IntN(2) == 0
		case 4:
			return nil
		case 5:
			return "ünï-" + strconv.Itoa(r.IntN(3))
		default:
			return map[string]any{"x": int64(1)}
		}
	}
	spec := map[string]any{}
	for _, k := range []string{"a", "b"} {
		if r.IntN(4) > 0 {
			spec[k] = scalar()
		}
	}
	if r.IntN(4) > 0 {
		var items []any
		for range r.IntN(4) {
			if r.IntN(6) == 0 {
				items = append(items, scalar())
				continue
			}
			it := map[string]any{}
			if r.IntN(4) > 0 {
				it["type"] = []string{"Ready", "Synced", "1"}[r.IntN(3)]
			}
			if r.IntN(4) > 0 {
				it["v"] = scalar()
			}
			items = append(items, it)
		}
		spec["items"] = items
	}
	u := obj(fmt.Sprintf("ns%d", r.IntN(3)), fmt.Sprintf("o-%04d", i), map[string]any{"spec": spec})
	u.SetLabels(l)
	return u
}

func randomSelector(r *rand.Rand) string {
	var parts []string
	for range 1 + r.IntN(3) {
		k := diffKeys[r.IntN(len(diffKeys))]
		v := diffValues[r.IntN(len(diffValues))]
		w := diffValues[r.IntN(len(diffValues))]
		switch r.IntN(9) {
		case 0:
			parts = append(parts, k+"="+v)
		case 1:
			parts = append(parts, k+"=="+v)
		case 2:
			parts = append(parts, k+"!="+v)
		case 3:
			parts = append(parts, k+" in ("+v+","+w+")")
		case 4:
			parts = append(parts, k+" notin ("+v+","+w+")")
		case 5:
			parts = append(parts, k)
		case 6:
			parts = append(parts, "!"+k)
		case 7:
			parts = append(parts, k+" > "+strconv.Itoa(r.IntN(5)))
		default:
			parts = append(parts, k+" < "+strconv.Itoa(r.IntN(5)))
		}
	}
	return strings.Join(parts, ",")
}

var (
	diffPaths = []string{"spec.a", "spec.b", "spec.items[*].v", "spec.items[*].type", "spec.items[type=Ready].v", "spec.items[*]", "spec.missing", "metadata.labels['example.com/team']"}
	diffOps   = []query.Operator{query.OpEquals, query.OpNotEquals, query.OpIn, query.OpNotIn, query.OpExists, query.OpDoesNotExist, query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual, query.OpContains, query.OpStartsWith}
)

func randomPredicate(r *rand.Rand) query.FieldPredicate {
	p := query.FieldPredicate{Path: diffPaths[r.IntN(len(diffPaths))], Operator: diffOps[r.IntN(len(diffOps))]}
	val := func() string {
		return []string{"0", "1", "2.5", "0.25", "true", "false", "a", "10", "-3", "ünï-1", "ün", "", "null"}[r.IntN(13)]
	}
	switch p.Operator {
	case query.OpEquals, query.OpNotEquals, query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual:
		if r.IntN(3) == 0 {
			// Compare with another field of the object.
			p.ValueFrom = []string{"spec.a", "spec.b", "spec.missing", "metadata.labels.n"}[r.IntN(4)]
			return p
		}
	}
	switch p.Operator {
	case query.OpExists, query.OpDoesNotExist:
	case query.OpIn, query.OpNotIn, query.OpContains, query.OpStartsWith:
		for range 1 + r.IntN(3) {
			p.Values = append(p.Values, val())
		}
	case query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual:
		// Numeric values only: non-numeric ones are rejected when the path holds numbers.
		p.Values = []string{[]string{"0", "1", "2.5", "-3", "10"}[r.IntN(5)]}
	default:
		p.Values = []string{val()}
	}
	return p
}

// refResolve is a deliberately simple, independent evaluator for the paths in diffPaths.
func refResolve(o map[string]any, path string) []any {
	spec, _ := o["spec"].(map[string]any)
	get := func(m any, k string) (any, bool) {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := mm[k]
		return v, ok
	}
	var out []any
	items, _ := spec["items"].([]any)
	switch path {
	case "spec.a", "spec.b", "spec.missing":
		if v, ok := spec[strings.TrimPrefix(path, "spec.")]; ok {
			out = append(out, v)
		}
	case "spec.items[*]":
		out = append(out, items...)
	case "spec.items[*].v", "spec.items[*].type":
		for _, it := range items {
			if v, ok := get(it, strings.TrimPrefix(path, "spec.items[*].")); ok {
				out = append(out, v)
			}
		}
	case "spec.items[type=Ready].v":
		for _, it := range items {
			if t, _ := get(it, "type"); t == "Ready" {
				if v, ok := get(it, "v"); ok {
					out = append(out, v)
				}
			}
		}
	case "metadata.labels['example.com/team']", "metadata.labels.n":
		md := o["metadata"].(map[string]any)
		key := "example.com/team"
		if path == "metadata.labels.n" {
			key = "n"
		}
		if v, ok := get(md["labels"], key); ok {
			out = append(out, v)
		}
	}
	return out
}

// refIsNumber reports whether val is a number in JSON syntax.
func refIsNumber(val string) bool {
	var n json.Number
	return val != "" && val[0] != '"' && strings.TrimSpace(val) == val && json.Unmarshal([]byte(val), &n) == nil
}

func refScalar(v any, op query.Operator, val string) bool {
	f, err := strconv.ParseFloat(val, 64)
	numVal := err == nil && refIsNumber(val)
	switch x := v.(type) {
	case string:
		switch op {
		case query.OpEquals:
			return x == val
		case query.OpContains:
			return strings.Contains(x, val)
		case query.OpStartsWith:
			return strings.HasPrefix(x, val)
		case query.OpGreaterThan:
			return x > val
		case query.OpGreaterThanOrEqual:
			return x >= val
		case query.OpLessThan:
			return x < val
		case query.OpLessThanOrEqual:
			return x <= val
		}
	case bool:
		return op == query.OpEquals && strconv.FormatBool(x) == val
	case int64, float64:
		var xf float64
		if i, ok := x.(int64); ok {
			xf = float64(i)
		} else {
			xf = x.(float64)
		}
		if !numVal {
			return false
		}
		switch op {
		case query.OpEquals:
			return xf == f
		case query.OpGreaterThan:
			return xf > f
		case query.OpGreaterThanOrEqual:
			return xf >= f
		case query.OpLessThan:
			return xf < f
		case query.OpLessThanOrEqual:
			return xf <= f
		}
	}
	return false
}

// refTyped compares two values of an object by their JSON types, for valueFrom.
func refTyped(v, w any, op query.Operator) bool {
	cmpOp := func(c int) bool {
		switch op {
		case query.OpEquals:
			return c == 0
		case query.OpGreaterThan:
			return c > 0
		case query.OpGreaterThanOrEqual:
			return c >= 0
		case query.OpLessThan:
			return c < 0
		case query.OpLessThanOrEqual:
			return c <= 0
		}
		return false
	}
	toFloat := func(x any) (float64, bool) {
		switch n := x.(type) {
		case int64:
			return float64(n), true
		case float64:
			return n, true
		}
		return 0, false
	}
	switch x := v.(type) {
	case string:
		y, ok := w.(string)
		return ok && cmpOp(strings.Compare(x, y))
	case bool:
		y, ok := w.(bool)
		return ok && op == query.OpEquals && x == y
	}
	a, ok1 := toFloat(v)
	b, ok2 := toFloat(w)
	return ok1 && ok2 && cmpOp(cmp.Compare(a, b))
}

func refPredicate(o map[string]any, p query.FieldPredicate) bool {
	vals := refResolve(o, p.Path)
	if p.ValueFrom != "" {
		ref := refResolve(o, p.ValueFrom)
		op := p.Operator
		if op == query.OpNotEquals {
			op = query.OpEquals
		}
		found := false
		for _, v := range vals {
			found = found || len(ref) == 1 && refTyped(v, ref[0], op)
		}
		return found != (p.Operator == query.OpNotEquals)
	}
	anyOf := func(op query.Operator, values []string) bool {
		for _, v := range vals {
			if op == query.OpExists {
				if v != nil {
					return true
				}
				continue
			}
			for _, w := range values {
				if refScalar(v, op, w) {
					return true
				}
			}
		}
		return false
	}
	switch p.Operator {
	case query.OpNotEquals:
		return !anyOf(query.OpEquals, p.Values)
	case query.OpIn:
		return anyOf(query.OpEquals, p.Values)
	case query.OpNotIn:
		return !anyOf(query.OpEquals, p.Values)
	case query.OpDoesNotExist:
		return !anyOf(query.OpExists, nil)
	}
	return anyOf(p.Operator, p.Values)
}

// diffGroup is a random anyOf group with the text of its selector, for messages.
type diffGroup struct {
	query.Group
	selector string
}

func (g diffGroup) String() string {
	return fmt.Sprintf("{labels %q names %v nameContains %q fields %+v}", g.selector, g.Names, g.NameContains, g.Fields)
}

// randomGroup returns a group with one to three random filters.
func randomGroup(t *testing.T, r *rand.Rand) diffGroup {
	var g diffGroup
	for g.Labels == nil && len(g.Fields) == 0 && len(g.Names) == 0 && g.NameContains == "" {
		if r.IntN(2) == 0 {
			g.selector = randomSelector(r)
			sel, err := labels.Parse(g.selector)
			if err != nil {
				t.Fatalf("parse %q: %v", g.selector, err)
			}
			g.Labels = sel
		}
		for range r.IntN(3) {
			g.Fields = append(g.Fields, randomPredicate(r))
		}
		switch r.IntN(4) {
		case 0:
			g.Names = []string{fmt.Sprintf("o-%04d", r.IntN(400)), fmt.Sprintf("o-%04d", r.IntN(400))}
		case 1:
			g.NameContains = []string{"01", "o-00", "7", "-01"}[r.IntN(4)]
		}
	}
	return g
}

// refFilter is the reference evaluation of one conjunction of filters.
func refFilter(o *unstructured.Unstructured, sel labels.Selector, nameContains string, names []string, preds []query.FieldPredicate) bool {
	ok := sel == nil || sel.Matches(labels.Set(o.GetLabels()))
	ok = ok && strings.Contains(strings.ToLower(o.GetName()), strings.ToLower(nameContains))
	ok = ok && (len(names) == 0 || slices.Contains(names, o.GetName()))
	for _, p := range preds {
		ok = ok && refPredicate(o.Object, p)
	}
	return ok
}

var diffFacetPaths = []string{"spec.a", "spec.b", "spec.items[*].v", "spec.items[type=Ready].v", "spec.items[*]", "metadata.labels['example.com/team']", "spec.missing"}

// refFacetText is the reference text of a facet value.
func refFacetText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// checkFacets compares the facets of q's first page with counts over the matching objects
// (want holds their namespace/name).
func checkFacets(t *testing.T, s *Store, q *query.Query, specs []query.FacetSpec, objs []*unstructured.Unstructured, want []string) {
	t.Helper()
	p, err := s.Search(context.Background(), q, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Facets) != len(specs) {
		t.Fatalf("%d facets, want %d", len(p.Facets), len(specs))
	}
	for i, fs := range specs {
		counts := map[string]int64{}
		var missing int64
		for _, o := range objs {
			if !slices.Contains(want, o.GetNamespace()+"/"+o.GetName()) {
				continue
			}
			seen := map[string]bool{}
			for _, v := range refResolve(o.Object, fs.Path) {
				if text, ok := refFacetText(v); ok {
					seen[text] = true
				}
			}
			if len(seen) == 0 {
				missing++
			}
			for text := range seen {
				counts[text]++
			}
		}
		var values []FacetValue
		for v, n := range counts {
			values = append(values, FacetValue{Value: v, Count: n})
		}
		slices.SortFunc(values, func(a, b FacetValue) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		var other int64
		for _, v := range values[min(fs.Limit, len(values)):] {
			other += v.Count
		}
		values = values[:min(fs.Limit, len(values))]
		got := p.Facets[i]
		if got.Missing != missing || got.Other != other || !slices.Equal(got.Values, values) {
			t.Fatalf("facet %s (limit %d): got %+v, want values %v other %d missing %d", fs.Path, fs.Limit, got, values, other, missing)
		}
	}
}

// TestDifferential compares Search and Matches with a reference evaluator, once with only
// spec.a declared (other paths are scanned) and once with every path declared, the list
// paths declared after the objects were stored (a backfill) and then rewritten.
func TestDifferential(t *testing.T) {
	for _, declared := range []bool{false, true} {
		t.Run(fmt.Sprintf("declared=%v", declared), func(t *testing.T) { testDifferential(t, declared) })
	}
}

func testDifferential(t *testing.T, declared bool) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 400
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	s := newStore(t, "spec.a")
	var objs []*unstructured.Unstructured
	var changes []Change
	for i := range n {
		o := randomObject(r, i)
		objs = append(objs, o)
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	if declared {
		if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: diffPaths}); err != nil {
			t.Fatal(err)
		}
		// Rewrite, delete and recreate objects so the side table follows every write path.
		changes = nil
		for i := 0; i < n; i += 3 {
			o := randomObject(r, i)
			o.SetResourceVersion(fmt.Sprint(i + 1))
			changes = append(changes, Change{Object: o})
			objs[i] = o
		}
		for i := 1; i < n; i += 10 {
			changes = append(changes, Change{Object: objs[i], Deleted: true})
		}
		if err := s.Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
		var kept []*unstructured.Unstructured
		for i, o := range objs {
			if i%10 != 1 {
				kept = append(kept, o)
			}
		}
		objs = kept
		if err := s.Replace(widgetGVK, objs[:len(objs)-20]); err != nil {
			t.Fatal(err)
		}
		objs = objs[:len(objs)-20]
		k := s.kind(widgetGVK)
		if len(k.lists) != 4 {
			t.Fatalf("list fields: %v", k.lists)
		}
	}
	for round := range rounds {
		selText := randomSelector(r)
		sel, err := labels.Parse(selText)
		if err != nil {
			t.Fatalf("parse %q: %v", selText, err)
		}
		var preds []query.FieldPredicate
		for range r.IntN(3) {
			preds = append(preds, randomPredicate(r))
		}
		if round%2 == 0 {
			sel = nil // field predicates alone
			if len(preds) == 0 {
				preds = append(preds, randomPredicate(r))
			}
		}
		nameContains := ""
		if round%3 == 0 {
			nameContains = []string{"0", "01", "o-0", "O-01", "-012", "0123", "x", "o-o", "\"ü"}[r.IntN(9)]
		}
		// A third of the rounds add anyOf groups of the same random filters.
		var groups []diffGroup
		if round%3 == 1 {
			for range 1 + r.IntN(3) {
				groups = append(groups, randomGroup(t, r))
			}
		}
		spec := query.Spec{GVK: widgetGVK, Labels: sel, Fields: preds, NameContains: nameContains, Limit: 1 + r.IntN(40)}
		if round%4 == 3 {
			for range 1 + r.IntN(3) {
				spec.Facets = append(spec.Facets, query.FacetSpec{Path: diffFacetPaths[r.IntN(len(diffFacetPaths))], Limit: 1 + r.IntN(6)})
			}
		}
		for _, g := range groups {
			spec.AnyOf = append(spec.AnyOf, g.Group)
		}
		q, err := query.Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		refs, total := searchAll(t, s, q)
		var want []string
		for _, o := range objs {
			ok := refFilter(o, sel, nameContains, nil, preds)
			if len(groups) > 0 {
				inGroup := false
				for _, g := range groups {
					inGroup = inGroup || refFilter(o, g.Labels, g.NameContains, g.Names, g.Fields)
				}
				ok = ok && inGroup
			}
			if ok {
				want = append(want, o.GetNamespace()+"/"+o.GetName())
			}
			if q.Matches(o) != ok {
				t.Fatalf("Matches(%s) = %v, reference %v; selector %q preds %+v groups %v; object %v", o.GetName(), !ok, ok, selText, preds, groups, o.Object["spec"])
			}
		}
		slices.Sort(want)
		if len(spec.Facets) > 0 {
			checkFacets(t, s, q, spec.Facets, objs, want)
		}
		var got []string
		for _, ref := range refs {
			got = append(got, ref.Namespace+"/"+ref.Name)
		}
		if !slices.Equal(got, want) || total != int64(len(want)) {
			t.Fatalf("selector %q preds %+v groups %v: index returned %d (total %d), reference %d\n got %v\nwant %v", selText, preds, groups, len(got), total, len(want), got, want)
		}
	}
}

// compareKeys orders two objects, read from clusters ac and bc, by keys as the index does. The
// row-id tiebreaker is not known here: the objects compare equal from it on.
func compareKeys(keys []sortField, ac string, a *unstructured.Unstructured, bc string, b *unstructured.Unstructured) int {
	value := func(k sortField, cluster string, o *unstructured.Unstructured) any {
		switch k.col {
		case "cluster":
			return cluster
		case "ns":
			return o.GetNamespace()
		case "name":
			return o.GetName()
		case "uid":
			return string(o.GetUID())
		}
		if x := refResolve(o.Object, k.path.String()); len(x) > 0 {
			return x[0]
		}
		return nil
	}
	for _, k := range keys {
		if k.col == "id" {
			return 0
		}
		c := sqlOrder(value(k, ac, a), value(k, bc, b))
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// sqlOrder orders scalars like SQLite: NULL < numbers (and booleans as 0/1) < text.
func sqlOrder(a, b any) int {
	rank := func(v any) int {
		switch v.(type) {
		case nil:
			return 0
		case string:
			return 2
		case map[string]any, []any:
			return 3
		}
		return 1
	}
	num := func(v any) float64 {
		switch x := v.(type) {
		case bool:
			if x {
				return 1
			}
			return 0
		case int64:
			return float64(x)
		case float64:
			return x
		}
		return 0
	}
	for _, v := range []*any{&a, &b} {
		if m, ok := (*v).(map[string]any); ok {
			js, _ := json.Marshal(m)
			*v = string(js)
		}
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	switch rank(a) {
	case 1:
		return cmp.Compare(num(a), num(b))
	case 2:
		return strings.Compare(a.(string), b.(string))
	}
	return 0
}

func TestPagination(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	sorts := [][]query.SortKey{
		nil,
		{{Path: "metadata.name", Descending: true}},
		{{Path: "spec.a"}},
		{{Path: "spec.a", Descending: true}},
		{{Path: "spec.a", Descending: true}, {Path: "metadata.name"}},
		{{Path: "spec.a"}, {Path: "metadata.name", Descending: true}},
		{{Path: "spec.b"}, {Path: "spec.a", Descending: true}},
		{{Path: "metadata.namespace", Descending: true}, {Path: "spec.b", Descending: true}},
	}
	for si, sortKeys := range sorts {
		for _, mutate := range []bool{false, true} {
			t.Run(fmt.Sprintf("sort%d/mutate=%v", si, mutate), func(t *testing.T) {
				s := newStore(t, "spec.a")
				live := map[string]*unstructured.Unstructured{}
				var changes []Change
				for i := range 300 {
					o := randomObject(r, i)
					live[o.GetNamespace()+"/"+o.GetName()] = o
					changes = append(changes, Change{Object: o})
				}
				if err := s.Apply(changes, nil); err != nil {
					t.Fatal(err)
				}
				initial := map[string]bool{}
				for k := range live {
					initial[k] = true
				}
				touched := map[string]bool{}
				q, err := query.Compile(query.Spec{GVK: widgetGVK, Sort: sortKeys, Limit: 7})
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]int{}
				var order []*unstructured.Unstructured
				token := ""
				next := 1000
				for {
					p, err := s.Search(context.Background(), q, token)
					if err != nil {
						t.Fatal(err)
					}
					for _, it := range p.Items {
						k := it.Namespace + "/" + it.Name
						seen[k]++
						if o := live[k]; o != nil {
							order = append(order, o)
						}
					}
					if !mutate && p.Remaining != p.Total-int64(len(seen)) {
						// Remaining is counted after the incoming cursor, by the first sort
						// key's index when it has one.
						t.Fatalf("remaining %d after %d of %d", p.Remaining, len(seen), p.Total)
					}
					if p.Continue == "" {
						break
					}
					token = p.Continue
					if mutate {
						// Insert and delete objects between pages.
						o := randomObject(r, next)
						next++
						live[o.GetNamespace()+"/"+o.GetName()] = o
						touched[o.GetNamespace()+"/"+o.GetName()] = true
						for k, v := range live {
							if r.IntN(2) == 0 {
								continue
							}
							if err := remove(s, v); err != nil {
								t.Fatal(err)
							}
							delete(live, k)
							touched[k] = true
							break
						}
						if err := upsert(s, o); err != nil {
							t.Fatal(err)
						}
					}
				}
				for k, n := range seen {
					if n != 1 {
						t.Fatalf("%s returned %d times", k, n)
					}
				}
				for k := range initial {
					if !touched[k] && seen[k] != 1 {
						t.Fatalf("%s never returned", k)
					}
				}
				// Returned objects are in sort order.
				keys := keyFields(q)
				less := func(a, b *unstructured.Unstructured) int { return compareKeys(keys, "", a, "", b) }
				for i := 1; i < len(order); i++ {
					if less(order[i-1], order[i]) > 0 {
						t.Fatalf("out of order at %d: %s then %s", i, order[i-1].GetName(), order[i].GetName())
					}
				}
			})
		}
	}
}
