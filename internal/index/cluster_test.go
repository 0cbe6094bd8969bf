package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubesift/kubesift/internal/query"
)

// clusterObj is an object with the cluster it was read from.
type clusterObj struct {
	cluster string
	obj     *unstructured.Unstructured
}

func (c clusterObj) key() string {
	return c.cluster + "|" + c.obj.GetNamespace() + "/" + c.obj.GetName()
}

func refKey(r Ref) string { return r.Cluster + "|" + r.Namespace + "/" + r.Name }

// clusterCopies writes n random objects to the local cluster and copies of them, with the same
// namespaces and names, to clusters a and b. The copies in b carry the UIDs of a's copies: UIDs
// are unique per cluster only.
func clusterCopies(t *testing.T, s *Store, r *rand.Rand, n int) []clusterObj {
	t.Helper()
	var all []clusterObj
	var changes []Change
	for i := range n {
		base := randomObject(r, i)
		for _, c := range []string{"", "a", "b"} {
			o := base.DeepCopy()
			if c != "" {
				o.SetUID(typesUID(fmt.Sprintf("uid-a-%d", i)))
				// A value that differs between the copies, so sorts interleave the clusters.
				if err := unstructured.SetNestedField(o.Object, int64(r.IntN(5)), "spec", "a"); err != nil {
					t.Fatal(err)
				}
			}
			labels := o.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels["copy"] = "c-" + c
			o.SetLabels(labels)
			all = append(all, clusterObj{c, o})
			changes = append(changes, Change{Object: o, Cluster: c})
		}
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	return all
}

// TestClusters pages through objects of three clusters that share namespaces, names and UIDs,
// selecting clusters and sorting by them, against a reference built from the objects.
func TestClusters(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 19))
	s := newStore(t, "spec.a")
	all := clusterCopies(t, s, r, 120)
	sorts := [][]query.SortKey{
		nil,
		{{Path: query.ClusterPath}},
		{{Path: query.ClusterPath, Descending: true}, {Path: "metadata.name"}},
		{{Path: "spec.a"}, {Path: query.ClusterPath}},
		{{Path: "spec.a", Descending: true}},
		{{Path: "metadata.namespace", Descending: true}, {Path: "metadata.name", Descending: true}},
	}
	selections := [][]string{nil, {"a"}, {"", "b"}, {"zzz"}}
	for si, sortKeys := range sorts {
		for _, clusters := range selections {
			t.Run(fmt.Sprintf("sort%d/clusters=%q", si, clusters), func(t *testing.T) {
				spec := query.Spec{GVK: widgetGVK, Sort: sortKeys, Clusters: clusters, Limit: 11}
				if si%2 == 1 {
					spec.Labels = mustSelector(t, "tier in (web,db)")
				}
				q, err := query.Compile(spec)
				if err != nil {
					t.Fatal(err)
				}
				var want []clusterObj
				for _, o := range all {
					if q.InCluster(o.cluster) && q.Matches(o.obj) {
						want = append(want, o)
					}
				}
				refs, total := searchAll(t, s, q)
				if total != int64(len(want)) || len(refs) != len(want) {
					t.Fatalf("total %d, %d items; reference %d", total, len(refs), len(want))
				}
				byKey := map[string]clusterObj{}
				for _, o := range want {
					byKey[o.key()] = o
				}
				var got []clusterObj
				seen := map[string]bool{}
				for _, ref := range refs {
					o, ok := byKey[refKey(ref)]
					if !ok || seen[refKey(ref)] {
						t.Fatalf("%s returned: unexpected or twice", refKey(ref))
					}
					if ref.UID != string(o.obj.GetUID()) {
						t.Fatalf("%s has uid %s, want %s", refKey(ref), ref.UID, o.obj.GetUID())
					}
					seen[refKey(ref)] = true
					got = append(got, o)
				}
				keys := keyFields(q)
				compare := func(a, b clusterObj) int { return compareKeys(keys, a.cluster, a.obj, b.cluster, b.obj) }
				for i := 1; i < len(got); i++ {
					if compare(got[i-1], got[i]) > 0 {
						t.Fatalf("out of order at %d: %s then %s", i, got[i-1].key(), got[i].key())
					}
				}
				if keys[len(keys)-1].col == "cluster" {
					// Namespace, name and cluster order every object: the page order is the
					// reference's exactly.
					slices.SortStableFunc(want, compare)
					for i := range want {
						if want[i].key() != got[i].key() {
							t.Fatalf("item %d is %s, want %s", i, got[i].key(), want[i].key())
						}
					}
				}
			})
		}
	}
	t.Run("documents", func(t *testing.T) {
		q, err := query.Compile(query.Spec{GVK: widgetGVK, Clusters: []string{"b"}, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.SearchDocuments(context.Background(), q, "")
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range p.Documents {
			if p.Items[i].Cluster != "b" || !strings.Contains(string(doc), `"copy":"c-b"`) {
				t.Fatalf("item %s has the document %s", refKey(p.Items[i]), doc)
			}
		}
	})
}

// TestClusterWrites checks that a delete, a relist and dropping a cluster touch only their
// own cluster's objects, and that observers learn the cluster of each change.
func TestClusterWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 29))
	s := newStore(t)
	all := clusterCopies(t, s, r, 30)
	count := func(cluster string) int64 {
		t.Helper()
		q, err := query.Compile(query.Spec{GVK: widgetGVK, Clusters: []string{cluster}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Search(context.Background(), q, "")
		if err != nil {
			t.Fatal(err)
		}
		return p.Total
	}
	rec := &recorder{}
	// Object 0 in a: the local copy of the same name has another UID and stays.
	if err := s.Apply([]Change{{Object: all[1].obj, Deleted: true, Cluster: "a"}}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.written) != 1 || rec.written[0].Cluster != "a" {
		t.Fatalf("the delete in a was observed as %+v", rec.written)
	}
	if got := [3]int64{count(""), count("a"), count("b")}; got != [3]int64{30, 29, 30} {
		t.Fatalf("after a delete in a: %v objects per cluster", got)
	}

	// A relist of b that lists its first ten objects deletes b's twenty others only.
	if err := s.BeginRelist(widgetGVK, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginRelist(widgetGVK, "a"); err != nil { // a relist of a, left open meanwhile
		t.Fatal(err)
	}
	var listed []*unstructured.Unstructured
	for _, o := range all {
		if o.cluster == "b" && len(listed) < 10 {
			listed = append(listed, o.obj)
		}
	}
	if err := s.ApplyRelist(widgetGVK, "b", listed, nil); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{}
	if err := s.CommitRelist(widgetGVK, "b", rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.written) != 20 {
		t.Fatalf("the relist of b deleted %d objects, want 20", len(rec.written))
	}
	for _, w := range rec.written {
		if w.Cluster != "b" || w.New != nil {
			t.Fatalf("the relist of b wrote %+v", w)
		}
	}
	if got := [3]int64{count(""), count("a"), count("b")}; got != [3]int64{30, 29, 10} {
		t.Fatalf("after the relist of b: %v objects per cluster", got)
	}
	if err := s.CommitRelist(widgetGVK, "b", nil); err == nil {
		t.Fatal("a second commit of b's relist succeeded")
	}

	// Dropping a removes a's objects and its open relist.
	rec = &recorder{}
	if n, err := s.DropCluster(widgetGVK, "a", rec); err != nil || n != 29 {
		t.Fatal(err)
	}
	if len(rec.written) != 29 {
		t.Fatalf("dropping a deleted %d objects, want 29", len(rec.written))
	}
	if got := [3]int64{count(""), count("a"), count("b")}; got != [3]int64{30, 0, 10} {
		t.Fatalf("after dropping a: %v objects per cluster", got)
	}
	if err := s.CommitRelist(widgetGVK, "a", nil); err == nil {
		t.Fatal("the relist of a survived dropping the cluster")
	}
	if n, err := s.Count(widgetGVK); err != nil || n != 40 {
		t.Fatalf("Count = %d, %v; want 40", n, err)
	}
	// ReplaceIn replaces one cluster's objects.
	if err := s.ReplaceIn(widgetGVK, "b", nil); err != nil {
		t.Fatal(err)
	}
	if got := [3]int64{count(""), count("a"), count("b")}; got != [3]int64{30, 0, 0} {
		t.Fatalf("after replacing b: %v objects per cluster", got)
	}
}

// TestClusterQueryErrors checks the cluster names and the cluster path that Compile refuses.
func TestClusterQueryErrors(t *testing.T) {
	cases := map[string]query.Spec{
		"clusters[0]":         {Clusters: []string{"Prod"}},
		"clusters[1]":         {Clusters: []string{"a", "b_c"}},
		"clusters[2]":         {Clusters: []string{"a", "b", "c-"}},
		"fields[0].path":      {Fields: []query.FieldPredicate{{Path: "cluster", Operator: query.OpEquals, Values: []string{"a"}}}},
		"fields[0].valueFrom": {Fields: []query.FieldPredicate{{Path: "spec.a", Operator: query.OpEquals, ValueFrom: "cluster"}}},
		"facets[0].path":      {Facets: []query.FacetSpec{{Path: "cluster"}}},
	}
	for field, spec := range cases {
		spec.GVK = widgetGVK
		_, err := query.Compile(spec)
		var qe *query.Error
		if !errors.As(err, &qe) || !strings.HasPrefix(qe.Field, field) {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

// TestOldLayoutIsEmptied opens an index file written with an older layout: it is emptied, and
// list and watch refill it.
func TestOldLayoutIsEmptied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	if err := upsert(s, obj("ns", "w", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened with the same layout, the file keeps its objects.
	if s, err = Open(Options{Path: path}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(widgetGVK); err != nil || n != 1 {
		t.Fatalf("reopened: Count = %d, %v", n, err)
	}
	if err := s.w.db.Exec(`PRAGMA user_version = 0`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Options{Path: path}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if s.Registered(widgetGVK) {
		t.Fatal("a file of an older layout kept its kinds")
	}
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(widgetGVK); err != nil || n != 0 {
		t.Fatalf("after emptying: Count = %d, %v", n, err)
	}
}
