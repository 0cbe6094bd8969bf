package index

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/selection"

	"github.com/kubesift/kubesift/internal/query"
)

// The builder refuses operators it has no SQL for instead of writing a condition that is
// always false, which would answer with a silently empty page.
func TestUnknownOperatorsAreErrors(t *testing.T) {
	k := &kind{table: "k1", fields: map[string]string{}, lists: map[string]listField{}}
	path, err := query.ParsePath("spec.a")
	if err != nil {
		t.Fatal(err)
	}
	like := query.Predicate{Path: path, Op: "Like", Values: []query.Value{query.NewValue("x")}}
	for name, write := range map[string]func(sb *sqlBuilder){
		"field":      func(sb *sqlBuilder) { sb.predicate(like, false) },
		"list field": func(sb *sqlBuilder) { sb.sideBranches(like, listField{id: 1, path: path}, false) },
		"label":      func(sb *sqlBuilder) { sb.label(query.LabelRequirement{Key: "a", Op: selection.Operator("~")}, false) },
	} {
		sb := &sqlBuilder{k: k}
		write(sb)
		if !errors.Is(sb.err, query.ErrInvalidQuery) {
			t.Errorf("%s: error %v, want an invalid query error", name, sb.err)
		}
		if _, err := sb.prepare(nil); err == nil {
			t.Errorf("%s: prepared", name)
		}
	}
}
