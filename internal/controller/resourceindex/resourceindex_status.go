package resourceindex

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// outcome is what one reconcile found out about a ResourceIndex.
type outcome struct {
	// reason is the reason of the Ready condition; Ready is True only for ReasonSynced.
	reason  string
	message string
	// stalled is true when only a change by the user can help.
	stalled bool
	// count is the number of mirrored objects; used when the index is synced.
	count int64
	// resource is the API resource the target maps to; nil when the API server does not serve it.
	resource *searchv1alpha1.IndexedResource
	// clusters is the state of each selected member cluster.
	clusters []searchv1alpha1.ClusterIndexStatus
}

// ready reports whether the outcome makes the ResourceIndex Ready.
func (o outcome) ready() bool { return o.reason == searchv1alpha1.ReasonSynced }

// reconciling reports whether work is still in progress.
func (o outcome) reconciling() bool { return o.reason == searchv1alpha1.ReasonSyncing }

// applyOutcome writes an outcome into a status, kstatus-style: Ready always, Reconciling and
// Stalled only while true. observedGeneration and objectCount change only when the index is
// synced, so they keep describing the last spec that was successfully mirrored.
func applyOutcome(st *searchv1alpha1.ResourceIndexStatus, generation int64, o outcome) {
	ready := metav1.Condition{
		Type:               searchv1alpha1.ConditionReady,
		Status:             metav1.ConditionFalse,
		Reason:             o.reason,
		Message:            o.message,
		ObservedGeneration: generation,
	}
	if o.ready() {
		ready.Status = metav1.ConditionTrue
		st.ObservedGeneration = generation
		st.ObjectCount = o.count
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	st.Resource = o.resource
	st.Clusters = o.clusters

	if o.reconciling() {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type:               searchv1alpha1.ConditionReconciling,
			Status:             metav1.ConditionTrue,
			Reason:             searchv1alpha1.ReasonProgressing,
			Message:            o.message,
			ObservedGeneration: generation,
		})
	} else {
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionReconciling)
	}

	if o.stalled {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type:               searchv1alpha1.ConditionStalled,
			Status:             metav1.ConditionTrue,
			Reason:             o.reason,
			Message:            o.message,
			ObservedGeneration: generation,
		})
	} else {
		meta.RemoveStatusCondition(&st.Conditions, searchv1alpha1.ConditionStalled)
	}
}

// readyReason returns the reason of the Ready condition, or "" when there is none.
func readyReason(st *searchv1alpha1.ResourceIndexStatus) string {
	if c := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// oldest returns the ResourceIndex that mirrors a kind when several name it: the one created
// first, and among those created in the same second, the one whose name sorts first.
func oldest(items []searchv1alpha1.ResourceIndex) *searchv1alpha1.ResourceIndex {
	var best *searchv1alpha1.ResourceIndex
	for i := range items {
		ri := &items[i]
		if best == nil || olderThan(ri, best) {
			best = ri
		}
	}
	return best
}

func olderThan(a, b *searchv1alpha1.ResourceIndex) bool {
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.Name < b.Name
}
