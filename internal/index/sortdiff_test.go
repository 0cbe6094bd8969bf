package index

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubesift/kubesift/internal/query"
)

// sortObject returns an object for the sort tests: spec.a a string, spec.b a number, each
// often repeated, sometimes null, sometimes missing (and rarely of another type), so pages
// cut inside runs of equal values and inside the missing values.
func sortObject(r *rand.Rand, i int) *unstructured.Unstructured {
	spec := map[string]any{}
	switch x := r.IntN(10); {
	case x < 6:
		spec["a"] = []string{"", "a", "ab", "b", "B", "10", "9", "ünï"}[r.IntN(8)]
	case x == 6:
		spec["a"] = nil
	case x == 7:
		spec["a"] = int64(r.IntN(3))
	}
	switch x := r.IntN(10); {
	case x < 5:
		spec["b"] = int64(r.IntN(6) - 2)
	case x == 5:
		spec["b"] = float64(r.IntN(8)) / 4
	case x == 6:
		spec["b"] = nil
	case x == 7:
		spec["b"] = r.IntN(2) == 0
	}
	u := obj(fmt.Sprintf("ns%d", r.IntN(3)), fmt.Sprintf("o-%04d", i), map[string]any{"spec": spec})
	u.SetLabels(map[string]string{"tier": []string{"x", "y", "z"}[r.IntN(3)]})
	return u
}

// refSortValue is the value an object sorts by on path, as the reference sees it.
func refSortValue(o *unstructured.Unstructured, path string) any {
	switch path {
	case "metadata.name":
		return o.GetName()
	case "metadata.namespace":
		return o.GetNamespace()
	}
	if v := refResolve(o.Object, path); len(v) > 0 {
		return v[0]
	}
	return nil
}

// refSort orders objects by keys as docs/query-reference.md defines: values by type (missing
// and null, then numbers, then strings) and within a type, missing values first ascending
// and last descending; the uid breaks ties, in the direction of the first key.
func refSort(objs []*unstructured.Unstructured, keys []query.SortKey) {
	slices.SortFunc(objs, func(a, b *unstructured.Unstructured) int {
		for _, k := range keys {
			c := sqlOrder(refSortValue(a, k.Path), refSortValue(b, k.Path))
			if k.Descending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		c := cmp.Compare(a.GetUID(), b.GetUID())
		if len(keys) > 0 && keys[0].Descending {
			c = -c
		}
		return c
	})
}

// Walking every page with continue tokens returns exactly the reference's sorted matches, for
// ascending and descending keys on declared and undeclared paths holding numbers, strings,
// duplicates and missing values, with and without a filter.
func TestSortedPagesAgainstAReference(t *testing.T) {
	sorts := [][]query.SortKey{
		{{Path: "spec.a"}},
		{{Path: "spec.a", Descending: true}},
		{{Path: "spec.b"}},
		{{Path: "spec.b", Descending: true}},
		{{Path: "spec.b", Descending: true}, {Path: "metadata.name"}},
		{{Path: "spec.a", Descending: true}, {Path: "spec.b"}},
		{{Path: "spec.b"}, {Path: "spec.a", Descending: true}, {Path: "metadata.name", Descending: true}},
		{{Path: "metadata.namespace", Descending: true}, {Path: "spec.b", Descending: true}},
		{{Path: "spec.a"}, {Path: "metadata.namespace"}, {Path: "metadata.name"}},
	}
	for _, declared := range [][]string{nil, {"spec.a", "spec.b"}} {
		r := rand.New(rand.NewPCG(9, 9))
		s := newStore(t, declared...)
		var objs []*unstructured.Unstructured
		var changes []Change
		for i := range 600 {
			o := sortObject(r, i)
			objs = append(objs, o)
			changes = append(changes, Change{Object: o})
		}
		if err := s.Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
		for si, keys := range sorts {
			for _, sel := range []string{"", "tier=x", "tier!=z"} {
				t.Run(fmt.Sprintf("declared=%v/sort%d/%q", declared != nil, si, sel), func(t *testing.T) {
					spec := query.Spec{GVK: widgetGVK, Sort: keys, Limit: 1 + r.IntN(40)}
					var selector labels.Selector
					if sel != "" {
						selector = mustSelector(t, sel)
						spec.Labels = selector
					}
					q := mustCompile(t, spec)
					refs, total := searchAll(t, s, q)
					var want []string
					matches := slices.Clone(objs)
					refSort(matches, keys)
					for _, o := range matches {
						if selector == nil || selector.Matches(labels.Set(o.GetLabels())) {
							want = append(want, o.GetNamespace()+"/"+o.GetName())
						}
					}
					got := make([]string, len(refs))
					for i, ref := range refs {
						got[i] = ref.Namespace + "/" + ref.Name
					}
					if !slices.Equal(got, want) || total != int64(len(want)) {
						for i := range min(len(got), len(want)) {
							if got[i] != want[i] {
								t.Fatalf("limit %d: %d items (total %d), want %d; first difference at %d: %s, want %s", spec.Limit, len(got), total, len(want), i, got[i], want[i])
							}
						}
						t.Fatalf("limit %d: %d items (total %d), want %d", spec.Limit, len(got), total, len(want))
					}
				})
			}
		}
	}
}

// Comparisons with a string on a declared path that holds strings (and values of no
// comparable type) agree with the reference evaluator.
func TestStringComparisonsOnADeclaredPath(t *testing.T) {
	for _, declared := range [][]string{nil, {"spec.a"}} {
		r := rand.New(rand.NewPCG(5, 6))
		s := newStore(t, declared...)
		var objs []*unstructured.Unstructured
		var changes []Change
		for i := range 400 {
			o := sortObject(r, i)
			if a, ok := o.Object["spec"].(map[string]any)["a"].(int64); ok {
				// Numbers on the path would make a string comparison an error.
				o.Object["spec"].(map[string]any)["a"] = map[string]any{"n": a}
			}
			objs = append(objs, o)
			changes = append(changes, Change{Object: o})
		}
		if err := s.Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
		for _, op := range []query.Operator{query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual} {
			for _, v := range []string{"", "a", "ab", "B", "10", "9", "ü", "ünï", "zz", "{"} {
				p := query.FieldPredicate{Path: "spec.a", Operator: op, Values: []string{v}}
				q := mustCompile(t, query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{p}, Limit: 50})
				refs, total := searchAll(t, s, q)
				var want []string
				for _, o := range objs {
					if refPredicate(o.Object, p) {
						want = append(want, o.GetNamespace()+"/"+o.GetName())
					}
				}
				slices.Sort(want)
				var got []string
				for _, ref := range refs {
					got = append(got, ref.Namespace+"/"+ref.Name)
				}
				if !slices.Equal(got, want) || total != int64(len(want)) {
					t.Fatalf("declared=%v %s %q: %d matches (total %d), reference %d\n got %v\nwant %v", declared != nil, op, v, len(got), total, len(want),
						strings.Join(got, " "), strings.Join(want, " "))
				}
			}
		}
	}
}
