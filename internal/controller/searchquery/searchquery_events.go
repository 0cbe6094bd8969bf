package searchquery

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// actionEvaluate is the action of every event the query controllers emit.
const actionEvaluate = "Evaluate"

// recordTransition emits an event when the Ready reason changed from previous, and only then, so
// that a query re-evaluated on every change of a busy kind does not flood the event stream.
func (r *reconciler[T]) recordTransition(obj runtime.Object, previous string, out outcome) {
	if out.reason == previous {
		return
	}
	eventType := corev1.EventTypeWarning
	if out.reason == searchv1alpha1.ReasonSucceeded || out.reason == searchv1alpha1.ReasonIndexNotReady {
		eventType = corev1.EventTypeNormal
	}
	message := out.message
	if out.reason == searchv1alpha1.ReasonSucceeded {
		// Events of a ClusterSearchQuery land in the default namespace, where readers of events
		// may not be allowed to read the query: its counts stay in its status.
		message = "The query is answered; its status holds the total and the results"
	}
	r.recorder.Eventf(obj, nil, eventType, out.reason, actionEvaluate, "%s", message)
}
