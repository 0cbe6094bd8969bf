package index

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/sample"
)

// BenchmarkClusters runs make bench's selective queries (a first page and its total) over
// the same sample Templates held by one cluster and spread round robin over three, each
// cluster written with its own ReplaceIn as its mirror's initial list is. Both stores are
// built first and each query runs over one and then the other, so that the two figures of a
// query are measured next to each other in time. CLUSTER_BENCH_N sets the number of objects
// (30,000 by default).
func BenchmarkClusters(b *testing.B) {
	n := 30000
	if v := os.Getenv("CLUSTER_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 3 {
			b.Fatalf("CLUSTER_BENCH_N=%q is not an object count of at least 3", v)
		}
	}
	cases := []struct {
		name string
		spec query.Spec
	}{
		{"label", query.Spec{Labels: mustParse("shard=s7")}},
		{"label-conjunction", query.Spec{Labels: mustParse("tier=backend,env=prod,shard=s7")}},
		{"field-indexed", query.Spec{Fields: []query.FieldPredicate{
			{Path: "spec.replicas", Operator: query.OpGreaterThanOrEqual, Values: []string{"12"}},
			{Path: "status.conditions[type=Ready].status", Operator: query.OpEquals, Values: []string{"False"}},
		}}},
		{"field-unindexed", query.Spec{Fields: []query.FieldPredicate{
			{Path: "spec.image", Operator: query.OpStartsWith, Values: []string{"registry.example.com/payments/redis:"}},
		}}},
		{"name-substring", query.Spec{NameContains: "ledger-12"}},
		{"sorted-page-1", sortedPageSpec},
	}
	clusters := []int{1, 3}
	stores := map[int]*Store{}
	defer func() {
		for _, s := range stores {
			_ = s.Close()
		}
	}()
	for _, c := range cases {
		c.spec.GVK = sample.TemplateGVK
		c.spec.Limit = cmp.Or(c.spec.Limit, 50)
		q, err := query.Compile(c.spec)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range clusters {
			b.Run(fmt.Sprintf("n=%d/%s/clusters=%d", n, c.name, k), func(b *testing.B) {
				if stores[k] == nil {
					for _, k := range clusters {
						stores[k] = clusterSampleStore(b, n, k)
					}
				}
				s := stores[k]
				var p Page
				for b.Loop() {
					if p, err = s.Search(context.Background(), q, ""); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(p.Total), "matches")
			})
		}
	}
}

// clusterSampleStore returns a store holding n sample Templates, object i in cluster i mod k
// ("" for cluster 0, member-<c> for the others), one ReplaceIn per cluster.
func clusterSampleStore(b *testing.B, n, k int) *Store {
	s := openSampleStore(b)
	lists := make([][]*unstructured.Unstructured, k)
	for i, o := range benchTemplates(n) {
		lists[i%k] = append(lists[i%k], o)
	}
	for c, list := range lists {
		name := ""
		if c > 0 {
			name = fmt.Sprintf("member-%d", c)
		}
		if err := s.ReplaceIn(sample.TemplateGVK, name, list); err != nil {
			b.Fatal(err)
		}
	}
	return s
}
