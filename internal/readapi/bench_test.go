package readapi

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
	"github.com/kubesift/kubesift/internal/query"
)

// BenchmarkList reads a page of 50 of the ConfigMaps labelled env=prod, half of 1,000 of about
// 2 KB (READ_BENCH_N sets the number), four ways: the index's search in process; the read API
// server's list, called straight with the caller's client certificate (the hop from the
// aggregator to the manager, without the API server in front); the same list through the API
// server's aggregation layer, as kubectl and client-go send it; and the straight list decoded by
// the client as client-go does. The difference between the first two is what the server adds to
// a search (authentication, the cached access check, reading the page's documents and writing
// the response), the third adds the aggregation layer's hop, and the fourth the client's decoding.
func BenchmarkList(b *testing.B) {
	pad := strings.Repeat("x", 1800)
	n := 1000
	if v := os.Getenv("READ_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("READ_BENCH_N=%q is not an object count of at least 100", v)
		}
	}
	var objs []*unstructured.Unstructured
	for i := range n {
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
	b.Run("list-through-aggregator", func(b *testing.B) {
		registerAPIService(b, s)
		cfg := testUser["reader"].RESTConfig()
		cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: that would be what is measured
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		rc := cs.CoreV1().RESTClient()
		path, query, _ := strings.Cut(path, "?")
		params, err := url.ParseQuery(query)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			req := rc.Get().AbsPath(path)
			for k := range params {
				req = req.Param(k, params.Get(k))
			}
			if _, err := req.DoRaw(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
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

// registerAPIService routes the read API's group to s through the API server's aggregation
// layer, as config/ does in a cluster: an ExternalName Service for localhost on s's port, the
// APIService with s's CA, and the ClusterRole of config/rbac/read_api_user_role.yaml bound to
// "reader". It returns once the API server reports the APIService Available.
func registerAPIService(b *testing.B, s server) {
	ctx := context.Background()
	cfg := cp.RESTConfig()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(s.url)
	if err != nil {
		b.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		b.Fatal(err)
	}
	const ns, name = "kubesift-system", "kubesift-read-api"
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	_ = cs.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
		Ports: []corev1.ServicePort{{Port: int32(port)}},
	}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "read-api-user"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{queryv1alpha1.GroupName}, Resources: []string{"*"}, Verbs: []string{"get", "list", "create"},
	}}}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-api-user"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "reader"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	apiServices := dyn.Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"})
	const apiService = "v1alpha1." + queryv1alpha1.GroupName
	_ = apiServices.Delete(ctx, apiService, metav1.DeleteOptions{})
	_, err = apiServices.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": apiService},
		"spec": map[string]any{"group": queryv1alpha1.GroupName, "version": "v1alpha1",
			"caBundle": base64.StdEncoding.EncodeToString(s.ca), "groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
			"service": map[string]any{"name": name, "namespace": ns, "port": int64(port)}},
	}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = apiServices.Delete(context.Background(), apiService, metav1.DeleteOptions{}) })
	deadline := time.Now().Add(time.Minute)
	for {
		obj, err := apiServices.Get(ctx, apiService, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Available" && m["status"] == "True" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the APIService %s is not Available after a minute: %v", apiService, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
