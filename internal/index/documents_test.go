package index

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/kubesift/kubesift/internal/query"
)

func TestSearchDocumentsReturnsThePageDocumentsInOrder(t *testing.T) {
	s := newStore(t)
	for i, name := range []string{"c", "a", "b", "d"} {
		if err := upsert(s, obj("n", name, map[string]any{"spec": map[string]any{"replicas": int64(i)}})); err != nil {
			t.Fatal(err)
		}
	}
	q := mustCompile(t, query.Spec{GVK: widgetGVK, Limit: 2, Sort: []query.SortKey{{Path: "spec.replicas", Descending: true}}})
	p, err := s.SearchDocuments(context.Background(), q, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Documents) != len(p.Items) || len(p.Items) != 2 {
		t.Fatalf("got %d items and %d documents, want 2 of each", len(p.Items), len(p.Documents))
	}
	for i, doc := range p.Documents {
		var o struct {
			Metadata struct{ Name string }
			Spec     struct{ Replicas int }
		}
		if err := json.Unmarshal(doc, &o); err != nil {
			t.Fatalf("document %d is not JSON: %v", i, err)
		}
		if o.Metadata.Name != p.Items[i].Name {
			t.Errorf("document %d is %s, item %d is %s", i, o.Metadata.Name, i, p.Items[i].Name)
		}
	}
	if p.Items[0].Name != "d" || p.Items[1].Name != "b" {
		t.Errorf("page = %v, want d then b", p.Items)
	}
	// A plain Search reads no documents.
	if p, err := s.Search(context.Background(), q, ""); err != nil || p.Documents != nil {
		t.Errorf("Search returned documents %v, %v", p.Documents, err)
	}
}
