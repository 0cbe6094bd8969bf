package sample

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
)

func TestTemplateIsReproducibleAndRealistic(t *testing.T) {
	g := Generator{Namespaces: 100, Seed: 7}
	a, b := g.Template(42), g.Template(42)
	if !equality.Semantic.DeepEqual(a.Object, b.Object) {
		t.Fatal("the same seed and index gave different objects")
	}
	if a.GetNamespace() != Namespace(42) {
		t.Fatalf("namespace = %q, want %q", a.GetNamespace(), Namespace(42))
	}
	raw, err := json.Marshal(a.Object)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(raw); n < 1500 || n > 3000 {
		t.Fatalf("object is %d bytes of JSON, want about 2 KB", n)
	}
	if g.Template(43).GetName() == a.GetName() {
		t.Fatal("two indexes gave the same name")
	}
}
