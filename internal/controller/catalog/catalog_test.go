package catalog

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestCatalogPublishesOnlyStateChanges(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Template"}
	c := New()
	var got []Change
	c.Subscribe(func(ch Change) { got = append(got, ch) }, nil)

	c.Set(gvk, Kind{Index: "templates", Namespaced: true})
	c.Set(gvk, Kind{Index: "templates", Namespaced: true})
	c.Set(gvk, Kind{Index: "templates", Namespaced: true, Synced: true})
	if len(got) != 2 {
		t.Fatalf("want 2 kind-wide changes (new kind, synced), got %d", len(got))
	}
	for _, ch := range got {
		if !ch.KindWide() || ch.GVK != gvk {
			t.Fatalf("want kind-wide change of %v, got %+v", gvk, ch)
		}
	}
	if k, ok := c.Get(gvk); !ok || !k.Synced {
		t.Fatalf("want synced kind, got %+v, %v", k, ok)
	}

	obj := &unstructured.Unstructured{}
	c.Publish(Change{GVK: gvk, New: obj})
	if len(got) != 3 || got[2].KindWide() || got[2].New != obj {
		t.Fatalf("want object change delivered, got %+v", got)
	}

	c.Remove(gvk)
	c.Remove(gvk)
	if len(got) != 4 {
		t.Fatalf("want one kind-wide change for removal, got %d changes", len(got))
	}
	if _, ok := c.Get(gvk); ok {
		t.Fatal("kind still present after Remove")
	}
}
