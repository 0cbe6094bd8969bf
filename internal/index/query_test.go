package index

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubesift/kubesift/internal/query"
)

// fieldCorpus covers every JSON type, nulls, missing fields, lists and unicode.
func fieldCorpus() []map[string]any {
	return []map[string]any{
		{"name": "int3", "spec": map[string]any{"n": int64(3), "s": "abc", "b": true}},
		{"name": "int10", "spec": map[string]any{"n": int64(10), "s": "abd", "b": false}},
		{"name": "float", "spec": map[string]any{"n": 2.5, "s": "10"}},
		{"name": "strnum", "spec": map[string]any{"n": "3", "s": "3"}},
		{"name": "strtrue", "spec": map[string]any{"n": "true", "b": "true"}},
		{"name": "null", "spec": map[string]any{"n": nil, "s": nil, "b": nil}},
		{"name": "obj", "spec": map[string]any{"n": map[string]any{"a": int64(1)}, "s": []any{"abc"}}},
		{"name": "missing", "spec": map[string]any{}},
		{"name": "one", "spec": map[string]any{"n": int64(1), "b": true}},
		{"name": "zero", "spec": map[string]any{"n": int64(0), "b": false}},
		{"name": "unicode-名前", "spec": map[string]any{"s": "héllo wörld 名前"}},
		{"name": "list", "spec": map[string]any{"items": []any{
			map[string]any{"type": "Ready", "status": "True", "port": int64(80)},
			map[string]any{"type": "Synced", "status": "False", "port": int64(443)},
		}}, "metadata": map[string]any{"annotations": map[string]any{"example.com/team": "core"}}},
		{"name": "list2", "spec": map[string]any{"items": []any{
			map[string]any{"type": "Ready", "status": "False", "port": "80"},
			"scalar", nil,
		}}},
		{"name": "notalist", "spec": map[string]any{"items": map[string]any{"type": "Ready", "status": "True"}}},
	}
}

func TestFieldOperators(t *testing.T) {
	s := newStore(t, "spec.n")
	var changes []Change
	for _, c := range fieldCorpus() {
		content := map[string]any{}
		for k, v := range c {
			if k != "name" {
				content[k] = v
			}
		}
		o := obj("ns", c["name"].(string), content)
		if md, ok := c["metadata"].(map[string]any); ok {
			o.SetAnnotations(map[string]string{"example.com/team": md["annotations"].(map[string]any)["example.com/team"].(string)})
		}
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		op   query.Operator
		vals []string
		want string
	}{
		{"spec.n", query.OpEquals, []string{"3"}, "int3 strnum"},
		{"spec.n", query.OpEquals, []string{"3.0"}, "int3"},
		{"spec.n", query.OpEquals, []string{"true"}, "strtrue"},
		{"spec.b", query.OpEquals, []string{"true"}, "int3 one strtrue"},
		{"spec.b", query.OpEquals, []string{"false"}, "int10 zero"},
		{"spec.n", query.OpEquals, []string{"1"}, "one"},
		{"spec.n", query.OpEquals, []string{`{"a":1}`}, ""},
		{"spec.n", query.OpNotEquals, []string{"3"}, "float int10 list list2 missing notalist null obj one strtrue unicode-名前 zero"},
		{"spec.n", query.OpIn, []string{"10", "2.5", "0"}, "float int10 zero"},
		{"spec.n", query.OpNotIn, []string{"10", "2.5", "0", "3"}, "list list2 missing notalist null obj one strtrue unicode-名前"},
		{"spec.n", query.OpExists, nil, "float int10 int3 obj one strnum strtrue zero"},
		{"spec.n", query.OpDoesNotExist, nil, "list list2 missing notalist null unicode-名前"},
		{"spec.n", query.OpGreaterThan, []string{"2.5"}, "int10 int3 strnum strtrue"},
		{"spec.n", query.OpGreaterThanOrEqual, []string{"2.5"}, "float int10 int3 strnum strtrue"},
		{"spec.n", query.OpLessThan, []string{"3"}, "float one zero"},
		{"spec.n", query.OpLessThanOrEqual, []string{"3"}, "float int3 one strnum zero"},
		{"spec.s", query.OpGreaterThan, []string{"abc"}, "int10 unicode-名前"},
		{"spec.s", query.OpLessThan, []string{"abd"}, "float int3 strnum"},
		{"spec.s", query.OpContains, []string{"b"}, "int10 int3"},
		{"spec.s", query.OpContains, []string{"wörld"}, "unicode-名前"},
		{"spec.s", query.OpContains, []string{""}, "float int10 int3 strnum unicode-名前"},
		{"spec.s", query.OpStartsWith, []string{"ab", "hé"}, "int10 int3 unicode-名前"},
		{"spec.s", query.OpStartsWith, []string{"bc"}, ""},
		{"spec.items[*].type", query.OpEquals, []string{"Synced"}, "list"},
		{"spec.items[*].port", query.OpEquals, []string{"80"}, "list list2"},
		{"spec.items[*].port", query.OpGreaterThan, []string{"100"}, "list list2"},
		{"spec.items[*]", query.OpEquals, []string{"scalar"}, "list2"},
		{"spec.items[*]", query.OpExists, nil, "list list2"},
		{"spec.items[*].type", query.OpNotEquals, []string{"Ready"}, "float int10 int3 missing null obj one strnum strtrue unicode-名前 zero notalist"},
		{"spec.items[type=Ready].status", query.OpEquals, []string{"True"}, "list"},
		{"spec.items[type=Ready].status", query.OpNotEquals, []string{"True"}, "float int10 int3 list2 missing notalist null obj one strnum strtrue unicode-名前 zero"},
		{"spec.items[port=80].type", query.OpEquals, []string{"Ready"}, "list list2"},
		{"spec.items[port='443'].type", query.OpExists, nil, "list"},
		{"metadata.annotations['example.com/team']", query.OpEquals, []string{"core"}, "list"},
		{"metadata.name", query.OpEquals, []string{"unicode-名前"}, "unicode-名前"},
	}
	for _, tt := range tests {
		t.Run(string(tt.op)+" "+tt.path+" "+strings.Join(tt.vals, ","), func(t *testing.T) {
			q, err := query.Compile(query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{{Path: tt.path, Operator: tt.op, Values: tt.vals}}, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			refs, _ := searchAll(t, s, q)
			got := names(refs)
			want := sortedUnique(strings.Fields(tt.want))
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("Search: got %v, want %v", got, want)
			}
			var matched []string
			for _, c := range changes {
				if q.Matches(c.Object) {
					matched = append(matched, c.Object.GetName())
				}
			}
			if strings.Join(sortedUnique(matched), " ") != strings.Join(want, " ") {
				t.Fatalf("Matches: got %v, want %v", sortedUnique(matched), want)
			}
		})
	}
}

