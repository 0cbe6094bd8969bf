package readapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/readapi/fieldselector"
)

// FuzzListParams feeds arbitrary query parameters through the parser and the compiler: they must
// return an error or a query, never panic, and a parsed clause must point inside the selector.
func FuzzListParams(f *testing.F) {
	for _, s := range []string{"spec.replicas>3", "status.conditions[type=Ready].status=True,!spec.x",
		"a in (b,c)", `x~=\,`, "metadata.annotations['a,b']=c", "[", "'", "a.b notin ()"} {
		f.Add(s, "tier=frontend", "-metadata.creationTimestamp", "10")
	}
	f.Fuzz(func(t *testing.T, fieldSelector, labelSelector, sort, limit string) {
		clauses, err := fieldselector.Parse(fieldSelector)
		if err == nil {
			for _, c := range clauses {
				if c.Pos < 0 || c.Pos > len(fieldSelector) {
					t.Fatalf("clause position %d outside %q", c.Pos, fieldSelector)
				}
			}
		}
		params := map[string][]string{
			"fieldSelector": {fieldSelector}, "labelSelector": {labelSelector}, "sort": {sort}, "limit": {limit},
		}
		spec, _, err := listSpec(params)
		if err != nil {
			return
		}
		spec.GVK.Version, spec.GVK.Kind = "v1", "ConfigMap"
		if _, err := query.Compile(spec); err != nil {
			_ = listParamMessage(err, fieldSelector)
		}
	})
}

func TestListParamErrorsNameTheParameterAndPosition(t *testing.T) {
	tests := []struct {
		params map[string][]string
		want   string
	}{
		{map[string][]string{"fieldSelector": {"spec.replicas>1,spec..x=2"}}, "fieldSelector: position 16: invalid character"},
		{map[string][]string{"fieldSelector": {"spec.x in 3"}}, "fieldSelector: position 10: expected '('"},
		{map[string][]string{"labelSelector": {"tier in (a"}}, "labelSelector: "},
		{map[string][]string{"limit": {"-1"}}, `limit: "-1" is not a non-negative integer`},
		{map[string][]string{"sort": {"spec.containers[*].image"}}, "sort: sort path"},
	}
	for _, tt := range tests {
		spec, _, err := listSpec(tt.params)
		if err == nil {
			spec.GVK.Version, spec.GVK.Kind = "v1", "ConfigMap"
			if _, cerr := query.Compile(spec); cerr != nil {
				err = errors.New(listParamMessage(cerr, url.Values(tt.params).Get("fieldSelector")))
			}
		}
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want a message starting with %q", tt.params, err, tt.want)
		}
	}
}
