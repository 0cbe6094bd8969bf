package searchquery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// DefaultAccessCacheTTL is how long an access decision is reused when Options leaves it unset.
const DefaultAccessCacheTTL = 15 * time.Second

// DefaultAccessRecheckInterval is how often an answered or forbidden query is evaluated again
// when Options leaves it unset, so that a revoked or granted right takes effect without any
// change to the query. With the cache, a revoked right stops a query within their sum.
const DefaultAccessRecheckInterval = 30 * time.Second

// accessReviewer asks the API server, with SubjectAccessReviews, whether a query's author may
// list a resource, and remembers the answers for a short while.
type accessReviewer struct {
	client client.Client
	ttl    time.Duration
	now    func() time.Time

	mu        sync.Mutex
	decisions map[string]accessDecision
}

type accessDecision struct {
	allowed bool
	expires time.Time
}

func newAccessReviewer(c client.Client, ttl time.Duration) *accessReviewer {
	return &accessReviewer{client: c, ttl: ttl, now: time.Now, decisions: map[string]accessDecision{}}
}

// allowed reports whether the author may list gr in namespace; "" means in all namespaces.
func (a *accessReviewer) allowed(ctx context.Context, who author, gr schema.GroupResource, namespace string) (bool, error) {
	return a.allowedTo(ctx, who, "list", gr, namespace, "")
}

// allowedTo reports whether the author may use verb on gr in namespace ("": all namespaces, or
// a cluster-scoped resource), on the object name ("": any object).
func (a *accessReviewer) allowedTo(
	ctx context.Context, who author, verb string, gr schema.GroupResource, namespace, name string,
) (bool, error) {
	key := who.key() + "|" + verb + "|" + strconv.Quote(gr.String()) + "|" + strconv.Quote(namespace) + "|" + strconv.Quote(name)
	now := a.now()
	a.mu.Lock()
	d, ok := a.decisions[key]
	a.mu.Unlock()
	if ok && now.Before(d.expires) {
		return d.allowed, nil
	}
	review := &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   who.username,
			UID:    who.uid,
			Groups: who.groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace,
				Verb:      verb,
				Group:     gr.Group,
				Resource:  gr.Resource,
				Name:      name,
			},
		},
	}
	if len(who.extra) > 0 {
		review.Spec.Extra = make(map[string]authorizationv1.ExtraValue, len(who.extra))
		for k, v := range who.extra {
			review.Spec.Extra[k] = v
		}
	}
	if err := a.client.Create(ctx, review); err != nil {
		return false, fmt.Errorf("reviewing whether %q may %s %s: %w", who.username, verb, resourceName(gr), err)
	}
	a.mu.Lock()
	a.decisions[key] = accessDecision{allowed: review.Status.Allowed, expires: now.Add(a.ttl)}
	if len(a.decisions) > 4096 {
		a.pruneLocked(now)
	}
	a.mu.Unlock()
	return review.Status.Allowed, nil
}

// pruneLocked drops expired decisions. a.mu must be held.
func (a *accessReviewer) pruneLocked(now time.Time) {
	for k, d := range a.decisions {
		if !now.Before(d.expires) {
			delete(a.decisions, k)
		}
	}
}

// authorize checks that the author recorded in annotations may list the target in every
// namespace of namespaces (all namespaces when nil). It returns a Forbidden outcome when not, and
// nil when the query may be evaluated. A query that records no author, or a malformed one, or
// one from another author epoch, is Forbidden too. When the API server does not serve the target,
// there is nothing to check and nothing to search: authorize returns errTargetNotServed.
func (r *reconciler[T]) authorize(
	ctx context.Context, annotations map[string]string, gvk schema.GroupVersionKind, namespaces []string,
) (*outcome, error) {
	epoch, noEpoch, err := r.currentEpoch(ctx)
	if noEpoch != nil || err != nil {
		return noEpoch, err
	}
	if err := r.policies.check(ctx); err != nil {
		return ptr.To(policiesNotEnforced(err)), nil
	}
	who, err := authorOf(annotations)
	if err != nil {
		return ptr.To(noAuthor(r.kind.name, err)), nil
	}
	if annotations[searchv1alpha1.AnnotationAuthorEpoch] != string(epoch) {
		return ptr.To(otherEpoch(r.kind.name)), nil
	}
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, errTargetNotServed
		}
		return nil, fmt.Errorf("mapping %s to a resource: %w", gvk.String(), err)
	}
	gr := mapping.Resource.GroupResource()
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	for _, ns := range namespaces {
		ok, err := r.access.allowed(ctx, who, gr, ns)
		if err != nil {
			return nil, err
		}
		if !ok {
			return ptr.To(forbidden(who.username, gr, ns)), nil
		}
	}
	return nil, nil
}

// memberClustersResource is the resource whose custom verb VerbSearch grants a query's author the
// objects of one member cluster.
var memberClustersResource = schema.GroupResource{Group: searchv1alpha1.GroupVersion.Group, Resource: "memberclusters"}

