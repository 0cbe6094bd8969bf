package searchquery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// TestInvalidQueries covers the mistakes that admission cannot see: each ends in Ready=False
// InvalidQuery and Stalled=True with a message that names the field, and no results.
func TestInvalidQueries(t *testing.T) {
	ns := newNamespace(t)
	create(t, widget(ns, "numeric", nil, 4, "nginx", "True"))

	// A genuine token, issued for another query.
	paged := newSearchQuery(t, ns, "paged", searchv1alpha1.QuerySpec{Target: widgetTarget, Limit: 1})
	create(t, widget(ns, "second", nil, 5, "nginx", "True"))
	st := eventuallyStatus(t, paged, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(st.Continue).NotTo(BeEmpty())
	})
	foreignToken := st.Continue

	cases := []struct {
		name    string
		spec    searchv1alpha1.QuerySpec
		message string
	}{
		{
			name: "bad-path",
			spec: searchv1alpha1.QuerySpec{Fields: []searchv1alpha1.FieldPredicate{
				{Path: "spec.image", Operator: searchv1alpha1.FieldOpExists},
				{Path: "spec..replicas", Operator: searchv1alpha1.FieldOpEquals, Values: []string{"1"}},
			}},
			message: "spec.fields[1].path: ",
		},
		{
			name: "bad-path-in-group",
			spec: searchv1alpha1.QuerySpec{AnyOf: []searchv1alpha1.FilterGroup{
				{NameContains: "a"},
				{LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn}}}},
			}},
			message: "spec.anyOf[1].labelSelector: ",
		},
		{
			name: "bad-value-from-path",
			spec: searchv1alpha1.QuerySpec{Fields: []searchv1alpha1.FieldPredicate{
				{Path: "status.readyReplicas", Operator: searchv1alpha1.FieldOpLessThan, ValueFrom: &searchv1alpha1.ValueSource{Path: "spec.containers[*].replicas"}},
			}},
			message: "spec.fields[0].valueFrom.path: ",
		},
		{
			name:    "bad-facet-path",
			spec:    searchv1alpha1.QuerySpec{Facets: []searchv1alpha1.Facet{{Path: "metadata.labels[env"}}},
			message: "spec.facets[0].path: ",
		},
		{
			name:    "bad-sort-path",
			spec:    searchv1alpha1.QuerySpec{Sort: []searchv1alpha1.SortKey{{Path: "spec.containers[*].image"}}},
			message: "spec.sort[0].path: ",
		},
		{
			name: "non-numeric-comparison",
			spec: searchv1alpha1.QuerySpec{Fields: []searchv1alpha1.FieldPredicate{
				{Path: "spec.replicas", Operator: searchv1alpha1.FieldOpGreaterThan, Values: []string{"three"}},
			}},
			message: `spec.fields[0].values[0]: GreaterThan needs a number`,
		},
		{
			name:    "foreign-continue",
			spec:    searchv1alpha1.QuerySpec{Limit: 2, Continue: foreignToken},
			message: "spec.continue: token was issued for a different query",
		},
		{
			name:    "garbage-continue",
			spec:    searchv1alpha1.QuerySpec{Continue: "not a token!"},
			message: "spec.continue: ",
		},
		{
			name: "bad-label-selector",
			spec: searchv1alpha1.QuerySpec{LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "team", Operator: metav1.LabelSelectorOpIn},
			}}},
			message: "spec.labelSelector: ",
		},
		{
			name: "cluster-scoped-target",
			spec: searchv1alpha1.QuerySpec{Target: searchv1alpha1.TargetRef{APIVersion: "test.kubesift.io/v1", Kind: "Gadget"}},
			message: "spec.target: Gadget.v1.test.kubesift.io is cluster-scoped but a SearchQuery searches only its own namespace; " +
				"use a ClusterSearchQuery to search Gadget",
		},
	}
	queries := make([]*searchv1alpha1.SearchQuery, len(cases))
	for i, tc := range cases {
		if tc.spec.Target.Kind == "" {
			tc.spec.Target = widgetTarget
		}
		queries[i] = newSearchQuery(t, ns, tc.name, tc.spec)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sq := queries[i]
			st := eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonInvalidQuery))
			g := NewWithT(t)
			ready := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady)
			g.Expect(ready.Message).To(HavePrefix(tc.message))
			stalled := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(stalled.Message).To(Equal(ready.Message))
			g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReconciling)).To(BeNil())
			g.Expect(st.ObservedGeneration).To(BeZero())
			g.Expect(st.Results).To(BeEmpty())
		})
	}

	t.Run("fixing-the-spec-recovers", func(t *testing.T) {
		sq := queries[0]
		g := NewWithT(t)
		sq.Spec.Fields[1].Path = "spec.replicas"
		sq.Spec.Fields[1].Values = []string{"4"}
		g.Expect(k8s.Update(context.Background(), sq)).To(Succeed())
		st := eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
		g.Expect(resultNames(st, false)).To(Equal([]string{"numeric"}))
		g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionStalled)).To(BeNil())
	})
}

