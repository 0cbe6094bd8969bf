package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubesift/kubesift/internal/query"
)

var (
	widgetGVK = schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Widget"}
	secretGVK = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
)

func newStore(t testing.TB, fields ...string) *Store {
	t.Helper()
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true, Fields: fields}); err != nil {
		t.Fatal(err)
	}
	return s
}

// obj builds a Widget from its content; metadata.name and namespace are set from ns/name.
func obj(ns, name string, content map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range content {
		u.Object[k] = v
	}
	u.SetGroupVersionKind(widgetGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	if u.GetUID() == "" {
		u.SetUID(typesUID(fmt.Sprintf("uid-%s-%s", ns, name)))
	}
	return u
}

// searchAll walks every page and returns the names in order.
func searchAll(t testing.TB, s *Store, q *query.Query) ([]Ref, int64) {
	t.Helper()
	var out []Ref
	token := ""
	var total int64 = -1
	for range 100000 {
		p, err := s.Search(context.Background(), q, token)
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		if total == -1 {
			total = p.Total
		}
		out = append(out, p.Items...)
		if int64(len(out))+p.Remaining != p.Total {
			t.Fatalf("remaining %d + seen %d != total %d", p.Remaining, len(out), p.Total)
		}
		if p.Continue == "" {
			return out, total
		}
		token = p.Continue
	}
	t.Fatal("too many pages")
	return nil, 0
}

// realisticObject builds a ~2 KB object shaped like a Deployment.
func realisticObject(r *rand.Rand, i int) *unstructured.Unstructured {
	ns := fmt.Sprintf("team-%03d", i%100)
	name := fmt.Sprintf("web-%s-%06d", []string{"api", "frontend", "worker", "batch"}[i%4], i)
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	containers := []any{}
	for c := range 2 {
		containers = append(containers, map[string]any{
			"name":  fmt.Sprintf("c%d", c),
			"image": fmt.Sprintf("registry.example.com/team-%03d/app-%d:v%d.%d", i%100, c, r.IntN(20), i%1000),
			"ports": []any{map[string]any{"containerPort": int64(8080 + c), "protocol": "TCP"}},
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
				"limits":   map[string]any{"cpu": "500m", "memory": "512Mi"},
			},
			"env": []any{
				map[string]any{"name": "LOG_LEVEL", "value": "info"},
				map[string]any{"name": "REGION", "value": fmt.Sprintf("region-%d", i%7)},
			},
		})
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"replicas": int64(i % 10),
			"paused":   i%13 == 0,
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec":     map[string]any{"containers": containers, "serviceAccountName": "default"},
			},
			"image":  fmt.Sprintf("img-%d", i%5000),
			"region": fmt.Sprintf("region-%d", i%7),
		},
		"status": map[string]any{
			"replicas":      int64(i % 10),
			"readyReplicas": int64(i % 9),
			"conditions": []any{
				map[string]any{"type": "Available", "status": []string{"True", "False"}[i%2], "reason": "MinimumReplicasAvailable", "lastTransitionTime": created.Format(time.RFC3339)},
				map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "lastTransitionTime": created.Format(time.RFC3339)},
			},
		},
	}}
	u.SetGroupVersionKind(widgetGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(typesUID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)))
	u.SetResourceVersion(fmt.Sprint(1000 + i))
	u.SetCreationTimestamp(metaTime(created))
	u.SetLabels(map[string]string{
		"app":                         name,
		"tier":                        []string{"frontend", "backend", "cache"}[i%3],
		"shard":                       fmt.Sprint(i % 1000),
		"app.kubernetes.io/name":      "web",
		"app.kubernetes.io/part-of":   fmt.Sprintf("system-%d", i%20),
		"app.kubernetes.io/version":   fmt.Sprintf("v%d", i%50),
		"example.com/owner-team-name": fmt.Sprintf("team-%03d", i%100),
	})
	u.SetAnnotations(map[string]string{
		"deployment.kubernetes.io/revision": fmt.Sprint(i % 5),
		"example.com/description":           "A realistic description of this workload, long enough to matter.",
	})
	return u
}

func mustSelector(t testing.TB, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// sortedUnique returns the distinct strings of in, sorted.
func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

func containsSorted(list []string, s string) bool {
	_, ok := slices.BinarySearch(list, s)
	return ok
}

// upsert stores one object in its own transaction.
func upsert(s *Store, o *unstructured.Unstructured) error {
	return s.Apply([]Change{{Object: o}}, nil)
}

// remove deletes one object in its own transaction.
func remove(s *Store, o *unstructured.Unstructured) error {
	return s.Apply([]Change{{Object: o, Deleted: true}}, nil)
}

// recorder is an Observer that keeps what it observes.
type recorder struct {
	old     bool
	written []Written
}

func (r *recorder) WantsOld(schema.GroupVersionKind) bool { return r.old }
func (r *recorder) Observe(w Written)                     { r.written = append(r.written, w) }
