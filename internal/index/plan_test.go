package index

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// explain returns the EXPLAIN QUERY PLAN details of the page query SQLite would run.
func explain(t testing.TB, s *Store, q *Query, walk bool) string {
	t.Helper()
	k := s.kind(q.gvk)
	sql, args := pageSQL(k, q, q.keyFields(), nil, walk)
	c, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(c)
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
	s := newStore(t, "spec.replicas", "spec.region")
	r := rand.New(rand.NewPCG(1, 1))
	var changes []Change
	for i := range 2000 {
		changes = append(changes, Change{Object: realisticObject(r, i)})
	}
	if err := s.Apply(changes); err != nil {
		t.Fatal(err)
	}
	k := s.kind(widgetGVK)
	tests := []struct {
		name  string
		spec  Spec
		walk  bool
		index string
	}{
		{"equals declared", Spec{Fields: []FieldPredicate{{Path: "spec.region", Operator: OpEquals, Values: []string{"region-3"}}}}, false, indexName(k.table, "spec.region")},
		{"range declared", Spec{Fields: []FieldPredicate{{Path: "spec.replicas", Operator: OpGreaterThan, Values: []string{"7"}}}}, false, indexName(k.table, "spec.replicas")},
		{"sort declared", Spec{Sort: []SortKey{{Path: "spec.replicas", Descending: true}}}, true, indexName(k.table, "spec.replicas")},
		{"label", Spec{Labels: mustSelector(t, "shard=7")}, false, k.table + "_labels"},
		{"default sort walk", Spec{}, true, k.table + "_nsname"},
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
	// An undeclared path still works, by scanning.
	q := mustCompile(t, Spec{GVK: widgetGVK, Fields: []FieldPredicate{{Path: "spec.image", Operator: OpEquals, Values: []string{"img-7"}}}})
	if p, err := s.Search(context.Background(), q, ""); err != nil || p.Total != 1 {
		t.Fatalf("%+v %v", p, err)
	}
}