func names(refs []Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return sortedUnique(out)
}

func TestNonNumericComparisonOnNumbers(t *testing.T) {
	s := newStore(t)
	if err := upsert(s, obj("a", "x", map[string]any{"spec": map[string]any{"n": int64(1), "ts": "2026-01-01T00:00:00Z"}})); err != nil {
		t.Fatal(err)
	}
	q, _ := query.Compile(query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{{Path: "spec.n", Operator: query.OpGreaterThan, Values: []string{"abc"}}}})
	_, err := s.Search(context.Background(), q, "")
	var qe *query.Error
	if !errors.As(err, &qe) || !errors.Is(err, query.ErrInvalidValue) || qe.Field != "fields[0].values[0]" {
		t.Fatalf("got %v", err)
	}
	q, _ = query.Compile(query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{{Path: "spec.ts", Operator: query.OpGreaterThan, Values: []string{"2025-06-01T00:00:00Z"}}}})
	p, err := s.Search(context.Background(), q, "")
	if err != nil || p.Total != 1 {
		t.Fatalf("timestamp comparison: %+v %v", p, err)
	}
}

func TestMetadataFilters(t *testing.T) {
	s := newStore(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var changes []Change
	for i, n := range []string{"Web-1", "web-2", "api-1", "ünïcode-WEB"} {
		o := obj([]string{"a", "b"}[i%2], n, nil)
		o.SetCreationTimestamp(metaTime(base.Add(time.Duration(i) * time.Hour)))
		o.SetLabels(map[string]string{"tier": []string{"frontend", "backend"}[i%2]})
		if i == 2 {
			o.SetOwnerReferences([]metav1OwnerReference{{APIVersion: "v1", Kind: "X", Name: "o", UID: "owner-1"}})
		}
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	after, before := base.Add(30*time.Minute), base.Add(2*time.Hour)
	sel, _ := labels.Parse("tier=frontend")
	tests := []struct {
		name string
		spec query.Spec
		want string
	}{
		{"namespaces", query.Spec{Namespaces: []string{"b"}}, "web-2 ünïcode-WEB"},
		{"names", query.Spec{Names: []string{"web-2", "nope"}}, "web-2"},
		{"nameContains", query.Spec{NameContains: "WEB"}, "Web-1 web-2 ünïcode-WEB"},
		{"nameContains unicode", query.Spec{NameContains: "ÜNÏ"}, "ünïcode-WEB"},
		{"labels", query.Spec{Labels: sel}, "Web-1 api-1"},
		{"owner", query.Spec{OwnerUID: "owner-1"}, "api-1"},
		{"created", query.Spec{CreatedAfter: &after, CreatedBefore: &before}, "web-2"},
		{"created inclusive edge", query.Spec{CreatedAfter: &base}, "web-2 api-1 ünïcode-WEB"},
		{"everything", query.Spec{Labels: labels.Everything()}, "Web-1 web-2 api-1 ünïcode-WEB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.GVK = widgetGVK
			q, err := query.Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			refs, _ := searchAll(t, s, q)
			want := sortedUnique(strings.Fields(tt.want))
			if got := names(refs); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("got %v, want %v", got, want)
			}
			for _, c := range changes {
				if q.Matches(c.Object) != containsSorted(want, c.Object.GetName()) {
					t.Fatalf("Matches(%s) disagrees", c.Object.GetName())
				}
			}
		})
	}
}

