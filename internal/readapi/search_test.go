package readapi

import (
	"errors"
	"strings"
	"testing"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/query"
)

// TestCompileSpecIsLocalOnly checks that a Search reads the local cluster only: naming a member,
// or asking for stale objects only, is a bad request that says why.
func TestCompileSpecIsLocalOnly(t *testing.T) {
	target := searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"}
	for _, c := range []struct {
		name    string
		spec    searchv1alpha1.QuerySpec
		wantErr string
	}{
		{"every cluster", searchv1alpha1.QuerySpec{Target: target}, ""},
		{"local", searchv1alpha1.QuerySpec{Target: target, Clusters: []string{"local"}}, ""},
		{"a member", searchv1alpha1.QuerySpec{Target: target, Clusters: []string{"local", "prod-eu"}},
			"clusters[1]: the read API answers from the local cluster only"},
		{"stale included", searchv1alpha1.QuerySpec{Target: target, Stale: searchv1alpha1.StaleInclude}, ""},
		{"stale excluded", searchv1alpha1.QuerySpec{Target: target, Stale: searchv1alpha1.StaleExclude}, ""},
		{"stale only", searchv1alpha1.QuerySpec{Target: target, Stale: searchv1alpha1.StaleOnly},
			"stale: the read API answers from the local cluster only, whose objects are never stale"},
		{"stale unknown", searchv1alpha1.QuerySpec{Target: target, Stale: "Sometimes"},
			`stale: "Sometimes" is not one of Include, Exclude, Only`},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, err := compileSpec(&c.spec, nil)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("compileSpec: %v", err)
				}
				if q == nil {
					t.Fatal("compileSpec returned no query")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("compileSpec: got error %v, want one containing %q", err, c.wantErr)
			}
			if !errors.Is(err, query.ErrInvalidQuery) {
				t.Errorf("compileSpec: %v is not an invalid query (a bad request)", err)
			}
		})
	}
}
