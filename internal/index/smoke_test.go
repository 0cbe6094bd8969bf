package index

import (
	"context"
	"math/rand/v2"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestSmoke(t *testing.T) {
	s := newStore(t, "spec.replicas")
	r := rand.New(rand.NewPCG(1, 2))
	var changes []Change
	for i := range 1000 {
		changes = append(changes, Change{Object: realisticObject(r, i)})
	}
	if err := s.Apply(changes); err != nil {
		t.Fatal(err)
	}
	sel, _ := labels.Parse("tier=frontend,shard in (3,6,9,12)")
	q, err := Compile(Spec{GVK: widgetGVK, Labels: sel, Fields: []FieldPredicate{{Path: "spec.replicas", Operator: OpGreaterThan, Values: []string{"1"}}}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Search(context.Background(), q, "")
	t.Logf("%+v %v", p, err)
	all, total := searchAll(t, s, q)
	t.Logf("%d %d %v", len(all), total, all)
}
