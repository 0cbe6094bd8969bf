package readapi

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
)

// resourcesPath is where the mirrored kinds are served, Kubernetes-style.
const resourcesPath = "/apis/" + queryv1alpha1.GroupName + "/v1alpha1/resources"

// access checks the caller's right to read a mirrored kind through the delegated authorizer,
// which asks the cluster with a SubjectAccessReview and caches the answers briefly.
type access struct {
	authorizer authorizer.Authorizer
}

// allow returns nil when the caller in ctx may verb the resource gvr in namespace ("" for every
// namespace or a cluster-scoped resource), and the Kubernetes Forbidden error otherwise. It is
// asked before anything else about the resource, so that a caller without access learns nothing
// from the index, not even whether it mirrors the kind.
func (a access) allow(ctx context.Context, verb, namespace string, gvr schema.GroupVersionResource) error {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return apierrors.NewUnauthorized("no user in the request")
	}
	attrs := authorizer.AttributesRecord{
		User:            u,
		Verb:            verb,
		Namespace:       namespace,
		APIGroup:        gvr.Group,
		APIVersion:      gvr.Version,
		Resource:        gvr.Resource,
		ResourceRequest: true,
	}
	decision, reason, err := a.authorizer.Authorize(ctx, attrs)
	if decision == authorizer.DecisionAllow {
		return nil
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("checking access to %s: %w", gvr.GroupResource(), err))
	}
	return responsewriters.ForbiddenStatusError(attrs, reason)
}

// answeredHere allows the requests that the read API authorizes itself, per target (see access):
// everything under resourcesPath and the creation of Searches and ClusterSearches. It has no
// opinion on anything else (discovery, health), which goes to the delegated authorizer.
func answeredHere(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.IsResourceRequest() && a.GetAPIGroup() == queryv1alpha1.GroupName {
		path := a.GetPath()
		if path == resourcesPath || strings.HasPrefix(path, resourcesPath+"/") {
			return authorizer.DecisionAllow, "the read API checks access to the target resource", nil
		}
		if a.GetVerb() == "create" && a.GetSubresource() == "" &&
			(a.GetResource() == "searches" || a.GetResource() == "clustersearches") {
			return authorizer.DecisionAllow, "the read API checks access to the target resource", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}
