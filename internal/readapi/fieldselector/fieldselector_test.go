package fieldselector

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

func TestParseFieldSelector(t *testing.T) {
	pred := func(path string, op searchv1alpha1.FieldOperator, values ...string) Clause {
		return Clause{Path: path, Operator: op, Values: values}
	}
	tests := []struct {
		in   string
		want []Clause
	}{
		{"", nil},
		{"spec.replicas>3", []Clause{pred("spec.replicas", searchv1alpha1.FieldOpGreaterThan, "3")}},
		{"spec.replicas >= 3 , metadata.name!=web", []Clause{
			pred("spec.replicas", searchv1alpha1.FieldOpGreaterThanOrEqual, "3"), pred("metadata.name", searchv1alpha1.FieldOpNotEquals, "web")}},
		{"status.conditions[type=Ready].status=True", []Clause{
			pred("status.conditions[type=Ready].status", searchv1alpha1.FieldOpEquals, "True")}},
		{"metadata.annotations['example.com/a=b']==x", []Clause{
			pred("metadata.annotations['example.com/a=b']", searchv1alpha1.FieldOpEquals, "x")}},
		{"spec.tier in (a, b),spec.x notin (c)", []Clause{
			pred("spec.tier", searchv1alpha1.FieldOpIn, "a", "b"), pred("spec.x", searchv1alpha1.FieldOpNotIn, "c")}},
		{"spec.paused,!spec.suspend", []Clause{
			pred("spec.paused", searchv1alpha1.FieldOpExists), pred("spec.suspend", searchv1alpha1.FieldOpDoesNotExist)}},
		{`spec.note~=a\,b,metadata.name^=web`, []Clause{
			pred("spec.note", searchv1alpha1.FieldOpContains, "a,b"), pred("metadata.name", searchv1alpha1.FieldOpStartsWith, "web")}},
		{"spec.replicas<=2,spec.replicas<9", []Clause{
			pred("spec.replicas", searchv1alpha1.FieldOpLessThanOrEqual, "2"), pred("spec.replicas", searchv1alpha1.FieldOpLessThan, "9")}},
		{"metadata.name=", []Clause{pred("metadata.name", searchv1alpha1.FieldOpEquals, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			var preds []Clause
			for _, c := range got {
				c.Pos = 0
				preds = append(preds, c)
			}
			if !reflect.DeepEqual(preds, tt.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.in, preds, tt.want)
			}
		})
	}
}

func TestParseFieldSelectorErrors(t *testing.T) {
	tests := []struct {
		in  string
		pos int
		msg string
	}{
		{"=3", 0, "expected a path"},
		{"spec.replicas>3,", 16, "expected a path"},
		{"spec.x in a", 10, "expected '('"},
		{"spec.x in (a", 12, "expected ')'"},
		{"spec.conditions[type=Ready.status=x", 0, "unterminated"},
		{"spec.x in (a) b", 14, "expected ',' or the end"},
		{`spec.x=a\b`, 8, "backslash"},
		{"spec.x (", 7, "expected an operator"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want an *Error", tt.in, err)
			}
			if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) = position %d %q, want position %d and %q", tt.in, se.Pos, se.Msg, tt.pos, tt.msg)
			}
		})
	}
}
