package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/sample"
)

// Names of the counts-by-value and owner chain queries.
const (
	queryFacetLabel = "facet-label"
	queryFacetField = "facet-field"
	queryOwnerChain = "owner-depth-2"
)

// The owner tree lives in the first namespace: its first object owns the next ownerMids, and
// each of those owns some of the next ownerLeaves (round robin), so that a depth-2 query on
// the root matches every mid and leaf that N provides.
const (
	ownerMids   = 5
	ownerLeaves = 75
)

// ownerTree is the root of the benchmark's owner tree and the number of objects below it.
type ownerTree struct {
	namespace, name string
	uid             types.UID
	below           int
}

// treeMembers returns the indexes of the generated objects of the owner tree among the first
// n: the root first, then the mids, then the leaves. Nil when n gives no mid.
func treeMembers(o options, n int) []int {
	step := max(o.namespaces, 1)
	var out []int
	for i := 0; i < n && len(out) < 1+ownerMids+ownerLeaves; i += step {
		out = append(out, i)
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// linkOwners writes the ownerReferences of the owner tree among the first n objects. The
// garbage collector of the control plane runs, so every reference names an object that
// exists, in the same namespace. Writing them again is harmless.
func linkOwners(ctx context.Context, c *cluster, o options, n int) error {
	members := treeMembers(o, n)
	if members == nil {
		return nil
	}
	gen := generator(o)
	ns := sample.Namespace(0)
	get := func(i int) (*unstructured.Unstructured, error) {
		u, err := c.templates.Namespace(ns).Get(ctx, gen.Template(i).GetName(), metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading an object of the owner tree: %w", err)
		}
		return u, nil
	}
	owners := make([]*unstructured.Unstructured, 0, 1+ownerMids)
	for k, i := range members {
		u, err := get(i)
		if err != nil {
			return err
		}
		if k <= ownerMids {
			owners = append(owners, u)
		}
		if k == 0 {
			continue
		}
		owner := owners[0] // mids are owned by the root
		if k > ownerMids {
			owner = owners[1+(k-ownerMids-1)%min(ownerMids, len(owners)-1)]
		}
		patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":%q,"kind":%q,"name":%q,"uid":%q}]}}`,
			owner.GetAPIVersion(), owner.GetKind(), owner.GetName(), owner.GetUID())
		err = retryTransient(ctx, func() error {
			_, err := c.templates.Namespace(ns).Patch(ctx, u.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("writing the owner of %s/%s: %w", ns, u.GetName(), err)
		}
	}
	logf("Owner tree in %s: %d objects below %s", ns, len(members)-1, owners[0].GetName())
	return nil
}

// findOwnerTree finds the root of the owner tree among the listed objects; nil when n gives
// no tree.
func findOwnerTree(o options, items []unstructured.Unstructured) (*ownerTree, error) {
	members := treeMembers(o, len(items))
	if members == nil {
		return nil, nil
	}
	ns, name := sample.Namespace(0), generator(o).Template(members[0]).GetName()
	for i := range items {
		if items[i].GetNamespace() == ns && items[i].GetName() == name {
			return &ownerTree{namespace: ns, name: name, uid: items[i].GetUID(), below: len(members) - 1}, nil
		}
	}
	return nil, fmt.Errorf("the root of the owner tree, %s/%s, is not listed", ns, name)
}

// ownerQuery is every object at most two owners below the tree's root, which a client finds
// by following the ownerReferences of every object.
func ownerQuery(t ownerTree) benchQuery {
	return benchQuery{
		name: queryOwnerChain,
		title: fmt.Sprintf("Owner chain: the objects at most two owners below %s/%s (%d of them), cluster-wide, first page of 50 + total",
			t.namespace, t.name, t.below),
		spec: query.Spec{GVK: sample.TemplateGVK, Limit: 50, Owner: &query.OwnerSpec{UID: string(t.uid), Depth: 2}},
		page: 1,
		matchAll: func(items []unstructured.Unstructured) func(u *unstructured.Unstructured) bool {
			owners := make(map[types.UID][]types.UID, len(items))
			for i := range items {
				for _, ref := range items[i].GetOwnerReferences() {
					owners[items[i].GetUID()] = append(owners[items[i].GetUID()], ref.UID)
				}
			}
			return func(u *unstructured.Unstructured) bool {
				for _, o1 := range owners[u.GetUID()] {
					if o1 == t.uid || slices.Contains(owners[o1], t.uid) {
						return true
					}
				}
				return false
			}
		},
		compare: byNamespaceName,
	}
}

// facetQueries are the counts by value: a label over every object, and a declared path over
// the objects that are not Ready (the dashboard question "how many per team are failing?").
func facetQueries() []benchQuery {
	label := func(key string) func(u *unstructured.Unstructured) (string, bool) {
		return func(u *unstructured.Unstructured) (string, bool) {
			v, ok := u.GetLabels()[key]
			return v, ok
		}
	}
	team := func(u *unstructured.Unstructured) (string, bool) {
		v, ok, _ := unstructured.NestedString(u.Object, "spec", "team")
		return v, ok
	}
	return []benchQuery{{
		name:        queryFacetLabel,
		title:       "Counts by value of a label (metadata.labels['env']) over every object, with the first page of 50 + total",
		spec:        query.Spec{GVK: sample.TemplateGVK, Limit: 50, Facets: []query.FacetSpec{{Path: "metadata.labels['env']"}}},
		page:        1,
		compare:     byNamespaceName,
		facetValues: []func(u *unstructured.Unstructured) (string, bool){label("env")},
	}, {
		name: queryFacetField,
		title: "Counts by value of an indexed field (spec.team) over the objects whose Ready condition is False, " +
			"with the first page of 50 + total",
		spec: query.Spec{GVK: sample.TemplateGVK, Limit: 50,
			Fields: []query.FieldPredicate{{Path: "status.conditions[type=Ready].status", Operator: query.OpEquals, Values: []string{"False"}}},
			Facets: []query.FacetSpec{{Path: "spec.team"}}},
		page:        1,
		match:       func(u *unstructured.Unstructured) bool { return readyStatus(u) == "False" },
		compare:     byNamespaceName,
		facetValues: []func(u *unstructured.Unstructured) (string, bool){team},
	}}
}

// countFacets counts the matches by value for each facet of q, as the index does: the
// default limit of most frequent values (by count, then value), the rest and the missing.
func countFacets(q benchQuery, matches []*unstructured.Unstructured) string {
	if len(q.facetValues) == 0 {
		return ""
	}
	out := make([]index.FacetCounts, len(q.facetValues))
	for i, value := range q.facetValues {
		counts := map[string]int64{}
		for _, u := range matches {
			if v, ok := value(u); ok {
				counts[v]++
			} else {
				out[i].Missing++
			}
		}
		for v, n := range counts {
			out[i].Values = append(out[i].Values, index.FacetValue{Value: v, Count: n})
		}
		slices.SortFunc(out[i].Values, func(a, b index.FacetValue) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value))
		})
		if len(out[i].Values) > query.DefaultFacetLimit {
			for _, v := range out[i].Values[query.DefaultFacetLimit:] {
				out[i].Other += v.Count
			}
			out[i].Values = out[i].Values[:query.DefaultFacetLimit]
		}
	}
	return facetText(out)
}

// facetText is a comparable text of facet counts (paths are left out: the order says which).
func facetText(fs []index.FacetCounts) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteString("; ")
		}
		for _, v := range f.Values {
			fmt.Fprintf(&b, "%s=%d ", v.Value, v.Count)
		}
		fmt.Fprintf(&b, "other=%d missing=%d", f.Other, f.Missing)
	}
	return b.String()
}
