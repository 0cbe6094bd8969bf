package resourceindex

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/mirror"
)

// aggregateLabel marks ClusterRoles whose rules are aggregated into the indexer's ClusterRole.
const aggregateLabel = "search.kubesift.io/aggregate-to-indexer"

// targetError says why a target cannot be mirrored right now, in words for the user. A retry
// may help: the CRD may be installed or access granted later.
type targetError struct {
	reason string // a ResourceIndex reason
	msg    string
	err    error
}

func (e *targetError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *targetError) Unwrap() error { return e.err }

// isNoMatch reports whether err says the API server does not serve a kind or resource.
func isNoMatch(err error) bool {
	var kindErr *meta.NoKindMatchError
	var resErr *meta.NoResourceMatchError
	return meta.IsNoMatchError(err) || errors.As(err, &kindErr) || errors.As(err, &resErr)
}

func notFoundError(gvk schema.GroupVersionKind, err error) *targetError {
	return &targetError{
		reason: searchv1alpha1.ReasonResourceNotFound,
		msg: fmt.Sprintf("The API server does not serve kind %s in %s; install its CustomResourceDefinition",
			gvk.Kind, gvk.GroupVersion().String()),
		err: err,
	}
}

// resourceName names a resource the way RBAC and kubectl do: "templates.apps.example.com", or
// "configmaps" for the core group.
func resourceName(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource
	}
	return gvr.Resource + "." + gvr.Group
}

func forbiddenError(gvr schema.GroupVersionResource, verbs []string, err error) *targetError {
	group := gvr.Group
	if group == "" {
		group = `""`
	}
	return &targetError{
		reason: searchv1alpha1.ReasonForbidden,
		msg: fmt.Sprintf("The manager is not allowed to %s %s in all namespaces; grant get, list and watch on "+
			"resource %q of API group %s with a ClusterRole labelled %s: \"true\"",
			strings.Join(verbs, " and "), resourceName(gvr), gvr.Resource, group, aggregateLabel),
		err: err,
	}
}

// resolveTarget maps the target kind to its resource. A kind the API server does not serve
// yields a targetError with reason ResourceNotFound.
func (r *Reconciler) resolveTarget(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if isNoMatch(err) {
			return nil, notFoundError(gvk, err)
		}
		return nil, fmt.Errorf("mapping %s to a resource: %w", mirror.KindLabel(gvk), err)
	}
	return mapping, nil
}

// checkAccess makes sure a mirror of the target will not spin on errors: the manager may
// list and watch the resource in all namespaces, and the resource exists. A kind whose CRD was
// deleted can still be in the REST mapper's cache; the LIST says the truth.
//
// The access review runs only when the mirror is not running yet (thorough): once it runs, a
// LIST of one object is enough to notice a deleted CRD or revoked access.
func (r *Reconciler) checkAccess(ctx context.Context, gvk schema.GroupVersionKind, mapping *meta.RESTMapping, thorough bool) error {
	gvr := mapping.Resource
	if thorough {
		var denied []string
		for _, verb := range []string{"list", "watch"} {
			ok, err := r.allowed(ctx, gvr, verb)
			if err != nil {
				// Not fatal: the LIST below still tells a forbidden list apart.
				ctrl.LoggerFrom(ctx).V(1).Info("Unable to review access, relying on a LIST", "error", err.Error())
				denied = nil
				break
			}
			if !ok {
				denied = append(denied, verb)
			}
		}
		if len(denied) > 0 {
			return forbiddenError(gvr, denied, nil)
		}
	}
	_, err := r.metadata.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return notFoundError(gvk, err)
	case apierrors.IsForbidden(err):
		return forbiddenError(gvr, []string{"list"}, err)
	default:
		return fmt.Errorf("listing %s: %w", resourceName(gvr), err)
	}
}

// allowed asks the API server whether the manager may use verb on the resource in all namespaces.
func (r *Reconciler) allowed(ctx context.Context, gvr schema.GroupVersionResource, verb string) (bool, error) {
	review := &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb:     verb,
				Group:    gvr.Group,
				Version:  gvr.Version,
				Resource: gvr.Resource,
			},
		},
	}
	if err := r.Create(ctx, review); err != nil {
		return false, fmt.Errorf("reviewing access to %s %s: %w", verb, resourceName(gvr), err)
	}
	return review.Status.Allowed, nil
}
