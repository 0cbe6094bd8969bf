package readapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	restclient "k8s.io/client-go/rest"

	"github.com/kubesift/kubesift/internal/query"
)

// BenchmarkList reads a page of 50 of the 500 ConfigMaps labelled env=prod among 1,000 of
// about 2 KB, three ways: the index's search in process; the read API server's list, called
// straight with the caller's client certificate (the hop from the aggregator to the manager,
// without the API server in front); and the same list decoded by the client as client-go does.
// The difference between the first two is what the server adds to a search: authentication,
// the cached access check, reading the page's documents and writing the response.
func BenchmarkList(b *testing.B) {
	pad := strings.Repeat("x", 1800)
	var objs []*unstructured.Unstructured
	for i := range 1000 {
		u := configMap(i, []string{"prod", "dev"}[i%2])
		u.Object["data"] = map[string]any{"payload": pad}
		objs = append(objs, u)
	}
	s, store := startServerWith(b, Options{}, nil, objs)
	path := resourcesPath + "/api/v1/namespaces/" + testNS + "/configmaps?labelSelector=env%3Dprod&limit=50"

	cfg := testUser["reader"].RESTConfig()
	cfg.CAData, cfg.CAFile = s.ca, ""
	cfg.ServerName = "kubesift-read-api.kubesift-system.svc"
	hc, err := restclient.HTTPClientFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// get fails tb, the benchmark running it: FailNow must be called from that benchmark.
	get := func(tb testing.TB) []byte {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, s.url+path, nil)
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("%s: %v %s", resp.Status, err, body)
		}
		return body
	}

	b.Run("search-in-process", func(b *testing.B) {
		q, err := query.Compile(query.Spec{GVK: cmGVK, Namespaces: []string{testNS},
			Labels: labels.SelectorFromSet(labels.Set{"env": "prod"}), Limit: 50, Clusters: localOnly})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			p, err := store.SearchDocuments(context.Background(), q, "")
			if err != nil || len(p.Documents) != 50 {
				b.Fatalf("%d documents, %v", len(p.Documents), err)
			}
		}
	})
	b.Run("list-from-server", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = len(get(b))
		}
		b.ReportMetric(float64(n), "response-bytes")
	})
	b.Run("list-from-server-decoded", func(b *testing.B) {
		for b.Loop() {
			list := &unstructured.UnstructuredList{}
			if err := list.UnmarshalJSON(get(b)); err != nil || len(list.Items) != 50 {
				b.Fatalf("%d items, %v", len(list.Items), err)
			}
		}
	})
}