// clusters returns the clusters whose objects a query may read: of requested (none: every
// cluster), the local cluster and the MemberClusters on which the author recorded in
// annotations has the verb search. An author who names a MemberCluster without that grant gets
// a Forbidden outcome; the clusters left out of an empty request are named in skipped. An empty
// request by an author granted every MemberCluster stays empty (every cluster), which keeps
// the cluster condition, and its cost, out of the search. ok is false when the request keeps
// no cluster at all.
func (r *reconciler[T]) clusters(
	ctx context.Context, annotations map[string]string, requested []string,
) (effective []string, skipped []string, denied *outcome, err error) {
	who, err := authorOf(annotations)
	if err != nil {
		return nil, nil, ptr.To(noAuthor(r.kind.name, err)), nil
	}
	var list searchv1alpha1.MemberClusterList
	if err := r.client.List(ctx, &list); err != nil {
		return nil, nil, nil, fmt.Errorf("listing MemberClusters: %w", err)
	}
	granted := map[string]bool{"": true}
	exists := map[string]bool{}
	var members []string
	for i := range list.Items {
		name := list.Items[i].Name
		exists[name] = true
		members = append(members, name)
		ok, err := r.access.allowedTo(ctx, who, searchv1alpha1.VerbSearch, memberClustersResource, "", name)
		if err != nil {
			return nil, nil, nil, err
		}
		granted[name] = ok
	}
	// The cache lists in no particular order: sorted, the clusters (and the message naming
	// those left out) are the same on every evaluation.
	slices.Sort(members)
	if len(requested) == 0 {
		effective = []string{""}
		for _, name := range members {
			if granted[name] {
				effective = append(effective, name)
			} else {
				skipped = append(skipped, name)
			}
		}
		if len(skipped) == 0 {
			effective = nil
		}
		return effective, skipped, nil, nil
	}
	for _, c := range requested {
		switch {
		case granted[c]:
			effective = append(effective, c)
		case exists[c]:
			return nil, nil, ptr.To(clusterForbidden(who.username, c)), nil
		}
		// Not a MemberCluster: nothing of it may be read, and nothing is.
	}
	return effective, nil, nil, nil
}

func clusterForbidden(user, cluster string) outcome {
	return outcome{
		reason: searchv1alpha1.ReasonForbidden,
		message: fmt.Sprintf("user %q, who last wrote the spec, may not search MemberCluster %q: grant the verb %q on "+
			"memberclusters named %q (see docs/multicluster.md), or leave it out of spec.clusters",
			user, cluster, searchv1alpha1.VerbSearch, cluster),
	}
}

// errTargetNotServed means the API server does not serve the target kind, so no access can be
// checked and no object of it can be searched.
var errTargetNotServed = errors.New("the API server does not serve the target kind")

func forbidden(user string, gr schema.GroupResource, namespace string) outcome {
	where := "in namespace " + strconv.Quote(namespace)
	if namespace == "" {
		where = "in all namespaces"
	}
	return outcome{
		reason: searchv1alpha1.ReasonForbidden,
		message: fmt.Sprintf("user %q, who last wrote the spec, may not list %s %s; "+
			"a query is answered only while its author may list its target", user, resourceName(gr), where),
	}
}

func noAuthor(kind string, err error) outcome {
	return outcome{
		reason: searchv1alpha1.ReasonForbidden,
		message: fmt.Sprintf("the %s does not record who wrote its spec (%v); with the admission policies in "+
			"config/admission installed, change its spec or re-create it (kubectl replace --force -f) "+
			"to record its author", kind, err),
	}
}

// resourceName names a resource the way RBAC and kubectl do: "templates.apps.example.com", or
// "configmaps" for the core group.
func resourceName(gr schema.GroupResource) string {
	if gr.Group == "" {
		return gr.Resource
	}
	return gr.Resource + "." + gr.Group
}

// +kubebuilder:rbac:groups=search.kubesift.io,resources=clustersearchqueries,verbs=create

// probeAuthor is the author that the policy probe claims to be. The mutating policy replaces it
// with the manager's own user name.
const probeAuthor = "kubesift:admission-probe"

// policyProbe tells whether the API server enforces the author policies of config/admission.
// Without them, anyone could write the author annotations, so no query may be answered. It asks
// the API server to create, in dry-run mode, a ClusterSearchQuery whose annotations name someone
// else, and checks that they come back rewritten. The answer is reused for ttl.
type policyProbe struct {
	client client.Client
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	expires time.Time
	err     error
}

func newPolicyProbe(c client.Client, ttl time.Duration) *policyProbe {
	return &policyProbe{client: c, ttl: ttl, now: time.Now}
}

// check returns nil when the policies are enforced, and otherwise an error that says why not.
func (p *policyProbe) check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Before(p.expires) {
		return p.err
	}
	p.err = p.probe(ctx)
	p.expires = now.Add(p.ttl)
	return p.err
}

func (p *policyProbe) probe(ctx context.Context) error {
	csq := &searchv1alpha1.ClusterSearchQuery{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kubesift-admission-probe-",
			Annotations: map[string]string{
				searchv1alpha1.AnnotationAuthor:       probeAuthor,
				searchv1alpha1.AnnotationAuthorUID:    "",
				searchv1alpha1.AnnotationAuthorGroups: `["system:masters"]`,
				searchv1alpha1.AnnotationAuthorExtra:  "{}",
			},
		},
		Spec: searchv1alpha1.ClusterSearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{
			Target: searchv1alpha1.TargetRef{APIVersion: "admission-probe.kubesift.io/v1", Kind: "Probe"},
		}},
	}
	if err := p.client.Create(ctx, csq, client.DryRunAll); err != nil {
		return fmt.Errorf("a dry-run ClusterSearchQuery that names someone else as its author was not admitted: %w", err)
	}
	if csq.Annotations[searchv1alpha1.AnnotationAuthor] == probeAuthor {
		return errors.New("the API server kept the author annotations that a request wrote itself")
	}
	return nil
}

func policiesNotEnforced(err error) outcome {
	return outcome{
		reason: searchv1alpha1.ReasonForbidden,
		message: fmt.Sprintf("kubesift answers no query while the admission policies in config/admission are not "+
			"enforced, since anyone could then claim to be a query's author: %v", err),
	}
}