// TestAdmissionRejectsInvalidSpecs checks the CRD validation: these specs never reach the
// controller.
func TestAdmissionRejectsInvalidSpecs(t *testing.T) {
	ns := newNamespace(t)
	tooMany := make([]any, 101)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("n%d", i)
	}
	pred := func(op string, values ...any) map[string]any {
		p := map[string]any{"path": "spec.replicas", "operator": op}
		if values != nil {
			p["values"] = values
		}
		return p
	}
	withFrom := func(p map[string]any, path string) map[string]any {
		p["valueFrom"] = map[string]any{"path": path}
		return p
	}
	groups := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"names": []any{fmt.Sprintf("n%d", i)}}
		}
		return out
	}
	facetList := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"path": fmt.Sprintf("spec.f%d", i)}
		}
		return out
	}
	cases := []struct {
		name    string
		spec    map[string]any
		message string
	}{
		{name: "unknown-operator", spec: map[string]any{"fields": []any{pred("Matches", "x")}}, message: `Unsupported value: "Matches"`},
		{name: "in-without-values", spec: map[string]any{"fields": []any{pred("In")}}, message: "every other operator takes exactly one of values and valueFrom"},
		{name: "exists-with-values", spec: map[string]any{"fields": []any{pred("Exists", "1")}}, message: "Exists and DoesNotExist take no values"},
		{name: "values-and-value-from", spec: map[string]any{"fields": []any{withFrom(pred("Equals", "1"), "spec.minReplicas")}}, message: "every other operator takes exactly one of values and valueFrom"},
		{name: "value-from-with-in", spec: map[string]any{"fields": []any{withFrom(pred("In"), "spec.minReplicas")}}, message: "valueFrom is only for Equals, NotEquals"},
		{name: "value-from-with-exists", spec: map[string]any{"fields": []any{withFrom(pred("Exists"), "spec.minReplicas")}}, message: "Exists and DoesNotExist take no values"},
		{name: "empty-group", spec: map[string]any{"anyOf": []any{map[string]any{"nameContains": "a"}, map[string]any{}}}, message: "a group needs at least one filter"},
		{name: "too-many-groups", spec: map[string]any{"anyOf": groups(11)}, message: "spec.anyOf: Too many: 11: must have at most 10 items"},
		{name: "group-created-after-not-before", spec: map[string]any{"anyOf": []any{map[string]any{"createdAfter": "2025-01-02T00:00:00Z", "createdBefore": "2025-01-01T00:00:00Z"}}}, message: "createdAfter must be before createdBefore"},
		{name: "group-predicate", spec: map[string]any{"anyOf": []any{map[string]any{"fields": []any{pred("Equals")}}}}, message: "spec.anyOf[0].fields[0]"},
		{name: "too-many-facets", spec: map[string]any{"facets": facetList(6)}, message: "spec.facets: Too many: 6: must have at most 5 items"},
		{name: "facet-limit", spec: map[string]any{"facets": []any{map[string]any{"path": "spec.replicas", "limit": int64(101)}}}, message: "spec.facets[0].limit in body should be less than or equal to 100"},
		{name: "duplicate-facet", spec: map[string]any{"facets": []any{map[string]any{"path": "spec.replicas"}, map[string]any{"path": "spec.replicas"}}}, message: "spec.facets[1]: Duplicate value"},
		{name: "owner-and-owner-uid", spec: map[string]any{"ownerUID": "u", "owner": map[string]any{"uid": "u"}}, message: "set owner or ownerUID, not both"},
		{name: "owner-uid-and-name", spec: map[string]any{"owner": map[string]any{"uid": "u", "apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}, message: "set either uid, or apiVersion, kind and name"},
		{name: "owner-kind-without-name", spec: map[string]any{"owner": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment"}}, message: "set either uid, or apiVersion, kind and name"},
		{name: "owner-name-without-api-version", spec: map[string]any{"owner": map[string]any{"kind": "Deployment", "name": "web"}}, message: "apiVersion, kind and name go together"},
		{name: "owner-too-deep", spec: map[string]any{"owner": map[string]any{"uid": "u", "depth": int64(6)}}, message: "spec.owner.depth in body should be less than or equal to 5"},
		{name: "group-owner-and-owner-uid", spec: map[string]any{"anyOf": []any{map[string]any{"ownerUID": "u", "owner": map[string]any{"uid": "u"}}}}, message: "set owner or ownerUID, not both"},
		{name: "equals-with-two-values", spec: map[string]any{"fields": []any{pred("Equals", "1", "2")}}, message: "only In and NotIn take more than one value"},
		{name: "limit-zero", spec: map[string]any{"limit": int64(0)}, message: "spec.limit: Invalid value: 0: spec.limit in body should be greater than or equal to 1"},
		{name: "limit-too-big", spec: map[string]any{"limit": int64(501)}, message: "spec.limit in body should be less than or equal to 500"},
		{name: "created-after-not-before", spec: map[string]any{"createdAfter": "2025-01-02T00:00:00Z", "createdBefore": "2025-01-01T00:00:00Z"}, message: "createdAfter must be before createdBefore"},
		{name: "created-equal", spec: map[string]any{"createdAfter": "2025-01-01T00:00:00Z", "createdBefore": "2025-01-01T00:00:00Z"}, message: "createdAfter must be before createdBefore"},
		{name: "too-many-names", spec: map[string]any{"names": tooMany}, message: "spec.names: Too many: 101: must have at most 100 items"},
		{name: "bad-sort-order", spec: map[string]any{"sort": []any{map[string]any{"path": "metadata.name", "order": "Up"}}}, message: `Unsupported value: "Up"`},
		{name: "too-many-sort-keys", spec: map[string]any{"sort": []any{
			map[string]any{"path": "a"}, map[string]any{"path": "b"}, map[string]any{"path": "c"}, map[string]any{"path": "d"},
		}}, message: "spec.sort: Too many: 4"},
		{name: "bad-api-version", spec: map[string]any{"target": map[string]any{"apiVersion": "Apps/V1", "kind": "Widget"}}, message: "spec.target.apiVersion"},
		{name: "empty-path", spec: map[string]any{"fields": []any{map[string]any{"path": "", "operator": "Exists"}}}, message: "spec.fields[0].path"},
	}
	for _, kind := range []string{"SearchQuery", "ClusterSearchQuery"} {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				spec := map[string]any{"target": map[string]any{"apiVersion": "test.kubesift.io/v1", "kind": "Widget"}}
				for k, v := range tc.spec {
					spec[k] = v
				}
				u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
				u.SetGroupVersionKind(searchv1alpha1.GroupVersion.WithKind(kind))
				u.SetName(strings.ToLower(tc.name) + "-" + ns)
				if kind == "SearchQuery" {
					u.SetNamespace(ns)
				}
				err := k8s.Create(context.Background(), u)
				g := NewWithT(t)
				g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
				g.Expect(err.Error()).To(ContainSubstring(tc.message))
			})
		}
	}
	t.Run("ClusterSearchQuery/too-many-namespaces", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
			"target":     map[string]any{"apiVersion": "v1", "kind": "ConfigMap"},
			"namespaces": tooMany,
		}}}
		u.SetGroupVersionKind(searchv1alpha1.GroupVersion.WithKind("ClusterSearchQuery"))
		u.SetName("too-many-namespaces-" + ns)
		err := k8s.Create(context.Background(), u)
		g := NewWithT(t)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		g.Expect(err.Error()).To(ContainSubstring("spec.namespaces: Too many: 101"))
	})
}
