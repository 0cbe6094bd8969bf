package authorepoch

import (
	"context"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kubesift/kubesift/internal/admission"
)

// The keeper reads the author policies and their bindings, and replaces the epoch ConfigMap in
// the manager's namespace (the Role of config/rbac, named "system" before kustomize renames it).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingadmissionpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingadmissionpolicybindings,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicybindings,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=system,resources=configmaps,verbs=get;list;watch;create;delete

// CacheByObject returns the cache settings for the epoch ConfigMap: the manager caches that one
// ConfigMap only, which a Role in its namespace grants it to watch.
func CacheByObject(epoch admission.Epoch) map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{epoch.Namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", epoch.Name),
		},
	}
}

// SetupWithManager registers the keeper of epoch. The manager's cache must hold the epoch
// ConfigMap (CacheByObject).
func SetupWithManager(mgr ctrl.Manager, epoch admission.Epoch) error {
	k := &keeper{client: mgr.GetClient(), epoch: epoch}
	toEpoch := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: epoch.Key()}}
	})
	vouched := builder.WithPredicates(predicate.NewPredicateFuncs(epoch.Vouches))
	err := ctrl.NewControllerManagedBy(mgr).
		Named("authorepoch").
		For(&corev1.ConfigMap{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == epoch.Namespace && o.GetName() == epoch.Name
		}))).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicy{}, toEpoch, vouched).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, toEpoch, vouched).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicy{}, toEpoch, vouched).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, toEpoch, vouched).
		Complete(k)
	if err != nil {
		return fmt.Errorf("building the author epoch keeper: %w", err)
	}
	return nil
}

// keeper renews the author epoch. Every event leads to the one request for the ConfigMap, and
// the first one after the start checks what the ConfigMap records against the objects as they
// are now.
type keeper struct {
	client client.Client
	epoch  admission.Epoch
}

func (k *keeper) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	old := &corev1.ConfigMap{}
	if err := k.client.Get(ctx, k.epoch.Key(), old); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("getting the author epoch: %w", err)
	}
	cm, err := k.epoch.Renew(ctx, k.client)
	switch {
	case errors.Is(err, admission.ErrNoEpoch):
		// The watches bring the next request when the object is back.
		if old.UID != "" {
			log.Info("Deleted the author epoch: the admission policies are not all there", "configmap", klog.KObj(old), "reason", err.Error())
		}
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	if cm.UID != old.UID {
		log.Info("Started a new author epoch; queries written before it are not answered until their spec is written again",
			"configmap", klog.KObj(cm), "uid", cm.UID, "previous", old.UID)
	}
	return ctrl.Result{}, nil
}
