package index

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubesift/kubesift/internal/query"
)

// TestRegisterDuringSearches changes a kind's declared fields (plain paths with expression
// indexes, list paths with side-table rows) while searches and writes run. Writes only touch
// a field no query reads, so every search has one right answer; it must get it, never an
// empty page or an error naming a dropped index. Run it with -race.
func TestRegisterDuringSearches(t *testing.T) {
	s := newStore(t)
	const n = 300
	ready := "status.conditions[type=Ready].status"
	content := func(i, gen int) map[string]any {
		st := "False"
		if i%3 == 0 {
			st = "True"
		}
		return map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"shard": fmt.Sprintf("s%d", i%5)}},
			"spec":     map[string]any{"n": int64(i), "tags": []any{fmt.Sprintf("t%d", i%7)}, "gen": int64(gen)},
			"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": st}}},
		}
	}
	var changes []Change
	for i := range n {
		changes = append(changes, Change{Object: obj("ns", fmt.Sprintf("o%03d", i), content(i, 0))})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	shard, err := labels.Parse("shard in (s0,s1)")
	if err != nil {
		t.Fatal(err)
	}
	specs := []query.Spec{
		{Fields: []query.FieldPredicate{{Path: "spec.n", Operator: query.OpGreaterThanOrEqual, Values: []string{"150"}}}},
		{Fields: []query.FieldPredicate{{Path: ready, Operator: query.OpEquals, Values: []string{"True"}}}},
		{Fields: []query.FieldPredicate{{Path: "spec.tags[*]", Operator: query.OpIn, Values: []string{"t1", "t2"}}}},
		{Labels: shard, Fields: []query.FieldPredicate{
			{Path: ready, Operator: query.OpNotEquals, Values: []string{"True"}},
			{Path: "spec.n", Operator: query.OpLessThan, Values: []string{"200"}},
		}},
		{Fields: []query.FieldPredicate{{Path: "spec.n", Operator: query.OpExists}},
			Sort: []query.SortKey{{Path: "spec.n", Descending: true}}, Limit: 7},
	}
	var queries []*query.Query
	var want []int64
	for _, sp := range specs {
		sp.GVK = widgetGVK
		q := mustCompile(t, sp)
		queries = append(queries, q)
		var m int64
		for _, c := range changes {
			if q.Matches(c.Object) {
				m++
			}
		}
		if m == 0 {
			t.Fatalf("query %v matches nothing", sp.Fields)
		}
		want = append(want, m)
	}
	declarations := [][]string{
		{"spec.n", ready, "spec.tags[*]"},
		nil,
		{ready},
		{"spec.n"},
		{"spec.tags[*]", "spec.n"},
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var searches atomic.Int64
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
		cancel()
	}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				j := i % len(queries)
				refs, total, err := searchAllCtx(ctx, s, queries[j])
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					report(fmt.Errorf("query %d: %w", j, err))
					return
				}
				if total != want[j] || int64(len(refs)) != want[j] {
					report(fmt.Errorf("query %d: total %d, %d items, want %d", j, total, len(refs), want[j]))
					return
				}
				searches.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for gen := 1; ctx.Err() == nil; gen++ {
			i := gen % n
			if err := s.Apply([]Change{{Object: obj("ns", fmt.Sprintf("o%03d", i), content(i, gen))}}, nil); err != nil {
				report(fmt.Errorf("write: %w", err))
				return
			}
		}
	}()
	// Enough rounds for Register to commit between a search's lookup of the kind and its
	// snapshot now and then.
	for round := 0; round < 300 && searches.Load() < 100 && ctx.Err() == nil; round++ {
		fields := declarations[round%len(declarations)]
		if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: fields}); err != nil {
			report(fmt.Errorf("register %v: %w", fields, err))
			break
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if searches.Load() == 0 {
		t.Fatal("no search completed")
	}
}

// searchAllCtx walks every page of q.
func searchAllCtx(ctx context.Context, s *Store, q *query.Query) ([]Ref, int64, error) {
	var out []Ref
	cont := ""
	for {
		p, err := s.Search(ctx, q, cont)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p.Items...)
		if p.Continue == "" {
			return out, p.Total, nil
		}
		cont = p.Continue
	}
}
