package query

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

var widgetGVK = schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Widget"}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in, canon, err string
	}{
		{in: "spec.replicas", canon: "spec.replicas"},
		{in: "metadata.annotations['example.com/team']", canon: "metadata.annotations['example.com/team']"},
		{in: "['spec'].replicas", canon: "spec.replicas"},
		{in: "spec.containers[*].image", canon: "spec.containers[*].image"},
		{in: "status.conditions[type=Ready].status", canon: "status.conditions[type=Ready].status"},
		{in: "status.conditions[type='Ready'].status", canon: "status.conditions[type=Ready].status"},
		{in: "spec.ports[name='http web'].port", canon: "spec.ports[name='http web'].port"},
		{in: "spec.a[*][*]", canon: "spec.a[*][*]"},
		{in: "spec.%x", err: `invalid character '%' at offset 5 in "spec.%x"`},
		{in: "", err: "empty path"},
		{in: "spec.", err: `unexpected end of path "spec."`},
		{in: ".spec", err: `invalid character '.' at offset 0`},
		{in: "spec..a", err: `invalid character '.' at offset 5`},
		{in: "spec[", err: "unexpected end"},
		{in: "spec['a'", err: "unexpected end"},
		{in: "spec['a\"']", err: `invalid character '"' at offset 7`},
		{in: "spec['']", err: `invalid character '\'' at offset 6`},
		{in: "spec[type=]", err: `invalid character ']' at offset 10`},
		{in: "spec[type='a", err: "unexpected end"},
		{in: "[*].a", err: "offset 0"},
		{in: "spec.a b", err: `invalid character ' ' at offset 6`},
		{in: "spec.ä", err: `invalid character 'ä' at offset 5`},
		{in: strings.Repeat("a", 257), err: "maximum is 256"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalidPath) {
					t.Fatalf("ParsePath(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tt.canon {
				t.Fatalf("canonical %q, want %q", got, tt.canon)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		field  string
		reason error
		msg    string
	}{
		{"bad path", Spec{Fields: []FieldPredicate{{Path: "spec.%x", Operator: OpExists}}}, "fields[0].path", ErrInvalidPath,
			`fields[0].path: invalid character '%' at offset 5 in "spec.%x"`},
		{"unknown operator", Spec{Fields: []FieldPredicate{{Path: "a", Operator: "Like"}}}, "fields[0].operator", ErrInvalidValue, ""},
		{"equals needs one value", Spec{Fields: []FieldPredicate{{Path: "a", Operator: OpEquals}}}, "fields[0].values", ErrInvalidValue, ""},
		{"exists takes none", Spec{Fields: []FieldPredicate{{Path: "a", Operator: OpExists, Values: []string{"x"}}}}, "fields[0].values", ErrInvalidValue, ""},
		{"limit", Spec{Limit: 501}, "limit", ErrInvalidValue, ""},
		{"negative limit", Spec{Limit: -1}, "limit", ErrInvalidValue, ""},
		{"too many names", Spec{Names: make([]string, 101)}, "names", ErrInvalidValue, ""},
		{"too many sort keys", Spec{Sort: make([]SortKey, 4)}, "sort", ErrInvalidValue, ""},
		{"sort wildcard", Spec{Sort: []SortKey{{Path: "spec.a[*].b"}}}, "sort[0].path", ErrInvalidPath, ""},
		{"too many predicates", Spec{Fields: make([]FieldPredicate, 51)}, "fields", ErrInvalidValue, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.GVK = widgetGVK
			_, err := Compile(tt.spec)
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if qe.Field != tt.field || !errors.Is(err, tt.reason) || !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("got field %q reason %v (%v), want %q %v", qe.Field, qe.Reason, err, tt.field, tt.reason)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Fatalf("message %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}
