package index

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"spec.replicas", "metadata.annotations['example.com/team']", "spec.containers[*].image",
		"status.conditions[type=Ready].status", "a[b='x y'][*]", "spec.%x", "['a", "a[", "a.b.", "ä", "a[b=']']"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error does not wrap ErrInvalidPath: %v", err)
			}
			return
		}
		// The canonical form parses back to itself.
		canon := p.String()
		p2, err := ParsePath(canon)
		if err != nil || p2.String() != canon {
			t.Fatalf("canonical %q of %q does not round-trip: %v", canon, s, err)
		}
	})
}

// fuzzStore is shared by fuzz targets: opening a store per input would dominate.
var fuzzStore *Store

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
	if err := s.Upsert(obj("n", "a", map[string]any{"spec": map[string]any{"a": int64(1), "l": []any{map[string]any{"k": "v", "x": []any{"s", int64(2), true, nil}}}}})); err != nil {
		t.Fatal(err)
	}
	fuzzStore = s
	return s
}

// fuzzSpec is the JSON shape fuzz inputs are decoded from.
type fuzzSpec struct {
	Namespaces   []string
	Names        []string
	NameContains string
	Labels       string
	Fields       []FieldPredicate
	OwnerUID     string
	Sort         []SortKey
	Limit        int
}

func FuzzCompile(f *testing.F) {
	seeds := []fuzzSpec{
		{Labels: "a=b,c!=d,e in (f),!g,h>3", Fields: []FieldPredicate{{Path: "spec.a", Operator: OpGreaterThan, Values: []string{"1"}}}},
		{Fields: []FieldPredicate{{Path: "spec.l[k=v].x[*]", Operator: OpNotIn, Values: []string{"a", "1", "true"}}}, Sort: []SortKey{{Path: "spec.a", Descending: true}}},
		{NameContains: "WeB", Names: []string{"a"}, Namespaces: []string{"n"}, Limit: 3},
		{Fields: []FieldPredicate{{Path: "metadata.annotations['x.io/y']", Operator: OpStartsWith, Values: []string{"'; DROP TABLE kinds; --"}}}},
		{Fields: []FieldPredicate{{Path: "spec.a", Operator: OpContains, Values: []string{"\x00\xff"}}}},
		{Fields: []FieldPredicate{{Path: "spec.l[*].k", Operator: OpStartsWith, Values: []string{"\xff\xff", ""}}, {Path: "spec.l[k=v].x[*]", Operator: OpLessThanOrEqual, Values: []string{"2"}}}},
		{NameContains: "a\"b'c", Fields: []FieldPredicate{{Path: "spec.l[k=v].x[*]", Operator: OpIn, Values: []string{"true", "s", "2.0"}}}},
	}
	for _, s := range seeds {
		js, _ := json.Marshal(s)
		f.Add(string(js), false)
	}
	f.Fuzz(func(t *testing.T, input string, deep bool) {
		var fs fuzzSpec
		if json.Unmarshal([]byte(input), &fs) != nil {
			return
		}
		spec := Spec{GVK: widgetGVK, Namespaces: fs.Namespaces, Names: fs.Names, NameContains: fs.NameContains,
			Fields: fs.Fields, OwnerUID: fs.OwnerUID, Sort: fs.Sort, Limit: fs.Limit}
		if fs.Labels != "" {
			sel, err := labels.Parse(fs.Labels)
			if err != nil {
				return
			}
			spec.Labels = sel
		}
		q, err := Compile(spec)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) || !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("Compile error is not a QueryError: %v", err)
			}
			return
		}
		s := getFuzzStore(t)
		k := s.kind(widgetGVK)
		keys := q.keyFields()
		cursor := make([]any, len(keys))
		for i := range cursor {
			cursor[i] = []any{nil, int64(1), "x", 2.5}[i%4]
		}
		c, err := s.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.release(c)
		probe, err := chooseDriver(c, k, q)
		if err != nil {
			t.Fatalf("choosing the driver: %v", err)
		}
		for i := range 4 {
			walk := i%2 == 1
			var cur []any
			if deep {
				cur = cursor
			}
			fp := filterPlan{trigram: true}
			if i >= 2 {
				fp.probe = probe
			}
			sql, args := buildPageSQL(k, q, keys, cur, walk, fp)
			st, _, err := c.db.Prepare(sql)
			if err != nil {
				t.Fatalf("page SQL does not prepare: %v\n%s", err, sql)
			}
			if st.BindCount() != len(args) {
				t.Fatalf("%d parameters, %d arguments", st.BindCount(), len(args))
			}
			_ = st.Close()
		}
		if _, err := s.Search(context.Background(), q, ""); err != nil && !errors.Is(err, ErrInvalidQuery) {
			t.Fatalf("Search: %v", err)
		}
		_ = q.Matches(obj("n", "a", map[string]any{"spec": map[string]any{"a": int64(1)}}))
	})
}

func FuzzDecodeContinue(f *testing.F) {
	key := []byte("fuzz-key")
	q := mustCompile(f, Spec{GVK: widgetGVK, Sort: []SortKey{{Path: "spec.a"}}})
	n := len(q.keyFields())
	f.Add(encodeToken(key, q.fingerprint, []any{int64(1), "uid", int64(2)}))
	f.Add(encodeToken(key, q.fingerprint, []any{nil, "", int64(0)}))
	f.Add(encodeToken(key, q.fingerprint, []any{2.5, "ü", int64(-1)}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, token string) {
		vals, err := decodeToken(key, q.fingerprint, n, token)
		if err != nil {
			if !errors.Is(err, ErrInvalidContinue) || !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(vals) != n {
			t.Fatalf("%d values", len(vals))
		}
		// A valid token re-encodes to itself.
		if again := encodeToken(key, q.fingerprint, vals); again != token {
			t.Fatalf("token does not round-trip")
		}
	})
}
