package query

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
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
		{"too many groups", Spec{AnyOf: make([]Group, 11)}, "anyOf", ErrInvalidValue, ""},
		{"empty group", Spec{AnyOf: []Group{{NameContains: "a"}, {}}}, "anyOf[1]", ErrInvalidValue, "anyOf[1]: a group needs at least one filter"},
		{"bad path in a group", Spec{AnyOf: []Group{{NameContains: "a"}, {Fields: []FieldPredicate{{Path: "a", Operator: OpExists}, {Path: "spec.%x", Operator: OpExists}}}}},
			"anyOf[1].fields[1].path", ErrInvalidPath, `anyOf[1].fields[1].path: invalid character '%' at offset 5 in "spec.%x"`},
		{"too many facets", Spec{Facets: make([]FacetSpec, 6)}, "facets", ErrInvalidValue, ""},
		{"facet path", Spec{Facets: []FacetSpec{{Path: "spec.a"}, {Path: "spec..a"}}}, "facets[1].path", ErrInvalidPath, ""},
		{"facet limit", Spec{Facets: []FacetSpec{{Path: "spec.a", Limit: 101}}}, "facets[0].limit", ErrInvalidValue, ""},
		{"too many names in a group", Spec{AnyOf: []Group{{Names: make([]string, 101)}}}, "anyOf[0].names", ErrInvalidValue, ""},
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

func TestAnyOfMatches(t *testing.T) {
	obj := func(name string, lbls map[string]string, replicas int64) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"replicas": replicas}}}
		u.SetGroupVersionKind(widgetGVK)
		u.SetNamespace("ns")
		u.SetName(name)
		u.SetLabels(lbls)
		return u
	}
	sel, err := labels.Parse("team=payments")
	if err != nil {
		t.Fatal(err)
	}
	q, err := Compile(Spec{GVK: widgetGVK, NameContains: "web", AnyOf: []Group{
		{Labels: sel},
		{Fields: []FieldPredicate{{Path: "spec.replicas", Operator: OpGreaterThan, Values: []string{"3"}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		o    *unstructured.Unstructured
		want bool
	}{
		{obj("web-1", map[string]string{"team": "payments"}, 1), true},
		{obj("web-2", nil, 5), true},
		{obj("web-3", map[string]string{"team": "search"}, 2), false},
		{obj("db-1", map[string]string{"team": "payments"}, 5), false}, // the top level still applies
	} {
		if got := q.Matches(tt.o); got != tt.want {
			t.Errorf("Matches(%s) = %v, want %v", tt.o.GetName(), got, tt.want)
		}
	}
	// The groups are part of the fingerprint: a continue token does not carry over.
	other, err := Compile(Spec{GVK: widgetGVK, NameContains: "web", AnyOf: []Group{{Labels: sel}}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Fingerprint() == other.Fingerprint() {
		t.Fatal("queries with different groups share a fingerprint")
	}
}

func TestValueFrom(t *testing.T) {
	doc := map[string]any{
		"spec":   map[string]any{"replicas": int64(3), "ratio": 2.5, "name": "web", "on": true, "nil": nil, "obj": map[string]any{}},
		"status": map[string]any{"readyReplicas": int64(2), "ratio": 2.5, "name": "web", "count": "3", "on": true},
	}
	u := &unstructured.Unstructured{Object: doc}
	u.SetGroupVersionKind(widgetGVK)
	for _, tt := range []struct {
		path string
		op   Operator
		from string
		want bool
	}{
		{"status.readyReplicas", OpLessThan, "spec.replicas", true},
		{"status.readyReplicas", OpGreaterThanOrEqual, "spec.replicas", false},
		{"status.ratio", OpEquals, "spec.ratio", true},
		{"status.name", OpEquals, "spec.name", true},
		{"status.on", OpEquals, "spec.on", true},
		{"status.on", OpGreaterThanOrEqual, "spec.on", false}, // booleans do not order
		{"status.count", OpEquals, "spec.replicas", false},    // a string never equals a number
		{"status.count", OpNotEquals, "spec.replicas", true},
		{"status.name", OpEquals, "spec.missing", false},
		{"status.name", OpNotEquals, "spec.missing", true},
		{"status.missing", OpNotEquals, "spec.name", true},
		{"spec.nil", OpEquals, "spec.nil", false},
		{"spec.obj", OpEquals, "spec.obj", false},
	} {
		q, err := Compile(Spec{GVK: widgetGVK, Fields: []FieldPredicate{{Path: tt.path, Operator: tt.op, ValueFrom: tt.from}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Matches(u); got != tt.want {
			t.Errorf("%s %s valueFrom %s = %v, want %v", tt.path, tt.op, tt.from, got, tt.want)
		}
	}
	for _, tt := range []struct {
		f     FieldPredicate
		field string
	}{
		{FieldPredicate{Path: "a", Operator: OpIn, ValueFrom: "b"}, "fields[0].valueFrom"},
		{FieldPredicate{Path: "a", Operator: OpEquals, Values: []string{"1"}, ValueFrom: "b"}, "fields[0].values"},
		{FieldPredicate{Path: "a", Operator: OpEquals, ValueFrom: "b[*]"}, "fields[0].valueFrom.path"},
		{FieldPredicate{Path: "a", Operator: OpEquals, ValueFrom: "b.%"}, "fields[0].valueFrom.path"},
	} {
		_, err := Compile(Spec{GVK: widgetGVK, Fields: []FieldPredicate{tt.f}})
		var qe *Error
		if !errors.As(err, &qe) || qe.Field != tt.field {
			t.Errorf("%+v: error %v, want one at %s", tt.f, err, tt.field)
		}
	}
}