// "Deployments whose status.readyReplicas is below spec.replicas": a field compared with
// another field of the same object, on declared and undeclared paths.
func TestValueFromComparesTwoFields(t *testing.T) {
	s := newStore(t, "spec.replicas", "status.conditions[type=Available].status")
	r := rand.New(rand.NewPCG(4, 4))
	var objs []*unstructured.Unstructured
	var changes []Change
	for i := range 300 {
		o := realisticObject(r, i)
		objs = append(objs, o)
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []query.FieldPredicate{
		{Path: "status.readyReplicas", Operator: query.OpLessThan, ValueFrom: "spec.replicas"},
		{Path: "spec.replicas", Operator: query.OpGreaterThan, ValueFrom: "status.readyReplicas"},
		{Path: "status.replicas", Operator: query.OpEquals, ValueFrom: "spec.replicas"},
		{Path: "status.readyReplicas", Operator: query.OpNotEquals, ValueFrom: "spec.replicas"},
		{Path: "status.conditions[type=Available].status", Operator: query.OpEquals, ValueFrom: "status.conditions"},
		{Path: "spec.template.spec.containers[*].env[*].value", Operator: query.OpEquals, ValueFrom: "spec.region"},
	} {
		q := mustCompile(t, query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{f}})
		_, total := searchAll(t, s, q)
		want := 0
		for _, o := range objs {
			if q.Matches(o) {
				want++
			}
		}
		if total != int64(want) {
			t.Fatalf("%+v: total %d, Matches %d", f, total, want)
		}
		if f.Path != "status.conditions[type=Available].status" && want == 0 {
			t.Fatalf("%+v matches nothing", f)
		}
	}
}

// Facets count over all matches, not the page, in the snapshot of Total; they leave the
// pages and their continue tokens alone.
func TestFacets(t *testing.T) {
	s := newStore(t, "spec.region")
	r := rand.New(rand.NewPCG(5, 5))
	var changes []Change
	for i := range 210 {
		changes = append(changes, Change{Object: realisticObject(r, i)})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	spec := query.Spec{GVK: widgetGVK, Labels: mustSelector(t, "tier in (frontend,backend)"), Limit: 5}
	plain := mustCompile(t, spec)
	spec.Facets = []query.FacetSpec{
		{Path: "metadata.labels['tier']"},
		{Path: "spec.region", Limit: 3},
		{Path: "spec.template.spec.containers[*].env[name=LOG_LEVEL].value"},
		{Path: "spec.paused"},
		{Path: "status.missing"},
	}
	q := mustCompile(t, spec)
	if q.Fingerprint() != plain.Fingerprint() {
		t.Fatal("facets change the fingerprint")
	}
	p, err := s.Search(context.Background(), q, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 140 || len(p.Items) != 5 {
		t.Fatalf("total %d, items %d", p.Total, len(p.Items))
	}
	want := []FacetCounts{
		{Path: "metadata.labels['tier']", Values: []FacetValue{{"backend", 70}, {"frontend", 70}}},
		// i%7 over the i with i%3 != 2: 20 each, 3 listed, 4 values in Other.
		{Path: "spec.region", Values: []FacetValue{{"region-0", 20}, {"region-1", 20}, {"region-2", 20}}, Other: 80},
		{Path: "spec.template.spec.containers[*].env[name=LOG_LEVEL].value", Values: []FacetValue{{"info", 140}}},
		{Path: "spec.paused", Values: []FacetValue{{"false", 128}, {"true", 12}}},
		{Path: "status.missing", Missing: 140},
	}
	for i, w := range want {
		g := p.Facets[i]
		if g.Path != w.Path || g.Other != w.Other || g.Missing != w.Missing || !slices.Equal(g.Values, w.Values) {
			t.Errorf("facet %d: got %+v, want %+v", i, g, w)
		}
	}
	// Without a filter, a label is counted from the label table alone.
	all := mustCompile(t, query.Spec{GVK: widgetGVK, Facets: []query.FacetSpec{{Path: "metadata.labels['tier']"}, {Path: "metadata.labels['absent']"}}})
	pa, err := s.Search(context.Background(), all, "")
	if err != nil {
		t.Fatal(err)
	}
	if g := pa.Facets[0]; !slices.Equal(g.Values, []FacetValue{{"backend", 70}, {"cache", 70}, {"frontend", 70}}) || g.Missing != 0 {
		t.Errorf("unfiltered tier facet: %+v", g)
	}
	if g := pa.Facets[1]; g.Values != nil || g.Missing != 210 {
		t.Errorf("absent label facet: %+v", g)
	}
	// The token of the query without facets continues the query with them.
	p2, err := s.Search(context.Background(), plain, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Search(context.Background(), q, p2.Continue); err != nil {
		t.Fatalf("continue across facets: %v", err)
	}
}
