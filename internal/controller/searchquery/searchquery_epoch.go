package searchquery

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// currentEpoch returns the current author epoch: the UID of the epoch ConfigMap, read from the
// manager's cache. Without one it returns a Forbidden outcome: no record can be trusted then.
func (r *reconciler[T]) currentEpoch(ctx context.Context) (types.UID, *outcome, error) {
	cm := &corev1.ConfigMap{}
	if err := r.client.Get(ctx, r.epoch, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &outcome{
				reason: searchv1alpha1.ReasonForbidden,
				message: fmt.Sprintf("kubesift answers no query while there is no author epoch (ConfigMap %s): "+
					"the admission policies in config/admission are missing, or the manager is re-establishing the "+
					"epoch after they changed", r.epoch),
			}, nil
		}
		return "", nil, fmt.Errorf("getting the author epoch %s: %w", r.epoch, err)
	}
	return cm.UID, nil, nil
}

// otherEpoch is the outcome of a query whose author record names another author epoch than the
// current one: it may have been written by hand while the author policies were not enforced.
func otherEpoch(kind string) outcome {
	return outcome{
		reason: searchv1alpha1.ReasonForbidden,
		message: fmt.Sprintf("the author record of this %s is from another author epoch: the admission "+
			"policies in config/admission changed or were missing since its spec was written, so the record "+
			"cannot be trusted; write its spec again or re-create it (kubectl replace --force -f) to record its author",
			kind),
	}
}

// isEpoch lets through the events of the author epoch ConfigMap only.
func isEpoch(key types.NamespacedName) predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == key.Namespace && o.GetName() == key.Name
	})
}

// everyQuery maps a change of the author epoch to every query of the kind: each one's record is
// either current now or no longer.
func (r *reconciler[T]) everyQuery(ctx context.Context, _ client.Object) []reconcile.Request {
	keys, err := r.kind.list(ctx, r.client)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Unable to list queries after the author epoch changed", "kind", r.kind.name)
		return nil
	}
	reqs := make([]reconcile.Request, len(keys))
	for i, k := range keys {
		reqs[i] = reconcile.Request{NamespacedName: k}
	}
	return reqs
}
