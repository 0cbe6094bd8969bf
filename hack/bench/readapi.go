package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/sample"
)

const (
	// readAPINamespace holds the read API's Service and its generated certificate.
	readAPINamespace = "kubesift-system"
	readAPIService   = "v1alpha1.query.kubesift.io"
	// readAPIPrefix is where the read API serves the mirrored kinds the Kubernetes way.
	readAPIPrefix = "/apis/query.kubesift.io/v1alpha1/resources"
)

// readAPIOps are the field selector operators of the read API, by query operator.
var readAPIOps = map[query.Operator]string{
	query.OpEquals: "=", query.OpNotEquals: "!=", query.OpGreaterThan: ">", query.OpGreaterThanOrEqual: ">=",
	query.OpLessThan: "<", query.OpLessThanOrEqual: "<=", query.OpStartsWith: "^=", query.OpContains: "~=",
}

// registerReadAPI makes the API server route query.kubesift.io to a manager on this machine: an
// ExternalName Service for localhost and the APIService, both naming a free port, which it
// returns as the address the manager is to serve the read API on. The manager writes the
// APIService's caBundle when it starts.
func registerReadAPI(ctx context.Context, c *cluster) (string, error) {
	ports, err := freePorts(1)
	if err != nil {
		return "", err
	}
	port := strconv.Itoa(ports[0])
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: readAPINamespace}}
	if err := c.kube.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating the namespace %s: %w", readAPINamespace, err)
	}
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "kubesift-read-api", "namespace": readAPINamespace},
		"spec": map[string]any{"type": "ExternalName", "externalName": "localhost",
			"ports": []any{map[string]any{"port": int64(ports[0])}}},
	}}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": readAPIService},
		"spec": map[string]any{"group": "query.kubesift.io", "version": "v1alpha1",
			"groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
			"service": map[string]any{"name": "kubesift-read-api", "namespace": readAPINamespace, "port": int64(ports[0])}},
	}}
	for _, obj := range []*unstructured.Unstructured{svc, apiService} {
		if err := createOrReplace(ctx, c, obj); err != nil {
			return "", fmt.Errorf("writing the read API's %s: %w", obj.GetKind(), err)
		}
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// createOrReplace creates obj, or replaces the object of its name (a run at a larger N registers
// another port).
func createOrReplace(ctx context.Context, c *cluster, obj *unstructured.Unstructured) error {
	old := &unstructured.Unstructured{}
	old.SetGroupVersionKind(obj.GroupVersionKind())
	err := c.kube.Get(ctx, client.ObjectKeyFromObject(obj), old)
	if apierrors.IsNotFound(err) {
		return c.kube.Create(ctx, obj)
	}
	if err != nil {
		return err
	}
	obj.SetResourceVersion(old.GetResourceVersion())
	return c.kube.Update(ctx, obj)
}

// waitReadAPI waits until the API server reports the read API available.
func waitReadAPI(ctx context.Context, c *cluster) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion("apiregistration.k8s.io/v1")
		obj.SetKind("APIService")
		err := c.kube.Get(ctx, client.ObjectKey{Name: readAPIService}, obj)
		if err == nil && condition(obj, "Available") == "True" {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("the APIService %s is not Available after two minutes: %w", readAPIService, err)
			}
			return fmt.Errorf("the APIService %s is not Available after two minutes", readAPIService)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func condition(obj *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// errNotAList means that a list's parameters cannot ask what a query asks: alternatives
// (anyOf), field-to-field comparisons, owner chains and facets exist only in a Search.
var errNotAList = errors.New("not expressible as list parameters")

// readAPIParams are the list parameters that ask the read API what spec asks the index.
func readAPIParams(spec query.Spec) (url.Values, error) {
	if len(spec.AnyOf) > 0 || spec.Owner != nil || len(spec.Facets) > 0 ||
		slices.ContainsFunc(spec.Fields, func(f query.FieldPredicate) bool { return f.ValueFrom != "" }) {
		return nil, errNotAList
	}
	v := url.Values{}
	if spec.Labels != nil && !spec.Labels.Empty() {
		v.Set("labelSelector", spec.Labels.String())
	}
	var clauses []string
	for _, f := range spec.Fields {
		op, ok := readAPIOps[f.Operator]
		if !ok || len(f.Values) != 1 {
			return nil, fmt.Errorf("no field selector for %s %s %v", f.Path, f.Operator, f.Values)
		}
		clauses = append(clauses, f.Path+op+f.Values[0])
	}
	if len(clauses) > 0 {
		v.Set("fieldSelector", strings.Join(clauses, ","))
	}
	var keys []string
	for _, k := range spec.Sort {
		if k.Descending {
			keys = append(keys, "-"+k.Path)
		} else {
			keys = append(keys, k.Path)
		}
	}
	if len(keys) > 0 {
		v.Set("sort", strings.Join(keys, ","))
	}
	if spec.NameContains != "" {
		v.Set("nameContains", spec.NameContains)
	}
	v.Set("limit", strconv.Itoa(spec.Limit))
	return v, nil
}

// measureReadAPI asks every query of results again through the API server's aggregated endpoint,
// as a client-go client would: a list of the mirrored kind under the read API's prefix, whose
// response carries the page's full objects, decoded like the API server LIST's. The answers must
// be kubesift's in-process answers, since the manager's index mirrors the same objects.
func measureReadAPI(ctx context.Context, c *cluster, o options, results []QueryResult) error {
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(c.cfg))
	if err != nil {
		return err
	}
	rc := cs.CoreV1().RESTClient()
	path := readAPIPrefix + "/apis/" + sample.TemplateGVK.Group + "/" + sample.TemplateGVK.Version + "/templates"
	specs := map[string]query.Spec{}
	for _, q := range benchQueries(nil) {
		specs[q.name] = q.spec
	}
	for i := range results {
		r := &results[i]
		spec, ok := specs[r.Name]
		if !ok { // the owner chain query: a list has no parameter for it
			continue
		}
		params, err := readAPIParams(spec)
		if errors.Is(err, errNotAList) {
			continue
		}
		if err != nil {
			return fmt.Errorf("query %s: %w", r.Name, err)
		}
		list := func(ctx context.Context, token string) (*unstructured.UnstructuredList, error) {
			req := rc.Get().AbsPath(path)
			for k, vs := range params {
				req = req.Param(k, vs[0])
			}
			if token != "" {
				req = req.Param("continue", token)
			}
			body, err := req.DoRaw(ctx)
			if err != nil {
				return nil, err
			}
			out := &unstructured.UnstructuredList{}
			if err := out.UnmarshalJSON(body); err != nil {
				return nil, fmt.Errorf("decoding the list: %w", err)
			}
			return out, nil
		}
		// Walk to the page measured, untimed, as the in-process measurement did.
		token := ""
		for page := 1; page < r.Page; page++ {
			l, err := list(ctx, token)
			if err != nil {
				return fmt.Errorf("query %s through the read API: walking to page %d: %w", r.Name, r.Page, err)
			}
			if token = l.GetContinue(); token == "" {
				return fmt.Errorf("query %s through the read API: page %d has no continue token", r.Name, page)
			}
		}
		readAPI := func(ctx context.Context) (answer, error) {
			l, err := list(ctx, token)
			if err != nil {
				return answer{}, err
			}
			a := answer{total: int64((r.Page-1)*r.Limit + len(l.Items)), names: make([]string, 0, len(l.Items))}
			if n := l.GetRemainingItemCount(); n != nil {
				a.total += *n
			}
			for _, u := range l.Items {
				a.names = append(a.names, u.GetNamespace()+"/"+u.GetName())
			}
			return a, nil
		}
		lat, got, err := measure(ctx, o.queryBudget, 300, readAPI)
		if err != nil {
			return fmt.Errorf("query %s through the read API: %w", r.Name, err)
		}
		if err := compareAnswers(r.Name, "the read API", r.want, got); err != nil {
			return err
		}
		r.ReadAPI = &lat
		r.ReadAPIRequest = "GET " + path + "?" + params.Encode()
		logf("  %-17s read API %9.3f ms  API LIST %9.3f ms (%6.0fx)  [medians]", r.Name, lat.Median, r.API.Median,
			r.API.Median/lat.Median)
	}
	return nil
}
