package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// demoQueries are the questions the demo asks in the first namespace, one per kind of filter.
var demoQueries = []struct{ name, what, yaml string }{
	{"frontends", "label selector, sorted by replicas", `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata: {name: frontends, namespace: %[1]s}
spec:
  target: {apiVersion: apps.example.com/v1alpha1, kind: Template}
  labelSelector:
    matchLabels: {tier: frontend}
    matchExpressions:
    - {key: env, operator: In, values: [prod, staging]}
  sort:
  - {path: spec.replicas, order: Descending}
  - {path: metadata.name}
  limit: 10
`},
	{"big-templates", "field comparison on an indexed field", `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata: {name: big-templates, namespace: %[1]s}
spec:
  target: {apiVersion: apps.example.com/v1alpha1, kind: Template}
  fields:
  - {path: spec.replicas, operator: GreaterThanOrEqual, values: ["11"]}
  - {path: spec.team, operator: In, values: [payments, checkout]}
  limit: 10
`},
	{"gateways", "case-insensitive name substring", `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata: {name: gateways, namespace: %[1]s}
spec:
  target: {apiVersion: apps.example.com/v1alpha1, kind: Template}
  nameContains: GATEWAY
  limit: 10
`},
	{"not-ready", "keyed list element: the Ready condition", `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata: {name: not-ready, namespace: %[1]s}
spec:
  target: {apiVersion: apps.example.com/v1alpha1, kind: Template}
  fields:
  - {path: "status.conditions[type=Ready].status", operator: Equals, values: ["False"]}
  - {path: "spec.containers[*].image", operator: Contains, values: ["/nginx:"]}
  limit: 10
`},
}

// queries applies the demo's queries and the query samples, waits for them, and prints results.
func (d *demo) queries(ctx context.Context, _ *managerProcess) error {
	title("5. Queries: SearchQuery and ClusterSearchQuery")
	ns := d.queryNamespace()
	for _, q := range demoQueries {
		fmt.Printf("Applying SearchQuery %s/%s (%s)\n", ns, q.name, q.what)
		if err := d.apply(ctx, fmt.Sprintf(q.yaml, ns)); err != nil {
			return err
		}
	}
	samples, err := filepath.Glob(filepath.Join(d.root, "config/samples/search_v1alpha1_*searchquery_*.yaml"))
	if err != nil {
		return err
	}
	for _, path := range samples {
		rel, _ := filepath.Rel(d.root, path)
		namespace := ""
		if !strings.Contains(filepath.Base(path), "clustersearchquery") {
			namespace = ns
		}
		if err := d.applyFile(ctx, namespace, rel); err != nil {
			return err
		}
	}
	began := time.Now()
	for _, q := range demoQueries {
		obj, err := d.waitQuery(ctx, sqGVR, ns, q.name)
		if err != nil {
			return err
		}
		fmt.Println()
		if err := d.printResults(ctx, obj, 5); err != nil {
			return err
		}
	}
	if err := d.waitAllReady(ctx); err != nil {
		return err
	}
	fmt.Printf("\nEvery query is Ready (%s after applying).\n", time.Since(began).Round(100*time.Millisecond))
	if err := d.cluster.show(ctx, "get", "searchqueries", "-n", ns, "-o", "wide"); err != nil {
		return err
	}
	return d.cluster.show(ctx, "get", "clustersearchqueries", "-o", "wide")
}

// waitAllReady waits for every SearchQuery and ClusterSearchQuery to be Ready.
func (d *demo) waitAllReady(ctx context.Context) error {
	for _, gvr := range []schema.GroupVersionResource{sqGVR, csqGVR} {
		list, err := d.cluster.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, q := range list.Items {
			if _, err := d.waitQuery(ctx, gvr, q.GetNamespace(), q.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}

const pagedQuery = `
apiVersion: search.kubesift.io/v1alpha1
kind: ClusterSearchQuery
metadata: {name: %s}
spec:
  target: {apiVersion: apps.example.com/v1alpha1, kind: Template}
  labelSelector:
    matchLabels: {app.kubernetes.io/part-of: payments}
  sort:
  - {path: metadata.creationTimestamp, order: Descending}
  limit: 5
  continue: %q
`

// pages shows keyset pagination: a second query continues where the first page ended.
func (d *demo) pages(ctx context.Context) error {
	title("6. Pagination: newest payments Templates across namespaces, two pages")
	if err := d.apply(ctx, fmt.Sprintf(pagedQuery, "newest-payments", "")); err != nil {
		return err
	}
	first, err := d.waitQuery(ctx, csqGVR, "", "newest-payments")
	if err != nil {
		return err
	}
	if err := d.printResults(ctx, first, 5); err != nil {
		return err
	}
	token, _, _ := unstructured.NestedString(first.Object, "status", "continue")
	if token == "" {
		return fmt.Errorf("the first page of newest-payments has no continue token")
	}
	fmt.Printf("\nPage 2 is another ClusterSearchQuery with spec.continue copied from status.continue of page 1:\n")
	if err := d.apply(ctx, fmt.Sprintf(pagedQuery, "newest-payments-page-2", token)); err != nil {
		return err
	}
	second, err := d.waitQuery(ctx, csqGVR, "", "newest-payments-page-2")
	if err != nil {
		return err
	}
	if err := d.printResults(ctx, second, 5); err != nil {
		return err
	}
	return d.cluster.show(ctx, "get", "csq", "newest-payments", "newest-payments-page-2", "-o", "wide")
}

// liveness changes an object so that it enters a query's results and shows the status follow.
func (d *demo) liveness(ctx context.Context) error {
	title("7. Live results: a change in the cluster shows up in the query's status")
	ns := d.queryNamespace()
	q, err := d.waitQuery(ctx, sqGVR, ns, "frontends")
	if err != nil {
		return err
	}
	before, _, _ := unstructured.NestedInt64(q.Object, "status", "total")
	list, err := d.cluster.dyn.Resource(templatesGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "tier!=frontend,env=prod"})
	if err != nil {
		return err
	}
	if len(list.Items) == 0 {
		return errNoCandidate
	}
	target := list.Items[0]
	fmt.Printf("frontends has %d matches. Relabelling %s/%s with tier=frontend ...\n", before, ns, target.GetName())
	fmt.Printf("$ kubectl label templates %s -n %s tier=frontend --overwrite\n", target.GetName(), ns)
	changed := time.Now()
	if err := d.patchLabel(ctx, ns, target.GetName(), "tier", "frontend"); err != nil {
		return err
	}
	var after int64
	err = poll(ctx, 30*time.Second, func() (bool, error) {
		obj, err := d.cluster.dyn.Resource(sqGVR).Namespace(ns).Get(ctx, "frontends", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		after, _, _ = unstructured.NestedInt64(obj.Object, "status", "total")
		return after == before+1, nil
	})
	if err != nil {
		return fmt.Errorf("the status of frontends did not follow the change (total %d): %w", after, err)
	}
	fmt.Printf("frontends now has %d matches: its status followed the change in %s, with no polling of the API server.\n",
		after, time.Since(changed).Round(10*time.Millisecond))
	return d.cluster.show(ctx, "get", "sq", "frontends", "-n", ns)
}
