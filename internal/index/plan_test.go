package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/sample"
	"github.com/kubesift/kubesift/internal/token"
)

// explain returns the EXPLAIN QUERY PLAN details of the page query SQLite would run.
func explain(t testing.TB, s *Store, q *query.Query, walk bool) string {
	t.Helper()
	return explainPlan(t, s, q, walk, false)
}

// explainPlan is explain, with the driver chosen as Search chooses it when choose is set.
func explainPlan(t testing.TB, s *Store, q *query.Query, walk, choose bool) string {
	t.Helper()
	k := s.kind(q.GVK())
	c, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(c)
	fp := filterPlan{trigram: everyTrigram}
	if choose {
		if fp, err = planFilters(c, k, q); err != nil {
			t.Fatal(err)
		}
	}
	sql, args, err := buildPageSQL(k, q, keyFields(q), orderPart{}, walk, fp, q.Limit())
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := c.db.Prepare("EXPLAIN QUERY PLAN " + sql)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := bind(st, args); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for st.Step() {
		lines = append(lines, st.ColumnText(3))
	}
	return strings.Join(lines, "\n")
}

func TestDeclaredFieldsUseAnIndex(t *testing.T) {
	s := newStore(t, "spec.replicas", "spec.region", "status.conditions[type=Available].status", "spec.template.spec.containers[*].image")
	r := rand.New(rand.NewPCG(1, 1))
	var changes []Change
	for i := range 2000 {
		changes = append(changes, Change{Object: realisticObject(r, i)})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	k := s.kind(widgetGVK)
	tests := []struct {
		name  string
		spec  query.Spec
		walk  bool
		index string
	}{
		{"equals declared", query.Spec{Fields: []query.FieldPredicate{{Path: "spec.region", Operator: query.OpEquals, Values: []string{"region-3"}}}}, false, indexName(k.table, "spec.region")},
		{"range declared", query.Spec{Fields: []query.FieldPredicate{{Path: "spec.replicas", Operator: query.OpGreaterThan, Values: []string{"7"}}}}, false, indexName(k.table, "spec.replicas")},
		{"sort declared", query.Spec{Sort: []query.SortKey{{Path: "spec.replicas", Descending: true}}}, true, indexName(k.table, "spec.replicas")},
		{"label", query.Spec{Labels: mustSelector(t, "shard=7")}, false, k.table + "_labels"},
		{"keyed equals", query.Spec{Fields: []query.FieldPredicate{{Path: "status.conditions[type=Available].status", Operator: query.OpEquals, Values: []string{"False"}}}}, false, "SEARCH " + k.table + "_fields USING PRIMARY KEY (field=? AND value=?)"},
		{"keyed not equals", query.Spec{Fields: []query.FieldPredicate{{Path: "status.conditions[type=Available].status", Operator: query.OpNotEquals, Values: []string{"False"}}}}, false, "SEARCH " + k.table + "_fields USING PRIMARY KEY (field=? AND value=? AND obj=?)"},
		{"wildcard starts with", query.Spec{Fields: []query.FieldPredicate{{Path: "spec.template.spec.containers[*].image", Operator: query.OpStartsWith, Values: []string{"registry.example.com/team-007/"}}}}, false, "SEARCH " + k.table + "_fields USING PRIMARY KEY (field=? AND value>? AND value<?)"},
		{"wildcard range", query.Spec{Fields: []query.FieldPredicate{{Path: "spec.template.spec.containers[*].image", Operator: query.OpGreaterThan, Values: []string{"registry.example.com/team-098"}}}}, false, "SEARCH " + k.table + "_fields USING PRIMARY KEY (field=? AND value>? AND value<?)"},
		{"keyed exists in walk", query.Spec{Fields: []query.FieldPredicate{{Path: "status.conditions[type=Available].status", Operator: query.OpExists}}}, true, "SEARCH " + k.table + "_fields USING PRIMARY KEY (field=?)"},
		{"default sort walk", query.Spec{}, true, k.table + "_nsname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.GVK = widgetGVK
			plan := explain(t, s, mustCompile(t, tt.spec), tt.walk)
			if !strings.Contains(plan, tt.index) {
				t.Fatalf("plan does not use %s:\n%s", tt.index, plan)
			}
			t.Logf("plan:\n%s", plan)
		})
	}
	// Keyed paths give the same answers as Matches.
	for _, f := range []query.FieldPredicate{
		{Path: "status.conditions[type=Available].status", Operator: query.OpEquals, Values: []string{"False"}},
		{Path: "spec.template.spec.containers[*].image", Operator: query.OpContains, Values: []string{"team-007/app-1:"}},
	} {
		q := mustCompile(t, query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{f}})
		p, err := s.Search(context.Background(), q, "")
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		r := rand.New(rand.NewPCG(1, 1))
		for i := range 2000 {
			if q.Matches(realisticObject(r, i)) {
				want++
			}
		}
		if p.Total != int64(want) || want == 0 {
			t.Fatalf("%+v: total %d, Matches %d", f, p.Total, want)
		}
	}
	// An undeclared path still works, by scanning.
	q := mustCompile(t, query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{{Path: "spec.image", Operator: query.OpEquals, Values: []string{"img-7"}}}})
	if p, err := s.Search(context.Background(), q, ""); err != nil || p.Total != 1 {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestUnselectiveCountsScanANarrowIndex(t *testing.T) {
	s := newStore(t, "status.conditions[type=Available].status")
	r := rand.New(rand.NewPCG(1, 1))
	var changes []Change
	for i := range 2000 {
		changes = append(changes, Change{Object: realisticObject(r, i)})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	k := s.kind(widgetGVK)
	for _, tt := range []struct {
		spec  query.Spec
		index string
	}{
		{query.Spec{Labels: mustSelector(t, "tier=cache")}, k.table + "_lname"},
		{query.Spec{Fields: []query.FieldPredicate{{Path: "status.conditions[type=Available].status", Operator: query.OpNotEquals, Values: []string{"True"}}}, Namespaces: []string{"team-001", "team-002"}}, k.table + "_nsname"},
		{query.Spec{Labels: mustSelector(t, "tier!=cache"), CreatedAfter: &time.Time{}}, k.table + "_created"},
		{query.Spec{Fields: []query.FieldPredicate{{Path: "spec.replicas", Operator: query.OpExists}}}, ""},
	} {
		tt.spec.GVK = widgetGVK
		q := mustCompile(t, tt.spec)
		if got := coveringIndex(k, q, keyFields(q), nil, noTrigrams); got != tt.index {
			t.Fatalf("%+v: covering index %q, want %q", tt.spec, got, tt.index)
		}
		if tt.index == "" {
			continue
		}
		sb := &sqlBuilder{k: k, noIndex: true}
		sb.w("EXPLAIN QUERY PLAN SELECT count(*) FROM ", k.table, " AS o INDEXED BY ", tt.index, " WHERE ")
		sb.where(q)
		c, err := s.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := c.db.Prepare(sb.b.String())
		if err != nil {
			t.Fatal(err)
		}
		_ = bind(st, sb.args)
		var plan []string
		for st.Step() {
			plan = append(plan, st.ColumnText(3))
		}
		_ = st.Close()
		s.release(c)
		if !strings.Contains(strings.Join(plan, "\n"), "COVERING INDEX "+tt.index) {
			t.Fatalf("%+v: plan reads table rows:\n%s", tt.spec, strings.Join(plan, "\n"))
		}
		// The count is the same as Matches gives.
		p, err := s.Search(context.Background(), q, "")
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, ch := range changes {
			if q.Matches(ch.Object) {
				want++
			}
		}
		if p.Total != int64(want) {
			t.Fatalf("%+v: total %d, Matches %d", tt.spec, p.Total, want)
		}
	}
}

func TestConjunctionsDriveFromTheMostSelectiveTerm(t *testing.T) {
	gvk := sample.TemplateGVK
	s, objs := sampleTemplates(t, 100, 3000)
	k := s.kind(gvk)
	ready := query.FieldPredicate{Path: "status.conditions[type=Ready].status", Operator: query.OpEquals, Values: []string{"False"}}
	replicas := query.FieldPredicate{Path: "spec.replicas", Operator: query.OpGreaterThanOrEqual, Values: []string{"12"}}
	for _, tt := range []struct {
		name string
		spec query.Spec
		// want are lines of the plan: the driver's search, then the probes.
		want []string
	}{
		{"labels", query.Spec{Labels: mustSelector(t, "tier=backend,env=prod,shard=s7")}, []string{
			"SEARCH " + k.table + "_labels USING PRIMARY KEY (key=? AND value=?)",
			k.table + "_labels EXISTS USING PRIMARY KEY (key=? AND value=? AND obj=?)",
		}},
		{"labels and negation", query.Spec{Labels: mustSelector(t, "shard=s7,env!=dev,tier in (backend,data)")}, []string{
			"SEARCH " + k.table + "_labels USING PRIMARY KEY (key=? AND value=?)",
			k.table + "_labels EXISTS USING PRIMARY KEY (key=? AND value=? AND obj=?)",
		}},
		{"range and keyed path", query.Spec{Fields: []query.FieldPredicate{replicas, ready}}, []string{
			"SEARCH " + k.table + " USING COVERING INDEX " + indexName(k.table, "spec.replicas"),
			k.table + "_fields EXISTS USING ",
		}},
		// A namespace holds 30 objects, env=prod about 1,000: the namespace drives.
		{"label in a namespace", query.Spec{Namespaces: []string{sample.Namespace(7)}, Labels: mustSelector(t, "env=prod")}, []string{
			"SEARCH " + k.table + " USING COVERING INDEX " + k.table + "_nsname (ns=?)",
			k.table + "_labels EXISTS USING PRIMARY KEY (key=? AND value=? AND obj=?)",
		}},
		{"label and range", query.Spec{Labels: mustSelector(t, "tier=backend,env=prod"), Fields: []query.FieldPredicate{replicas}}, []string{
			"SEARCH " + k.table + " USING COVERING INDEX " + indexName(k.table, "spec.replicas"),
			k.table + "_labels EXISTS USING PRIMARY KEY (key=? AND value=? AND obj=?)",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.GVK = gvk
			q := mustCompile(t, tt.spec)
			plan := explainPlan(t, s, q, false, true)
			t.Logf("plan:\n%s", plan)
			for _, w := range tt.want {
				if !strings.Contains(plan, w) {
					t.Fatalf("plan has no %q", w)
				}
			}
			if n := strings.Count(plan, "LIST SUBQUERY"); n != 1 {
				t.Fatalf("plan collects %d sets, want only the driver's", n)
			}
			// The answers are those of Matches.
			got, total := searchAll(t, s, q)
			want := 0
			for _, o := range objs {
				if q.Matches(o) {
					want++
				}
			}
			if total != int64(want) || len(got) != want || want == 0 {
				t.Fatalf("total %d, items %d, Matches %d", total, len(got), want)
			}
		})
	}
}

// planOf returns SQLite's plan for sb's SQL.
func planOf(t *testing.T, s *Store, sb *sqlBuilder) string {
	t.Helper()
	c, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(c)
	st, _, err := c.db.Prepare("EXPLAIN QUERY PLAN " + sb.b.String())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := bind(st, sb.args); err != nil {
		t.Fatal(err)
	}
	var plan []string
	for st.Step() {
		plan = append(plan, st.ColumnText(3))
	}
	return strings.Join(plan, "\n")
}

// A deep page sorted by a declared path counts what remains after its cursor in the path's
// expression index, reading no document, and the count agrees with Matches.
func TestCountAfterACursorOnADeclaredPathReadsNoRows(t *testing.T) {
	s := newStore(t, "spec.replicas")
	r := rand.New(rand.NewPCG(2, 2))
	var changes []Change
	for i := range 1500 {
		changes = append(changes, Change{Object: realisticObject(r, i)})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	k := s.kind(widgetGVK)
	for _, desc := range []bool{true, false} {
		q := mustCompile(t, query.Spec{GVK: widgetGVK, Labels: mustSelector(t, "tier!=cache"),
			Sort: []query.SortKey{{Path: "spec.replicas", Descending: desc}}, Limit: 20})
		// A second key the index does not hold: the rows after the cursor's first value
		// are counted the same way, the ties apart, and the answer agrees with Matches.
		q2 := mustCompile(t, query.Spec{GVK: widgetGVK, Labels: mustSelector(t, "tier!=cache"),
			Sort: []query.SortKey{{Path: "spec.replicas", Descending: desc}, {Path: "metadata.name"}}, Limit: 20})
		p1, err := s.Search(context.Background(), q2, "")
		if err != nil {
			t.Fatal(err)
		}
		p2, err := s.Search(context.Background(), q2, p1.Continue)
		if err != nil {
			t.Fatal(err)
		}
		if p2.Remaining != p2.Total-40 {
			t.Fatalf("desc=%v, two keys: total %d remaining %d", desc, p2.Total, p2.Remaining)
		}
		keys := keyFields(q)
		first, err := s.Search(context.Background(), q, "")
		if err != nil || first.Continue == "" {
			t.Fatalf("first page: %+v %v", first, err)
		}
		cursor, err := token.Decode(s.tokenKey, q.Fingerprint(), len(keys), first.Continue)
		if err != nil {
			t.Fatal(err)
		}
		cover := coveringIndex(k, q, keys, cursor, noTrigrams)
		if cover != k.fields["spec.replicas"] {
			t.Fatalf("desc=%v: covering index %q, want the spec.replicas index", desc, cover)
		}
		sb := &sqlBuilder{k: k, noIndex: true}
		sb.w("SELECT count(*) FROM ", k.table, " AS o INDEXED BY ", cover, " WHERE ")
		sb.where(q)
		sb.noIndex = false
		sb.w(" AND ")
		sb.after(keys, cursor, true, true)
		if plan := planOf(t, s, sb); !strings.Contains(plan, "COVERING INDEX "+cover) {
			t.Fatalf("desc=%v: the count reads table rows:\n%s", desc, plan)
		}
		second, err := s.Search(context.Background(), q, first.Continue)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, ch := range changes {
			if q.Matches(ch.Object) {
				want++
			}
		}
		if second.Total != int64(want) || second.Remaining != int64(want-40) {
			t.Fatalf("desc=%v: total %d remaining %d, Matches %d", desc, second.Total, second.Remaining, want)
		}
	}
}

// A comparison with a non-numeric value on a declared plain path checks for numbers with a
// seek in the path's expression index instead of reading documents.
func TestNumericCheckOnADeclaredPathSeeks(t *testing.T) {
	s := newStore(t, "spec.replicas")
	if err := s.Apply([]Change{
		{Object: obj("a", "x", map[string]any{"spec": map[string]any{"replicas": "many"}})},
		{Object: obj("a", "y", map[string]any{"spec": map[string]any{"replicas": true}})},
	}, nil); err != nil {
		t.Fatal(err)
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{
		{Path: "spec.replicas", Operator: query.OpGreaterThan, Values: []string{"abc"}}}})
	// Text and booleans only: the string comparison is allowed.
	if p, err := s.Search(context.Background(), q, ""); err != nil || p.Total != 1 {
		t.Fatalf("got %+v %v", p, err)
	}
	if err := s.Apply([]Change{{Object: obj("a", "z", map[string]any{"spec": map[string]any{"replicas": int64(3)}})}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Search(context.Background(), q, ""); !errors.Is(err, query.ErrInvalidValue) {
		t.Fatalf("a number is stored: got %v", err)
	}
	k := s.kind(widgetGVK)
	ix := k.fields["spec.replicas"]
	sb := &sqlBuilder{k: k}
	sb.w("SELECT 1 FROM ", k.table, " INDEXED BY ", ix, " WHERE ", fieldIndexExpr(q.Predicates()[0].Path), " < '' LIMIT 1")
	if plan := planOf(t, s, sb); !strings.Contains(plan, "SEARCH") || !strings.Contains(plan, ix) {
		t.Fatalf("the check does not seek:\n%s", plan)
	}
}

// An anyOf of two selective groups collects each group's ids through its own index and reads
// only the rows of the union: no table scan.
func TestAnyOfUsesEachGroupsIndex(t *testing.T) {
	s := newStore(t, "spec.image", "status.conditions[type=Available].status")
	r := rand.New(rand.NewPCG(1, 1))
	var changes []Change
	for i := range 2000 {
		changes = append(changes, Change{Object: realisticObject(r, i)})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	k := s.kind(widgetGVK)
	q := mustCompile(t, query.Spec{GVK: widgetGVK, AnyOf: []query.Group{
		{Labels: mustSelector(t, "shard=7")},
		{Fields: []query.FieldPredicate{{Path: "spec.image", Operator: query.OpEquals, Values: []string{"img-42"}}}},
		{Names: []string{"web-worker-000002"}, Labels: mustSelector(t, "tier=cache")},
	}})
	for _, walk := range []bool{false, true} {
		plan := explainPlan(t, s, q, walk, true)
		t.Logf("walk=%v plan:\n%s", walk, plan)
		for _, want := range []string{
			"SEARCH " + k.table + "_labels USING PRIMARY KEY (key=? AND value=?)",
			"SEARCH o USING INDEX " + indexName(k.table, "spec.image"),
			k.table + "_name (name=?)",
		} {
			if !strings.Contains(plan, want) {
				t.Fatalf("walk=%v: plan has no %q", walk, want)
			}
		}
		if !walk && strings.Contains(plan, "SCAN o") {
			t.Fatalf("plan scans the table")
		}
	}
	got, total := searchAll(t, s, q)
	want := 0
	for _, ch := range changes {
		if q.Matches(ch.Object) {
			want++
		}
	}
	if total != int64(want) || len(got) != want || want < 3 {
		t.Fatalf("total %d, items %d, Matches %d", total, len(got), want)
	}
}

// planOfSQL returns the EXPLAIN QUERY PLAN details of sql.
func planOfSQL(t *testing.T, s *Store, sql string, args []any) string {
	t.Helper()
	sb := &sqlBuilder{args: args}
	sb.w(sql)
	return planOf(t, s, sb)
}

// A page after a cursor on a nullable declared key is read by range scans of the key's
// expression index, whatever the direction and wherever the cursor is (among the values or
// among the missing ones): no table scan and no sort of every row after the cursor, so a
// deep page costs what the first does.
func TestDeepPagesOnANullableDeclaredKeySeek(t *testing.T) {
	s := newStore(t, "spec.replicas")
	r := rand.New(rand.NewPCG(4, 4))
	var changes []Change
	for i := range 2000 {
		o := realisticObject(r, i)
		if i%4 == 0 {
			unstructured.RemoveNestedField(o.Object, "spec", "replicas")
		}
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []string{"", "tier=cache"} {
		for _, desc := range []bool{true, false} {
			for _, byName := range []bool{false, true} {
				t.Run(fmt.Sprintf("%q/desc=%v/byName=%v", sel, desc, byName), func(t *testing.T) {
					testDeepPagesSeek(t, s, sel, desc, byName)
				})
			}
		}
	}
}

// testDeepPagesSeek walks every page of a sort by spec.replicas (then name with byName),
// checking the plan of each part of each page, the first page included.
func testDeepPagesSeek(t *testing.T, s *Store, sel string, desc, byName bool) {
	k := s.kind(widgetGVK)
	ix := k.fields["spec.replicas"]
	sortKeys := []query.SortKey{{Path: "spec.replicas", Descending: desc}}
	if byName {
		sortKeys = append(sortKeys, query.SortKey{Path: "metadata.name"})
	}
	spec := query.Spec{GVK: widgetGVK, Sort: sortKeys, Limit: 100}
	if sel != "" {
		spec.Labels = mustSelector(t, sel)
	}
	q := mustCompile(t, spec)
	keys := keyFields(q)
	first, err := s.Search(context.Background(), q, "")
	if err != nil {
		t.Fatal(err)
	}
	if !walkPlan(k.count.Load(), first.Total, q.Limit()) {
		t.Fatal("the query does not walk the sort order")
	}
	fp, err := planFiltersOf(s, q)
	if err != nil {
		t.Fatal(err)
	}
	cont, pages, missing := "", 0, 0
	var cursor []any
	for {
		for i, part := range pageParts(k, keys, cursor, true) {
			part.skipTies = sortsTies(k, keys, cursor, true) && i == 0
			sql, args, err := buildPageSQL(k, q, keys, part, true, fp, q.Limit())
			if err != nil {
				t.Fatal(err)
			}
			plan := planOfSQL(t, s, sql, args)
			if !strings.Contains(plan, "SEARCH o USING INDEX "+ix+" (<expr>") || strings.Contains(plan, "SCAN o") {
				t.Fatalf("page %d, %v: no range scan of the key's index:\n%s", pages+1, part.rows, plan)
			}
			// By the key alone the index holds the whole order; with the name, rows that
			// tie on the key are sorted, never every row of the part.
			sorts := strings.Contains(plan, "USE TEMP B-TREE FOR ORDER BY")
			if (!byName && strings.Contains(plan, "TEMP B-TREE")) || (byName && sorts && part.rows != missingRows) {
				t.Fatalf("page %d, %v: the page sorts:\n%s", pages+1, part.rows, plan)
			}
		}
		p, err := s.Search(context.Background(), q, cont)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if p.Continue == "" {
			break
		}
		cont = p.Continue
		if cursor, err = token.Decode(s.tokenKey, q.Fingerprint(), len(keys), cont); err != nil {
			t.Fatal(err)
		}
		if cursor[0] == nil {
			missing++
		}
	}
	if want := (first.Total + 99) / 100; int64(pages) != want || missing == 0 {
		t.Fatalf("%d pages (want %d), %d cursors among the missing values", pages, want, missing)
	}
}

// planFiltersOf plans q's filters as Search does.
func planFiltersOf(s *Store, q *query.Query) (filterPlan, error) {
	c, err := s.acquire(context.Background())
	if err != nil {
		return filterPlan{}, err
	}
	defer s.release(c)
	return planFilters(c, s.kind(q.GVK()), q)
}

// The counts of a sorted page read indexes: the total of a lone label requirement its label
// entries alone, and the matches before a cursor a range of the first key's index up to the
// cursor, never the table in full.
func TestSortedPageCountsSeek(t *testing.T) {
	s := newStore(t, "spec.replicas")
	r := rand.New(rand.NewPCG(6, 6))
	var changes []Change
	for i := range 1000 {
		o := realisticObject(r, i)
		if i%4 == 0 {
			unstructured.RemoveNestedField(o.Object, "spec", "replicas")
		}
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	k := s.kind(widgetGVK)
	ix := k.fields["spec.replicas"]
	for _, desc := range []bool{true, false} {
		q := mustCompile(t, query.Spec{GVK: widgetGVK, Labels: mustSelector(t, "tier=cache"),
			Sort: []query.SortKey{{Path: "spec.replicas", Descending: desc}, {Path: "metadata.name"}}, Limit: 30})
		i := 0
		if !soleLabel(q) {
			t.Fatal("a lone label requirement is not counted from its entries")
		}
		if plan := planOf(t, s, labelCountSQL(k, q, i)); !strings.Contains(plan, k.table+"_labels USING PRIMARY KEY") || strings.Contains(plan, "SCAN") {
			t.Fatalf("the total does not seek the label entries:\n%s", plan)
		}
		keys := keyFields(q)
		cont := ""
		for page := 1; ; page++ {
			p, err := s.Search(context.Background(), q, cont)
			if err != nil {
				t.Fatal(err)
			}
			if p.Continue == "" {
				break
			}
			cont = p.Continue
			cursor, err := token.Decode(s.tokenKey, q.Fingerprint(), len(keys), cont)
			if err != nil {
				t.Fatal(err)
			}
			// With the name after the declared key, the page reads the rows that tie with
			// the cursor; the counts left compare the key alone, from its index only.
			if !sortsTies(k, keys, cursor, true) != (cursor[0] == nil) {
				t.Fatalf("desc=%v page %d: the page does not read the ties of the cursor %v", desc, page, cursor)
			}
			if cursor[0] != nil {
				for _, cmp := range []string{" < ", " > ", " = ", ""} {
					plan := planOf(t, s, firstKeySQL(k, q, filterPlan{trigram: everyTrigram}, keys[0], cmp, cursor[0], 1000))
					if !strings.Contains(plan, "COVERING INDEX "+ix+" (<expr>") || strings.Contains(plan, "SCAN o") {
						t.Fatalf("desc=%v page %d %q: the count reads the table:\n%s", desc, page, cmp, plan)
					}
				}
			}
			for _, part := range []partRows{missingRows, presentRows} {
				for _, own := range []bool{false, true} {
					if own && (part == missingRows) != (cursor[0] == nil) {
						continue
					}
					plan := planOf(t, s, atOrBeforeSQL(k, q, keys, cursor, filterPlan{trigram: everyTrigram}, part, own, 1000))
					if !strings.Contains(plan, "INDEX "+ix+" (<expr>") || strings.Contains(plan, "SCAN o") {
						t.Fatalf("desc=%v page %d part %v own=%v: the count before the cursor does not seek:\n%s", desc, page, part, own, plan)
					}
				}
			}
		}
	}
}

// A filter that no index narrows (a path that is not declared) is counted and paged by one
// scan of the table, or of the namespace's rows, and its answers agree with Matches.
func TestUnindexedPredicateScansOnce(t *testing.T) {
	gvk := sample.TemplateGVK
	s, objs := sampleTemplates(t, 10, 2000)
	k := s.kind(gvk)
	degraded := query.FieldPredicate{Path: "status.phase", Operator: query.OpEquals, Values: []string{"Degraded"}}
	for _, tt := range []struct {
		name string
		spec query.Spec
		want string // the plan's only access to the table
	}{
		{"every object", query.Spec{Fields: []query.FieldPredicate{degraded}}, "SCAN o"},
		{"one namespace", query.Spec{Namespaces: []string{sample.Namespace(3)}, Fields: []query.FieldPredicate{degraded}},
			"SEARCH o USING INDEX " + k.table + "_nsname (ns=?)"},
		{"sorted", query.Spec{Fields: []query.FieldPredicate{degraded}, Sort: []query.SortKey{{Path: "spec.replicas", Descending: true}}},
			"SCAN o"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.GVK, tt.spec.Limit = gvk, 20
			q := mustCompile(t, tt.spec)
			if !scansEveryRow(k, q) {
				t.Fatal("scansEveryRow is false")
			}
			plan := planOf(t, s, oneScanSQL(k, q, keyFields(q), filterPlan{}))
			t.Logf("plan:\n%s", plan)
			var access []string
			for _, l := range strings.Split(plan, "\n") {
				if strings.HasPrefix(l, "SCAN o") || strings.HasPrefix(l, "SEARCH o") {
					access = append(access, l)
				}
			}
			if len(access) != 1 || !strings.HasPrefix(access[0], tt.want) {
				t.Fatalf("the table is read by %q, want once by %q", access, tt.want)
			}
			// The answers are those of Matches, over every page.
			got, total := searchAll(t, s, q)
			want := 0
			for _, o := range objs {
				if q.Matches(o) {
					want++
				}
			}
			if total != int64(want) || len(got) != want || want <= 20 {
				t.Fatalf("total %d, items %d, Matches %d (more than a page wanted)", total, len(got), want)
			}
		})
	}
	// A declared path or a label has an index: not this plan.
	for _, spec := range []query.Spec{
		{GVK: gvk, Fields: []query.FieldPredicate{{Path: "spec.team", Operator: query.OpEquals, Values: []string{"payments"}}}},
		{GVK: gvk, Labels: mustSelector(t, "env=prod"), Fields: []query.FieldPredicate{degraded}},
	} {
		if scansEveryRow(k, mustCompile(t, spec)) {
			t.Fatalf("scansEveryRow is true for %+v", spec)
		}
	}
}

// sampleTemplates returns a store holding n sample Templates spread over namespaces, with
// make bench's declared fields, and the Templates.
func sampleTemplates(t *testing.T, namespaces, n int) (*Store, []*unstructured.Unstructured) {
	t.Helper()
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Register(sample.TemplateGVK, KindConfig{Namespaced: true, Fields: sampleFields}); err != nil {
		t.Fatal(err)
	}
	g := sample.Generator{Namespaces: namespaces, Seed: 1}
	var objs []*unstructured.Unstructured
	for i := range n {
		o := g.Template(i)
		o.SetUID(typesUID(fmt.Sprintf("uid-%d", i)))
		objs = append(objs, o)
	}
	if err := s.Replace(sample.TemplateGVK, objs); err != nil {
		t.Fatal(err)
	}
	return s, objs
}

// TestNameSearchPlans checks how useTrigrams answers nameContains, and that every plan finds
// exactly the names holding the substring over every page: the lead trigram's candidates
// include names without the substring, which lname must reject.
func TestNameSearchPlans(t *testing.T) {
	s := newStore(t, "spec.replicas")
	var objs []*unstructured.Unstructured
	var names []string
	for i := range 3000 {
		for _, app := range []string{"ledger", "payments"} {
			name := fmt.Sprintf("%s-%d", app, i)
			names = append(names, name)
			objs = append(objs, obj(fmt.Sprintf("ns-%d", i%7), name, nil))
		}
	}
	if err := s.ReplaceIn(widgetGVK, "", objs); err != nil {
		t.Fatal(err)
	}
	k := s.kind(widgetGVK)
	// 6,000 objects: a plan uses the trigram index below 200 candidates.
	tests := []struct {
		substring string
		plan      trigramPlan
	}{
		// "120" is in 26 names (ledger-1120 and payments-120 among them); 11 hold dger-120.
		{"dger-120", leadTrigram},
		// "-12" is in 222 names, every trigram of ledger-12 in 111.
		{"ledger-12", everyTrigram},
		{"ledger", noTrigrams},
		{"12", noTrigrams},
	}
	for _, tt := range tests {
		q := mustCompile(t, query.Spec{GVK: widgetGVK, NameContains: tt.substring, Limit: 4})
		c, err := s.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		plan, err := useTrigrams(c, k, &q.Filter)
		s.release(c)
		if err != nil {
			t.Fatal(err)
		}
		if plan != tt.plan {
			t.Errorf("%q: plan %d, want %d", tt.substring, plan, tt.plan)
		}
		var want []string
		for _, n := range names {
			if strings.Contains(n, tt.substring) {
				want = append(want, n)
			}
		}
		if plan != noTrigrams {
			// The first page's one statement is driven by the trigram index's rows, whatever
			// the order: walking a sort index would read every row.
			for _, sort := range [][]query.SortKey{nil, {{Path: "spec.replicas", Descending: true}}, {{Path: "metadata.creationTimestamp"}}} {
				sq := mustCompile(t, query.Spec{GVK: widgetGVK, NameContains: tt.substring, Sort: sort, Limit: 4})
				if p := planOf(t, s, oneScanSQL(k, sq, keyFields(sq), filterPlan{trigram: plan})); strings.Contains(p, "SCAN o") {
					t.Errorf("%q sorted by %v: the first page scans the table:\n%s", tt.substring, sort, p)
				}
			}
		}
		refs, total := searchAll(t, s, q)
		var got []string
		for _, r := range refs {
			got = append(got, r.Name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if total != int64(len(want)) || !slices.Equal(got, want) {
			t.Errorf("%q: total %d and names %v, want %d: %v", tt.substring, total, got, len(want), want)
		}
	}
}

func TestLeadTrigram(t *testing.T) {
	for s, want := range map[string]string{
		"ledger-12":    "-12",
		"dger-120":     "120",
		"frontend":     "end",
		"web-7f9c4d":   "9c4",
		"api.v1.pods":  "1.p",
		"ünïcode-wéb1": "éb1",
	} {
		if got := leadTrigramOf(trigramsOf(s)); got != want {
			t.Errorf("leadTrigramOf(%q) = %q, want %q", s, got, want)
		}
	}
}
