package membercluster

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// outcome is what one reconcile found out about a member.
type outcome struct {
	// reason is the reason of the Ready condition; Ready is True only for ReasonConnected.
	reason  string
	message string
	// stalled is true when only a change by the user (of the Secret, the RBAC or the member's
	// credentials) can help.
	stalled bool
	// retrying is true while the member does not answer and the probe retries by itself.
	retrying bool
	// version is the member's Kubernetes version; set when connected.
	version string
}

// ready reports whether the outcome makes the MemberCluster Ready.
func (o outcome) ready() bool { return o.reason == searchv1alpha1.ReasonConnected }

// applyOutcome writes an outcome into a status, kstatus-style: Ready always, Reconciling and
// Stalled only while true. kubernetesVersion and lastContactTime change only on success, so an
// unreachable member still shows when it last answered and what it ran.
func applyOutcome(st *searchv1alpha1.MemberClusterStatus, generation int64, o outcome, now metav1.Time) {
	ready := metav1.Condition{
		Type:               searchv1alpha1.ConditionReady,
		Status:             metav1.ConditionFalse,
		Reason:             o.reason,
		Message:            o.message,
		ObservedGeneration: generation,
	}
	if o.ready() {
		ready.Status = metav1.ConditionTrue
		st.KubernetesVersion = o.version
		st.LastContactTime = &now
	}
	st.ObservedGeneration = generation
	meta.SetStatusCondition(&st.Conditions, ready)
	setWhileTrue(st, searchv1alpha1.ConditionReconciling, o.retrying, searchv1alpha1.ReasonProgressing, o.message, generation)
	setWhileTrue(st, searchv1alpha1.ConditionStalled, o.stalled, o.reason, o.message, generation)
}

// setWhileTrue sets a condition to True, or removes it.
func setWhileTrue(st *searchv1alpha1.MemberClusterStatus, typ string, on bool, reason, message string, generation int64) {
	if !on {
		meta.RemoveStatusCondition(&st.Conditions, typ)
		return
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               typ,
		Status:             metav1.ConditionTrue,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	})
}

// readyReason returns the reason of the Ready condition, or "" when there is none.
func readyReason(st *searchv1alpha1.MemberClusterStatus) string {
	if c := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}
