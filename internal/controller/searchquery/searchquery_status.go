package searchquery

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

// outcome is the result of evaluating a query once: the Ready reason, a message for users and,
// when the query ran, its page.
type outcome struct {
	// reason is the reason of the Ready condition.
	reason string
	// message explains reason to users.
	message string
	// page holds the results when reason is Succeeded.
	page index.Page
	// err is the user error behind InvalidQuery.
	err error
	// stale names the clusters whose results are as last seen (their mirror is not Ready).
	stale map[string]bool
}

func succeeded(page index.Page) outcome {
	msg := fmt.Sprintf("%d objects match; this page holds %d", page.Total, len(page.Items))
	if len(page.OwnerKinds) > 0 {
		msg += fmt.Sprintf("; the owner chain was followed through the indexed kinds %s only: "+
			"objects owned through any other kind are not reached", strings.Join(page.OwnerKinds, ", "))
	}
	return outcome{reason: searchv1alpha1.ReasonSucceeded, message: msg, page: page}
}

func invalidQuery(err error) outcome {
	return outcome{reason: searchv1alpha1.ReasonInvalidQuery, message: invalidQueryMessage(err), err: err}
}

func resourceNotIndexed(t searchv1alpha1.TargetRef) outcome {
	return outcome{
		reason: searchv1alpha1.ReasonResourceNotIndexed,
		message: fmt.Sprintf("no ResourceIndex mirrors %s; create one with spec.target {apiVersion: %s, kind: %s}",
			t.String(), t.APIVersion, t.Kind),
	}
}

func indexNotReady(t searchv1alpha1.TargetRef, indexName string) outcome {
	return outcome{
		reason: searchv1alpha1.ReasonIndexNotReady,
		message: fmt.Sprintf("ResourceIndex %s is loading the initial list of %s; results follow once it has synced",
			indexName, t.String()),
	}
}

func indexStarting(t searchv1alpha1.TargetRef, indexName string) outcome {
	return outcome{
		reason: searchv1alpha1.ReasonIndexNotReady,
		message: fmt.Sprintf("ResourceIndex %s is starting to mirror %s; results follow once it has synced",
			indexName, t.String()),
	}
}

// clusterScopedTarget is the error of a SearchQuery that targets a cluster-scoped kind.
func clusterScopedTarget(gvk schema.GroupVersionKind, t searchv1alpha1.TargetRef) error {
	return &query.Error{
		Field:  "target",
		Reason: query.ErrInvalidValue,
		Msg: fmt.Sprintf("%s is cluster-scoped but a SearchQuery searches only its own namespace; use a ClusterSearchQuery to search %s",
			t.String(), gvk.Kind),
	}
}

// namespacesOnClusterScoped is the error of a ClusterSearchQuery that filters a cluster-scoped
// kind by namespace, which could never match.
func namespacesOnClusterScoped(t searchv1alpha1.TargetRef) error {
	return &query.Error{
		Field:  "namespaces",
		Reason: query.ErrInvalidValue,
		Msg:    fmt.Sprintf("%s is cluster-scoped, so namespaces must be empty", t.String()),
	}
}

// applyOutcome writes o into st as the status of an object at generation.
//
// Results are replaced only when the query ran. They are cleared when the query is invalid, its
// target is not indexed or its author may not list the target, so that stale references are not
// mistaken for answers and nothing stays visible that the author may not see, and kept while
// the index is loading, since they were correct when computed and Ready=False says they may be
// behind. observedGeneration moves only when the query ran.
func applyOutcome(st *searchv1alpha1.QueryStatus, generation int64, o outcome) {
	cond := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	}
	switch o.reason {
	case searchv1alpha1.ReasonSucceeded:
		st.ObservedGeneration = generation
		st.Total = o.page.Total
		st.Remaining = o.page.Remaining
		st.Continue = o.page.Continue
		st.Count = int32(len(o.page.Items)) //nolint:gosec // a page holds at most 500 items
		st.Results = nil
		if len(o.page.Items) > 0 {
			st.Results = make([]searchv1alpha1.ResultRef, len(o.page.Items))
			for i, it := range o.page.Items {
				st.Results[i] = searchv1alpha1.ResultRef{
					Cluster: it.Cluster, Namespace: it.Namespace, Name: it.Name, UID: it.UID, ResourceVersion: it.ResourceVersion,
					Stale: o.stale[it.Cluster],
				}
			}
		}
		st.Facets = facetResults(o.page.Facets)
		cond(searchv1alpha1.ConditionReady, metav1.ConditionTrue, o.reason, o.message)
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionStalled)
	case searchv1alpha1.ReasonIndexNotReady:
		cond(searchv1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message)
		cond(searchv1alpha1.ConditionReconciling, metav1.ConditionTrue, searchv1alpha1.ReasonProgressing, o.message)
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionStalled)
	case searchv1alpha1.ReasonInvalidQuery:
		clearResults(st)
		cond(searchv1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message)
		cond(searchv1alpha1.ConditionStalled, metav1.ConditionTrue, o.reason, o.message)
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionReconciling)
	default: // ResourceNotIndexed or Forbidden: waiting for a ResourceIndex or for a right that only users can give.
		clearResults(st)
		cond(searchv1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message)
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionStalled)
	}
}

func clearResults(st *searchv1alpha1.QueryStatus) {
	st.Total, st.Count, st.Remaining, st.Continue, st.Results, st.Facets = 0, 0, 0, "", nil, nil
}

// readyReason returns the reason of the Ready condition, or "" when there is none.
func readyReason(st *searchv1alpha1.QueryStatus) string {
	if c := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// facetResults converts the index's facet counts to the status type; nil without facets.
func facetResults(in []index.FacetCounts) []searchv1alpha1.FacetResult {
	if len(in) == 0 {
		return nil
	}
	out := make([]searchv1alpha1.FacetResult, len(in))
	for i, f := range in {
		out[i] = searchv1alpha1.FacetResult{Path: f.Path, Other: f.Other, Missing: f.Missing}
		for _, v := range f.Values {
			out[i].Values = append(out[i].Values, searchv1alpha1.FacetValueCount{Value: v.Value, Count: v.Count})
		}
	}
	return out
}
