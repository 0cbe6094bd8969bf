package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/token"
)

// storedJSON returns the stored document of one object.
func storedJSON(t *testing.T, s *Store, gvk schema.GroupVersionKind, ns, name string) string {
	t.Helper()
	k := s.kind(gvk)
	c, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(c)
	st, err := c.prepare(`SELECT json(obj) FROM ` + k.table + ` WHERE ns = ? AND name = ?`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	if err := bind(st, []any{ns, name}); err != nil {
		t.Fatal(err)
	}
	if !st.Step() {
		t.Fatalf("%s/%s not stored: %v", ns, name, st.Err())
	}
	return st.ColumnText(0)
}

func TestSecretsAndNoiseAreNotStored(t *testing.T) {
	s := newStore(t)
	if err := s.Register(secretGVK, KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	sec := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{
			"name": "creds", "namespace": "a",
			"managedFields": []any{map[string]any{"manager": "kubectl"}},
			"annotations":   map[string]any{lastApplied: `{"data":{"password":"c2VjcmV0"}}`, "keep": "me"},
		},
		"data":       map[string]any{"password": "c2VjcmV0"},
		"stringData": map[string]any{"token": "plain"},
	}}
	before := sec.DeepCopy()
	if err := upsert(s, sec); err != nil {
		t.Fatal(err)
	}
	got := storedJSON(t, s, secretGVK, "a", "creds")
	for _, bad := range []string{"c2VjcmV0", "plain", "managedFields", "last-applied", `"data"`, "stringData"} {
		if strings.Contains(got, bad) {
			t.Errorf("stored secret contains %q: %s", bad, got)
		}
	}
	if !strings.Contains(got, `"keep":"me"`) || !strings.Contains(got, `"type":"Opaque"`) {
		t.Errorf("stored secret lost fields: %s", got)
	}
	if !equality(before, sec) {
		t.Error("Upsert modified the caller's object")
	}
	// Other kinds keep data but drop managedFields and last-applied.
	w := obj("a", "w", map[string]any{"data": map[string]any{"k": "v"}})
	w.SetManagedFields(nil)
	w.Object["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "x"}}
	w.SetAnnotations(map[string]string{lastApplied: "{}"})
	if err := upsert(s, w); err != nil {
		t.Fatal(err)
	}
	got = storedJSON(t, s, widgetGVK, "a", "w")
	if !strings.Contains(got, `"data":{"k":"v"}`) || strings.Contains(got, "managedFields") || strings.Contains(got, "last-applied") {
		t.Errorf("stored widget: %s", got)
	}
}

func equality(a, b *unstructured.Unstructured) bool {
	ja, _ := a.MarshalJSON()
	jb, _ := b.MarshalJSON()
	return string(ja) == string(jb)
}

func TestWritesCountsAndObserver(t *testing.T) {
	s := newStore(t)
	rec := &recorder{old: true}
	a, b := obj("n", "a", nil), obj("n", "b", nil)
	a.SetResourceVersion("1")
	a.SetLabels(map[string]string{"tier": "web"})
	if err := s.Apply([]Change{{Object: a}, {Object: b}}, rec); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(widgetGVK); n != 2 {
		t.Fatalf("count %d", n)
	}
	if len(rec.written) != 2 || rec.written[0].Old != nil || rec.written[0].New != a {
		t.Fatalf("observed %+v, want two creations", rec.written)
	}
	// Same resourceVersion: nothing changes, nothing is observed.
	rec.written = nil
	if err := s.Apply([]Change{{Object: a}}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.written) != 0 {
		t.Fatalf("observed %d writes of an unchanged object", len(rec.written))
	}
	// An update gives the stored version as Old, decoded from the index.
	a2 := obj("n", "a", map[string]any{"spec": map[string]any{"replicas": int64(3)}})
	a2.SetResourceVersion("2")
	if err := s.Apply([]Change{{Object: a2}}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.written) != 1 || rec.written[0].Old == nil || rec.written[0].Old.GetLabels()["tier"] != "web" ||
		rec.written[0].Old.GetResourceVersion() != "1" || rec.written[0].Old.GroupVersionKind() != widgetGVK {
		t.Fatalf("observed %+v, want the old version with its labels", rec.written)
	}
	// A delete by key only still gives the deleted object's stored state.
	rec.written = nil
	if err := s.Apply([]Change{{Object: obj("n", "a", nil), Deleted: true}}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.written) != 1 || rec.written[0].New != nil || rec.written[0].Old == nil {
		t.Fatalf("observed %+v, want one delete", rec.written)
	}
	if got, _, _ := unstructured.NestedInt64(rec.written[0].Old.Object, "spec", "replicas"); got != 3 {
		t.Fatalf("old spec.replicas %d, want 3 as an integer", got)
	}
	// Without old versions, a delete still names the object.
	rec.old, rec.written = false, nil
	if err := s.Apply([]Change{{Object: b, Deleted: true}}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.written) != 1 || rec.written[0].Old.GetName() != "b" || rec.written[0].Old.GetNamespace() != "n" {
		t.Fatalf("observed %+v, want the key of b", rec.written)
	}
	if err := upsert(s, a); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		o := obj("n", "c", map[string]any{"spec": map[string]any{"i": int64(i)}})
		if err := upsert(s, o); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Count(widgetGVK); n != 2 {
		t.Fatalf("count %d", n)
	}
	if err := upsert(s, obj("n", "d", nil)); err != nil {
		t.Fatal(err)
	}
	// Delete with a different uid keeps the newer incarnation.
	stale := obj("n", "a", nil)
	stale.SetUID("other")
	if err := remove(s, stale); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(widgetGVK); n != 3 {
		t.Fatalf("count after stale delete %d", n)
	}
	if err := remove(s, a); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(widgetGVK); n != 2 {
		t.Fatalf("count after delete %d", n)
	}
	// Replace leaves exactly the given set.
	if err := s.Replace(widgetGVK, []*unstructured.Unstructured{obj("n", "x", nil), obj("n", "b", nil)}); err != nil {
		t.Fatal(err)
	}
	q, _ := query.Compile(query.Spec{GVK: widgetGVK})
	refs, _ := searchAll(t, s, q)
	if got := strings.Join(names(refs), ","); got != "b,x" {
		t.Fatalf("after replace: %s", got)
	}
	// Unregistered kinds are rejected; Apply is all or nothing.
	other := obj("n", "y", nil)
	other.SetKind("Other")
	if err := s.Apply([]Change{{Object: obj("n", "z", nil)}, {Object: other}}, nil); !errors.Is(err, ErrKindNotRegistered) {
		t.Fatalf("got %v", err)
	}
	if n, _ := s.Count(widgetGVK); n != 2 {
		t.Fatalf("partial apply: count %d", n)
	}
	if _, err := s.Search(context.Background(), mustCompile(t, query.Spec{GVK: other.GroupVersionKind()}), ""); !errors.Is(err, ErrKindNotRegistered) || !errors.Is(err, query.ErrInvalidQuery) {
		t.Fatalf("search of unknown kind: %v", err)
	}
	if err := s.Unregister(widgetGVK); err != nil {
		t.Fatal(err)
	}
	if s.Registered(widgetGVK) {
		t.Fatal("still registered")
	}
	if err := upsert(s, obj("n", "b", nil)); !errors.Is(err, ErrKindNotRegistered) {
		t.Fatalf("upsert after unregister: %v", err)
	}
}

func mustCompile(t testing.TB, spec query.Spec) *query.Query {
	t.Helper()
	q, err := query.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestRegisterChangesFieldsWithoutDataLoss(t *testing.T) {
	s := newStore(t)
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: []string{"spec.%"}}); !errors.Is(err, query.ErrInvalidPath) {
		t.Fatalf("got %v", err)
	}
	for i := range 10 {
		if err := upsert(s, obj("n", string(rune('a'+i)), map[string]any{"spec": map[string]any{"n": int64(i)}})); err != nil {
			t.Fatal(err)
		}
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{{Path: "spec.n", Operator: query.OpGreaterThanOrEqual, Values: []string{"5"}}}})
	for _, fields := range [][]string{{"spec.n"}, {"spec.other"}, nil, {"spec.n", "spec['other']"}} {
		if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: fields}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Search(context.Background(), q, "")
		if err != nil || p.Total != 5 {
			t.Fatalf("fields %v: %+v %v", fields, p, err)
		}
	}
}

func TestFileStoreReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	s, err := Open(Options{Path: path, TokenKey: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: []string{"spec.n"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := upsert(s, obj("n", string(rune('a'+i)), nil)); err != nil {
			t.Fatal(err)
		}
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK, Limit: 2})
	p, err := s.Search(context.Background(), q, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Path: path, TokenKey: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if n, _ := s.Count(widgetGVK); n != 5 {
		t.Fatalf("count after reopen %d", n)
	}
	// A stable TokenKey keeps tokens valid across restarts.
	p2, err := s.Search(context.Background(), q, p.Continue)
	if err != nil || len(p2.Items) != 2 || p2.Items[0].Name != "c" {
		t.Fatalf("continue after reopen: %+v %v", p2, err)
	}
}

func TestContinueTokens(t *testing.T) {
	s := newStore(t)
	for i := range 10 {
		if err := upsert(s, obj("n", string(rune('a'+i)), nil)); err != nil {
			t.Fatal(err)
		}
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK, Limit: 3})
	p, err := s.Search(context.Background(), q, "")
	if err != nil || p.Continue == "" || p.Remaining != 7 || p.Total != 10 {
		t.Fatalf("%+v %v", p, err)
	}
	other := mustCompile(t, query.Spec{GVK: widgetGVK, Limit: 4})
	flip := []byte(p.Continue)
	flip[len(flip)/2] ^= 1
	bad := map[string]struct {
		q     *query.Query
		token string
	}{
		"other query": {other, p.Continue},
		"truncated":   {q, p.Continue[:len(p.Continue)-3]},
		"edited":      {q, string(flip)},
		"garbage":     {q, "!!!"},
		"empty body":  {q, "AA"},
	}
	for name, tc := range bad {
		if _, err := s.Search(context.Background(), tc.q, tc.token); !errors.Is(err, query.ErrInvalidContinue) || !errors.Is(err, query.ErrInvalidQuery) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// A token from another store (another key) is rejected too.
	s2 := newStore(t)
	if _, err := s2.Search(context.Background(), q, p.Continue); !errors.Is(err, query.ErrInvalidContinue) {
		t.Errorf("foreign token: %v", err)
	}
	// Other version byte, correctly signed.
	vals, _ := token.Decode(s.tokenKey, q.Fingerprint(), len(keyFields(q)), p.Continue)
	tok := token.Encode(s.tokenKey, q.Fingerprint(), vals)
	if _, err := s.Search(context.Background(), q, tok); err != nil {
		t.Fatalf("re-encoded token: %v", err)
	}
}

// sideRows counts the side table rows of the kind.
func sideRows(t *testing.T, s *Store) int64 {
	t.Helper()
	c, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(c)
	st, err := c.prepare(`SELECT count(*) FROM ` + s.kind(widgetGVK).table + `_fields`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	st.Step()
	return st.ColumnInt64(0)
}

func TestListFieldsFollowWritesAndDeclarations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	ready := "status.conditions[type=Ready].status"
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: []string{ready}}); err != nil {
		t.Fatal(err)
	}
	cond := func(status string) map[string]any {
		return map[string]any{"status": map[string]any{"conditions": []any{
			map[string]any{"type": "Synced", "status": "True"},
			map[string]any{"type": "Ready", "status": status},
		}}}
	}
	for i, st := range []string{"True", "False", "True", "Unknown"} {
		o := obj("n", string(rune('a'+i)), cond(st))
		o.SetResourceVersion("1")
		if err := upsert(s, o); err != nil {
			t.Fatal(err)
		}
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK, Fields: []query.FieldPredicate{{Path: ready, Operator: query.OpEquals, Values: []string{"True"}}}})
	check := func(what string, want ...string) {
		t.Helper()
		refs, _ := searchAll(t, s, q)
		var got []string
		for _, r := range refs {
			got = append(got, r.Name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
	check("insert", "a", "c")
	b := obj("n", "b", cond("True"))
	b.SetResourceVersion("2")
	a := obj("n", "a", cond("False"))
	a.SetResourceVersion("2")
	if err := s.Apply([]Change{{Object: b}, {Object: a}, {Object: obj("n", "c", nil), Deleted: true}}, nil); err != nil {
		t.Fatal(err)
	}
	check("update and delete", "b")
	if n := sideRows(t, s); n != 3 {
		t.Fatalf("side rows %d, want 3", n)
	}
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	if n := sideRows(t, s); n != 0 {
		t.Fatalf("side rows after dropping the field: %d", n)
	}
	check("undeclared", "b")
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: []string{"spec.n", ready}}); err != nil {
		t.Fatal(err)
	}
	check("backfilled", "b")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Options{Path: path}); err != nil {
		t.Fatal(err)
	}
	if lf, ok := s.kind(widgetGVK).lists[ready]; !ok || lf.path.String() != ready {
		t.Fatalf("list fields after reopen: %v", s.kind(widgetGVK).lists)
	}
	if err := s.Replace(widgetGVK, []*unstructured.Unstructured{obj("n", "d", cond("True"))}); err != nil {
		t.Fatal(err)
	}
	check("after reopen and replace", "d")
	if n := sideRows(t, s); n != 1 {
		t.Fatalf("side rows after replace %d, want 1", n)
	}
}

