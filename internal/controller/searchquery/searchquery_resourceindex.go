package searchquery

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// notMirrored explains why the catalog does not know target.
//
// Right after the manager starts, a kind's ResourceIndex exists but has not reached the catalog
// yet. Reporting ResourceNotIndexed then would clear every query's results on each restart and
// write them back moments later, so a query whose target has a ResourceIndex that is new or was
// working reports IndexNotReady and keeps its results. A ResourceIndex that reports a problem is
// named in the ResourceNotIndexed message, so that users see why their kind is not searchable.
func (r *reconciler[T]) notMirrored(ctx context.Context, target searchv1alpha1.TargetRef) (outcome, error) {
	list := &searchv1alpha1.ResourceIndexList{}
	if err := r.client.List(ctx, list); err != nil {
		return outcome{}, fmt.Errorf("listing ResourceIndex objects: %w", err)
	}
	gvk := target.GroupVersionKind()
	var problems []string
	for i := range list.Items {
		ri := &list.Items[i]
		if ri.Spec.Target.GroupVersionKind() != gvk || !ri.DeletionTimestamp.IsZero() {
			continue
		}
		ready := meta.FindStatusCondition(ri.Status.Conditions, searchv1alpha1.ConditionReady)
		if ready == nil || ready.Reason == searchv1alpha1.ReasonSynced || ready.Reason == searchv1alpha1.ReasonSyncing {
			return indexStarting(target, ri.Name), nil
		}
		problems = append(problems, fmt.Sprintf("ResourceIndex %s reports %s: %s", ri.Name, ready.Reason, ready.Message))
	}
	out := resourceNotIndexed(target)
	if len(problems) > 0 {
		out.message = fmt.Sprintf("no ResourceIndex mirrors %s: %s", target.String(), strings.Join(problems, "; "))
	}
	return out, nil
}

// staleClusters returns the member clusters whose mirror the named ResourceIndex reports as
// not Ready (their rows are as last seen), and every member it mirrors.
func (r *reconciler[T]) staleClusters(ctx context.Context, index string) (stale map[string]bool, mirrored []string, err error) {
	ri := &searchv1alpha1.ResourceIndex{}
	if err := r.client.Get(ctx, client.ObjectKey{Name: index}, ri); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("reading ResourceIndex %s: %w", index, err)
	}
	for _, c := range ri.Status.Clusters {
		mirrored = append(mirrored, c.Name)
	}
	return notReadyClusters(ri), mirrored, nil
}

// narrowStale applies a query's stale policy to the clusters it may read (nil is every cluster:
// the local one and the members mirrored). It returns the clusters to read, nil for every one,
// and none when no cluster is left.
func narrowStale(policy searchv1alpha1.StalePolicy, clusters, mirrored []string, stale map[string]bool) (out []string, none bool) {
	keep := false
	switch policy {
	case searchv1alpha1.StaleExclude:
		if len(stale) == 0 {
			return clusters, false
		}
	case searchv1alpha1.StaleOnly:
		if len(stale) == 0 {
			return nil, true
		}
		keep = true
	default:
		return clusters, false
	}
	if clusters == nil {
		clusters = append([]string{""}, mirrored...)
	}
	for _, c := range clusters {
		if stale[c] == keep {
			out = append(out, c)
		}
	}
	return out, len(out) == 0
}

// notReadyClusters names the members of a ResourceIndex's status.clusters that are not Ready.
func notReadyClusters(ri *searchv1alpha1.ResourceIndex) map[string]bool {
	var out map[string]bool
	for _, c := range ri.Status.Clusters {
		if !c.Ready {
			if out == nil {
				out = map[string]bool{}
			}
			out[c.Name] = true
		}
	}
	return out
}

// sortedSet returns the keys of a set, sorted.
func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// queriesOnTargetOf maps a ResourceIndex to the tracked queries on its target.
func (r *reconciler[T]) queriesOnTargetOf(_ context.Context, obj client.Object) []reconcile.Request {
	ri, ok := obj.(*searchv1alpha1.ResourceIndex)
	if !ok {
		return nil
	}
	keys := r.live.keys(ri.Spec.Target.GroupVersionKind())
	reqs := make([]reconcile.Request, len(keys))
	for i, k := range keys {
		reqs[i] = reconcile.Request{NamespacedName: k}
	}
	return reqs
}

// resourceIndexStateChanged lets through ResourceIndex events that can change what a query
// reports: creation, deletion, a new target, the start of deletion and a new Ready condition. The
// periodic refresh of status.objectCount is filtered out.
var resourceIndexStateChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldRI, okOld := e.ObjectOld.(*searchv1alpha1.ResourceIndex)
		newRI, okNew := e.ObjectNew.(*searchv1alpha1.ResourceIndex)
		if !okOld || !okNew {
			return false
		}
		if oldRI.Spec.Target != newRI.Spec.Target || oldRI.DeletionTimestamp.IsZero() != newRI.DeletionTimestamp.IsZero() {
			return true
		}
		if !maps.Equal(notReadyClusters(oldRI), notReadyClusters(newRI)) {
			// Results of those members turn stale, or fresh again.
			return true
		}
		oldReady := meta.FindStatusCondition(oldRI.Status.Conditions, searchv1alpha1.ConditionReady)
		newReady := meta.FindStatusCondition(newRI.Status.Conditions, searchv1alpha1.ConditionReady)
		if oldReady == nil || newReady == nil {
			return oldReady != newReady
		}
		return oldReady.Status != newReady.Status || oldReady.Reason != newReady.Reason || oldReady.Message != newReady.Message
	},
}
