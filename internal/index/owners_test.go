package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubesift/kubesift/internal/query"
)

var (
	deployGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	rsGVK     = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	podGVK    = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
)

// owned builds an object of gvk owned by the given owners (UIDs "uid-<ns>-<name>").
func owned(gvk schema.GroupVersionKind, ns, name string, owners ...*unstructured.Unstructured) *unstructured.Unstructured {
	o := obj(ns, name, nil)
	o.SetGroupVersionKind(gvk)
	var refs []metav1OwnerReference
	for _, w := range owners {
		refs = append(refs, metav1OwnerReference{APIVersion: w.GetAPIVersion(), Kind: w.GetKind(), Name: w.GetName(), UID: w.GetUID()})
	}
	o.SetOwnerReferences(refs)
	return o
}

// TestOwnerChains follows ownerReferences up to owner.depth levels, across kinds, by UID and
// by kind and name, with the objects of a kind that is not indexed out of reach.
func TestOwnerChains(t *testing.T) {
	s := newStore(t)
	for _, gvk := range []schema.GroupVersionKind{deployGVK, rsGVK, podGVK} {
		if err := s.Register(gvk, KindConfig{Namespaced: true}); err != nil {
			t.Fatal(err)
		}
	}
	web := owned(deployGVK, "a", "web")
	webB := owned(deployGVK, "b", "web") // same name, other namespace
	rs1 := owned(rsGVK, "a", "web-1", web)
	rs2 := owned(rsGVK, "a", "web-2", web)
	rsB := owned(rsGVK, "b", "web-1", webB)
	objs := []*unstructured.Unstructured{
		web, webB, rs1, rs2, rsB,
		owned(podGVK, "a", "web-1-x", rs1),
		owned(podGVK, "a", "web-1-y", rs1),
		owned(podGVK, "a", "web-2-x", rs2),
		owned(podGVK, "a", "direct", web), // owned by the Deployment itself
		owned(podGVK, "b", "web-1-z", rsB),
		owned(podGVK, "a", "orphan"),
	}
	// A chain within one kind: Widget root -> mid -> leaf -> leaf2, and a cycle.
	root := obj("a", "root", nil)
	mid := owned(widgetGVK, "a", "mid", root)
	leaf := owned(widgetGVK, "a", "leaf", mid)
	leaf2 := owned(widgetGVK, "a", "leaf2", leaf)
	cycA := obj("a", "cyc-a", nil)
	cycB := owned(widgetGVK, "a", "cyc-b", cycA)
	cycA.SetOwnerReferences([]metav1OwnerReference{{APIVersion: "apps.example.com/v1alpha1", Kind: "Widget", Name: "cyc-b", UID: cycB.GetUID()}})
	objs = append(objs, root, mid, leaf, leaf2, cycA, cycB)
	var changes []Change
	for _, o := range objs {
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		gvk   schema.GroupVersionKind
		ns    []string
		owner query.OwnerSpec
		want  string
	}{
		{"pods of a deployment, depth 1", podGVK, nil, query.OwnerSpec{UID: string(web.GetUID()), Depth: 1}, "a/direct"},
		{"pods of a deployment, depth 2", podGVK, nil, query.OwnerSpec{UID: string(web.GetUID()), Depth: 2}, "a/direct a/web-1-x a/web-1-y a/web-2-x"},
		{"depth beyond the chain", podGVK, nil, query.OwnerSpec{UID: string(web.GetUID()), Depth: 5}, "a/direct a/web-1-x a/web-1-y a/web-2-x"},
		{"by kind and name, every namespace", podGVK, nil,
			query.OwnerSpec{Group: "apps", Kind: "Deployment", Name: "web", Depth: 2}, "a/direct a/web-1-x a/web-1-y a/web-2-x b/web-1-z"},
		{"by kind and name in a namespace", podGVK, []string{"b"},
			query.OwnerSpec{Group: "apps", Kind: "Deployment", Name: "web", Depth: 2}, "b/web-1-z"},
		{"by kind and name, depth 1", rsGVK, nil,
			query.OwnerSpec{Group: "apps", Kind: "ReplicaSet", Name: "web-1", Depth: 1}, ""},
		{"replica sets by kind and name", podGVK, []string{"a"},
			query.OwnerSpec{Group: "apps", Kind: "ReplicaSet", Name: "web-1", Depth: 1}, "a/web-1-x a/web-1-y"},
		{"unknown owner", podGVK, nil, query.OwnerSpec{Group: "apps", Kind: "Deployment", Name: "nope", Depth: 3}, ""},
		{"one kind, depth 2", widgetGVK, nil, query.OwnerSpec{UID: string(root.GetUID()), Depth: 2}, "a/leaf a/mid"},
		{"one kind, depth 3", widgetGVK, nil, query.OwnerSpec{UID: string(root.GetUID()), Depth: 3}, "a/leaf a/leaf2 a/mid"},
		{"a cycle ends", widgetGVK, nil, query.OwnerSpec{UID: string(cycA.GetUID()), Depth: 5}, "a/cyc-a a/cyc-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := tt.owner
			q, err := query.Compile(query.Spec{GVK: tt.gvk, Namespaces: tt.ns, Owner: &owner})
			if err != nil {
				t.Fatal(err)
			}
			refs, total := searchAll(t, s, q)
			var got []string
			for _, r := range refs {
				got = append(got, r.Namespace+"/"+r.Name)
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
			if total != int64(len(got)) {
				t.Fatalf("total %d for %d items", total, len(got))
			}
		})
	}

	t.Run("in an anyOf group", func(t *testing.T) {
		q, err := query.Compile(query.Spec{GVK: podGVK, AnyOf: []query.Group{
			{Owner: &query.OwnerSpec{UID: string(rs2.GetUID()), Depth: 1}},
			{Names: []string{"orphan"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		refs, _ := searchAll(t, s, q)
		if got := strings.Join(names(refs), " "); got != "orphan web-2-x" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("a label and a chain", func(t *testing.T) {
		// A lone label requirement is counted from its label entries; with a chain it must not be.
		picked := owned(podGVK, "a", "web-1-x", rs1)
		picked.SetLabels(map[string]string{"pick": "yes"})
		other := owned(podGVK, "a", "orphan")
		other.SetLabels(map[string]string{"pick": "yes"})
		if err := s.Apply([]Change{{Object: picked}, {Object: other}}, nil); err != nil {
			t.Fatal(err)
		}
		q, err := query.Compile(query.Spec{GVK: podGVK, Labels: mustSelector(t, "pick=yes"),
			Owner: &query.OwnerSpec{UID: string(web.GetUID()), Depth: 2}})
		if err != nil {
			t.Fatal(err)
		}
		refs, total := searchAll(t, s, q)
		if got := strings.Join(names(refs), " "); got != "web-1-x" || total != 1 {
			t.Fatalf("got %q, total %d; want web-1-x, total 1", got, total)
		}
	})

	t.Run("a kind that is not indexed", func(t *testing.T) {
		q, err := query.Compile(query.Spec{GVK: podGVK, Owner: &query.OwnerSpec{Group: "batch", Kind: "Job", Name: "x", Depth: 2}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Search(context.Background(), q, "")
		var qe *query.Error
		if !errors.As(err, &qe) || qe.Field != "owner.kind" || !strings.Contains(qe.Msg, "not indexed") {
			t.Fatalf("got %v, want an error at owner.kind saying the kind is not indexed", err)
		}
	})

	t.Run("a change in the middle of the chain", func(t *testing.T) {
		q, err := query.Compile(query.Spec{GVK: podGVK, Owner: &query.OwnerSpec{UID: string(web.GetUID()), Depth: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if !q.FollowsOwners() {
			t.Fatal("a depth-2 owner must make the query follow changes of every kind")
		}
		// The ReplicaSet web-2 moves to another owner: its pod leaves the results.
		moved := owned(rsGVK, "a", "web-2", webB)
		if err := s.Apply([]Change{{Object: moved}}, nil); err != nil {
			t.Fatal(err)
		}
		refs, _ := searchAll(t, s, q)
		if got := strings.Join(names(refs), " "); got != "direct web-1-x web-1-y" {
			t.Fatalf("got %q", got)
		}
		p, err := s.Search(context.Background(), q, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(p.OwnerKinds, " "); got != "Deployment.apps Pod ReplicaSet.apps Widget.apps.example.com" {
			t.Fatalf("owner kinds %q", got)
		}
	})
}

func TestOwnerSpecValidation(t *testing.T) {
	for _, tt := range []struct {
		spec  query.Spec
		field string
	}{
		{query.Spec{Owner: &query.OwnerSpec{UID: "u", Depth: 6}}, "owner.depth"},
		{query.Spec{Owner: &query.OwnerSpec{UID: "u", Kind: "Deployment", Name: "web"}}, "owner"},
		{query.Spec{Owner: &query.OwnerSpec{Kind: "Deployment"}}, "owner"},
		{query.Spec{Owner: &query.OwnerSpec{UID: "u"}, OwnerUID: "u"}, "owner"},
		{query.Spec{AnyOf: []query.Group{{Owner: &query.OwnerSpec{UID: "u", Depth: -1}}}}, "anyOf[0].owner.depth"},
	} {
		tt.spec.GVK = podGVK
		_, err := query.Compile(tt.spec)
		var qe *query.Error
		if !errors.As(err, &qe) || qe.Field != tt.field {
			t.Errorf("%+v: got %v, want an error at %s", tt.spec.Owner, err, tt.field)
		}
	}
	// owner.uid at depth 1 is ownerUID.
	a, err := query.Compile(query.Spec{GVK: podGVK, Owner: &query.OwnerSpec{UID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := query.Compile(query.Spec{GVK: podGVK, OwnerUID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() != b.Fingerprint() || a.FollowsOwners() {
		t.Fatal("owner {uid, depth 1} must compile to ownerUID")
	}
}

// TestOwnerChainsDifferential compares owner chains with a reference that walks the
// ownerReferences of random objects of two kinds (several owners per object, cycles, owners
// that do not exist) breadth first.
func TestOwnerChainsDifferential(t *testing.T) {
	s := newStore(t)
	if err := s.Register(podGVK, KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(12, 12))
	gvks := []schema.GroupVersionKind{widgetGVK, podGVK}
	var objs []*unstructured.Unstructured
	for i := range 400 {
		o := obj("ns"+strconv.Itoa(i%2), fmt.Sprintf("o%03d", i), nil)
		o.SetGroupVersionKind(gvks[r.IntN(2)])
		var refs []metav1OwnerReference
		for range r.IntN(3) {
			uid := "missing"
			if len(objs) > 0 && r.IntN(8) > 0 {
				uid = string(objs[r.IntN(len(objs))].GetUID())
			}
			refs = append(refs, metav1OwnerReference{APIVersion: "v1", Kind: "X", Name: "x", UID: typesUID(uid)})
		}
		o.SetOwnerReferences(refs)
		objs = append(objs, o)
	}
	// A few objects point forward too, making cycles.
	for range 20 {
		a, b := objs[r.IntN(len(objs))], objs[r.IntN(len(objs))]
		a.SetOwnerReferences(append(a.GetOwnerReferences(), metav1OwnerReference{APIVersion: "v1", Kind: "X", Name: "x", UID: b.GetUID()}))
	}
	var changes []Change
	for _, o := range objs {
		changes = append(changes, Change{Object: o})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	children := map[string][]*unstructured.Unstructured{}
	for _, o := range objs {
		for _, ref := range o.GetOwnerReferences() {
			children[string(ref.UID)] = append(children[string(ref.UID)], o)
		}
	}
	// reference: the objects of gvk within depth levels below root.
	reference := func(root string, depth int, gvk schema.GroupVersionKind) []string {
		found := map[string]bool{}
		frontier := []string{root}
		seen := map[string]bool{root: true}
		for range depth {
			var next []string
			for _, uid := range frontier {
				for _, c := range children[uid] {
					if c.GroupVersionKind() == gvk {
						found[c.GetNamespace()+"/"+c.GetName()] = true
					}
					if !seen[string(c.GetUID())] {
						seen[string(c.GetUID())] = true
						next = append(next, string(c.GetUID()))
					}
				}
			}
			frontier = next
		}
		out := make([]string, 0, len(found))
		for k := range found {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	for i := range 200 {
		root := string(objs[r.IntN(len(objs))].GetUID())
		depth := 1 + r.IntN(query.MaxOwnerDepth)
		gvk := gvks[r.IntN(2)]
		q, err := query.Compile(query.Spec{GVK: gvk, Owner: &query.OwnerSpec{UID: root, Depth: depth}, Limit: 37})
		if err != nil {
			t.Fatal(err)
		}
		refs, total := searchAll(t, s, q)
		var got []string
		for _, ref := range refs {
			got = append(got, ref.Namespace+"/"+ref.Name)
		}
		want := reference(root, depth, gvk)
		if strings.Join(got, " ") != strings.Join(want, " ") || total != int64(len(want)) {
			t.Fatalf("case %d (root %s, depth %d, %s): got %v (total %d), want %v", i, root, depth, gvk.Kind, got, total, want)
		}
	}
}