// TestRelist checks that a relist written page by page leaves exactly the listed objects,
// deletes the others in its commit with their stored state, and starts over when begun again.
func TestRelist(t *testing.T) {
	s := newStore(t)
	old := obj("n", "gone", nil)
	old.SetLabels(map[string]string{"tier": "web"})
	for _, o := range []*unstructured.Unstructured{old, obj("n", "a", nil), obj("n", "b", nil)} {
		if err := upsert(s, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitRelist(widgetGVK, "", nil); !errors.Is(err, errNoRelist) {
		t.Fatalf("commit without a relist: %v", err)
	}
	if err := s.BeginRelist(widgetGVK, ""); err != nil {
		t.Fatal(err)
	}
	kept := obj("n", "gone", nil)
	kept.SetLabels(map[string]string{"tier": "web"})
	if err := s.ApplyRelist(widgetGVK, "", []*unstructured.Unstructured{kept}, nil); err != nil {
		t.Fatal(err)
	}
	// Begun again: the page above no longer counts as listed.
	if err := s.BeginRelist(widgetGVK, ""); err != nil {
		t.Fatal(err)
	}
	// Observed pages commit one by one.
	for _, page := range [][]*unstructured.Unstructured{{obj("n", "a", nil)}, {obj("n", "b", nil), obj("n", "c", nil)}} {
		if err := s.ApplyRelist(widgetGVK, "", page, &recorder{}); err != nil {
			t.Fatal(err)
		}
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK})
	refs, _ := searchAll(t, s, q)
	if got := strings.Join(names(refs), ","); got != "a,b,c,gone" {
		t.Fatalf("before the commit: %s", got)
	}
	rec := &recorder{old: true}
	if err := s.CommitRelist(widgetGVK, "", rec); err != nil {
		t.Fatal(err)
	}
	refs, _ = searchAll(t, s, q)
	if got := strings.Join(names(refs), ","); got != "a,b,c" {
		t.Fatalf("after the commit: %s", got)
	}
	if n, _ := s.Count(widgetGVK); n != 3 {
		t.Fatalf("count %d", n)
	}
	if len(rec.written) != 1 || rec.written[0].Old.GetName() != "gone" || rec.written[0].Old.GetLabels()["tier"] != "web" {
		t.Fatalf("observed %+v, want the delete of gone with its labels", rec.written)
	}
	if err := s.CommitRelist(widgetGVK, "", nil); !errors.Is(err, errNoRelist) {
		t.Fatalf("second commit: %v", err)
	}
}

// TestRelistGroupsPages checks that the pages of an unobserved relist share transactions of
// up to relistGroupRows objects: readers see none of an open group, a commit or any other
// write ends the group, and a failed page rolls back its whole group and fails the relist's
// later steps until it begins again.
func TestRelistGroupsPages(t *testing.T) {
	s := newStore(t)
	if err := s.Register(secretGVK, KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	if err := upsert(s, obj("n", "gone", nil)); err != nil {
		t.Fatal(err)
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK})
	listed := func() string {
		t.Helper()
		refs, _ := searchAll(t, s, q)
		return strings.Join(names(refs), ",")
	}
	if err := s.BeginRelist(widgetGVK, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRelist(widgetGVK, "", []*unstructured.Unstructured{obj("n", "a", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got != "gone" {
		t.Fatalf("with a group open: %s, want only the committed gone", got)
	}
	// Another kind's write commits the group first.
	g := obj("n", "g", nil)
	g.SetGroupVersionKind(secretGVK)
	if err := upsert(s, g); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got != "a,gone" {
		t.Fatalf("after another write: %s", got)
	}
	// A full group commits by itself.
	var page []*unstructured.Unstructured
	for i := range relistGroupRows {
		page = append(page, obj("n", fmt.Sprintf("b-%05d", i), nil))
	}
	if err := s.ApplyRelist(widgetGVK, "", page, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(widgetGVK); n != relistGroupRows+2 {
		t.Fatalf("after a full group: count %d, want %d", n, relistGroupRows+2)
	}
	if err := s.ApplyRelist(widgetGVK, "", []*unstructured.Unstructured{obj("n", "c", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitRelist(widgetGVK, "", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(widgetGVK); n != relistGroupRows+2 {
		t.Fatalf("after the commit: count %d, want %d (a, b-*, c)", n, relistGroupRows+2)
	}
	if got := listed(); !strings.HasPrefix(got, "a,b-00000,") || !strings.HasSuffix(got, ",c") || strings.Contains(got, "gone") {
		t.Fatalf("after the commit: %.40s...", got)
	}

	// A failed page rolls back its group; the relist fails until it begins again.
	if err := s.BeginRelist(widgetGVK, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRelist(widgetGVK, "", []*unstructured.Unstructured{obj("n", "d", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRelist(widgetGVK, "", []*unstructured.Unstructured{obj("n", "", nil)}, nil); err == nil {
		t.Fatal("a page with a nameless object: no error")
	}
	if n, _ := s.Count(widgetGVK); n != relistGroupRows+2 {
		t.Fatalf("after a failed page: count %d, want %d", n, relistGroupRows+2)
	}
	// Committing now would delete every object the rolled-back pages listed.
	if err := s.CommitRelist(widgetGVK, "", nil); err == nil {
		t.Fatal("a commit after a failed page: no error")
	}
	if n, _ := s.Count(widgetGVK); n != relistGroupRows+2 {
		t.Fatalf("after a refused commit: count %d, want %d", n, relistGroupRows+2)
	}
	if got := listed(); strings.Contains(got, ",d,") {
		t.Fatalf("the rolled-back d is stored: %.40s...", got)
	}
	// Begun again, the relist goes through.
	if err := s.BeginRelist(widgetGVK, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRelist(widgetGVK, "", []*unstructured.Unstructured{obj("n", "d", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitRelist(widgetGVK, "", nil); err != nil {
		t.Fatal(err)
	}
	if got := listed(); got != "d" {
		t.Fatalf("after a new relist: %s, want d", got)
	}
}

// TestRelistMergesNames checks that a relist of many objects, written page by page as a
// mirror's initial list is, leaves the name search index in one segment, and that a small one
// leaves it to automatic merging.
func TestRelistMergesNames(t *testing.T) {
	for _, tc := range []struct {
		objects int
		merged  bool
	}{{3 * 500, false}, {analyzeRows + 500, true}} {
		s := newStore(t)
		if err := s.BeginRelist(widgetGVK, ""); err != nil {
			t.Fatal(err)
		}
		// Observed, as a relist after the first sync is, so that each page is a transaction
		// and a segment.
		var page []*unstructured.Unstructured
		for i := range tc.objects {
			page = append(page, obj("n", fmt.Sprintf("app-%d", i), nil))
			if len(page) == 500 {
				if err := s.ApplyRelist(widgetGVK, "", page, &recorder{}); err != nil {
					t.Fatal(err)
				}
				page = nil
			}
		}
		if err := s.CommitRelist(widgetGVK, "", nil); err != nil {
			t.Fatal(err)
		}
		segments := nameSegments(t, s)
		if merged := segments == 1; merged != tc.merged {
			t.Errorf("%d objects: the name index has %d segments, want merged=%v", tc.objects, segments, tc.merged)
		}
		// app-12, app-120..app-129, app-1200..app-1299
		_, total := searchAll(t, s, mustCompile(t, query.Spec{GVK: widgetGVK, NameContains: "app-12", Limit: 500}))
		if total != 111 {
			t.Errorf("%d objects: %d names contain app-12, want 111", tc.objects, total)
		}
	}
}

// nameSegments returns the number of segments of the widget kind's name search index, read
// from the index's structure record (FTS5's %_data row 10: a 4-byte cookie, the 4-byte
// marker of the structure's second version, then the number of levels and of segments as
// varints).
func nameSegments(t *testing.T, s *Store) int {
	t.Helper()
	c, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(c)
	k := s.kind(widgetGVK)
	st, _, err := c.db.Prepare(`SELECT block FROM ` + k.table + `_names_data WHERE id = 10`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if !st.Step() {
		t.Fatalf("no structure record: %v", st.Err())
	}
	b := st.ColumnBlob(0, nil)
	if len(b) < 10 || !bytes.Equal(b[4:8], []byte{0xff, 0x00, 0x00, 0x01}) {
		t.Fatalf("unexpected structure record % x", b)
	}
	b = b[8:]
	var vals [2]int
	for i := range vals {
		for len(b) > 0 {
			vals[i] = vals[i]<<7 | int(b[0]&0x7f)
			more := b[0]&0x80 != 0
			b = b[1:]
			if !more {
				break
			}
		}
	}
	return vals[1]
}

// Stored labels that cannot be decoded are an error, not "no labels": the label rows of the
// object could not be replaced.
func TestDecodeLabels(t *testing.T) {
	got, err := decodeLabels([]byte(`{"env":"prod","shard":"s7"}`))
	if err != nil || len(got) != 2 || got["env"] != "prod" || got["shard"] != "s7" {
		t.Fatalf("decodeLabels = %v, %v", got, err)
	}
	if got, err := decodeLabels(nil); err != nil || got != nil {
		t.Fatalf("decodeLabels(nil) = %v, %v", got, err)
	}
	if _, err := decodeLabels([]byte(`{"env":`)); err == nil || !strings.Contains(err.Error(), "stored labels") {
		t.Fatalf("decodeLabels of damaged JSON: %v", err)
	}
}

// TestRelistIntoEmptyKind checks the relist of a kind that held no rows when it began, whose
// pages insert without looking each object up: an object listed twice is stored once, as its
// last version, with that version's labels; and the next relist, of a kind with rows, deletes
// what it does not list.
func TestRelistIntoEmptyKind(t *testing.T) {
	s := newStore(t)
	if err := s.BeginRelist(widgetGVK, ""); err != nil {
		t.Fatal(err)
	}
	if !s.emptyRelists[relistName(s.kind(widgetGVK), "")] {
		t.Fatal("a relist into an empty kind does not insert first")
	}
	first := obj("n", "a", nil)
	first.SetLabels(map[string]string{"tier": "web"})
	first.SetResourceVersion("1")
	again := obj("n", "a", nil)
	again.SetLabels(map[string]string{"tier": "db"})
	again.SetResourceVersion("2")
	for _, page := range [][]*unstructured.Unstructured{{first, obj("n", "b", nil)}, {again}} {
		if err := s.ApplyRelist(widgetGVK, "", page, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitRelist(widgetGVK, "", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(widgetGVK); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}
	for sel, want := range map[string]string{"tier=db": "a", "tier=web": ""} {
		refs, _ := searchAll(t, s, mustCompile(t, query.Spec{GVK: widgetGVK, Labels: mustSelector(t, sel)}))
		if got := strings.Join(names(refs), ","); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	refs, _ := searchAll(t, s, mustCompile(t, query.Spec{GVK: widgetGVK, NameContains: "a"}))
	if len(refs) != 1 || refs[0].ResourceVersion != "2" {
		t.Fatalf("stored %+v, want a at resourceVersion 2", refs)
	}

	if err := s.BeginRelist(widgetGVK, ""); err != nil {
		t.Fatal(err)
	}
	if s.emptyRelists[relistName(s.kind(widgetGVK), "")] {
		t.Fatal("a relist into a kind with rows inserts first")
	}
	if err := s.ApplyRelist(widgetGVK, "", []*unstructured.Unstructured{obj("n", "b", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitRelist(widgetGVK, "", nil); err != nil {
		t.Fatal(err)
	}
	refs, _ = searchAll(t, s, mustCompile(t, query.Spec{GVK: widgetGVK}))
	if got := strings.Join(names(refs), ","); got != "b" {
		t.Fatalf("after the second relist: %s, want b", got)
	}
}
