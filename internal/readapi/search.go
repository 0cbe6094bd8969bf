package readapi

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/searchquery"
	"github.com/kubesift/kubesift/internal/query"
)

// searchStorage answers Searches (namespaced) or ClusterSearches when they are created. Nothing
// is stored: the response is the request with its status filled in.
type searchStorage struct {
	reader  *reader
	cluster bool
}

var (
	_ rest.Creater              = &searchStorage{} //nolint:misspell // the interface's name in k8s.io/apiserver
	_ rest.Scoper               = &searchStorage{}
	_ rest.SingularNameProvider = &searchStorage{}
)

func (s *searchStorage) New() runtime.Object {
	if s.cluster {
		return &queryv1alpha1.ClusterSearch{}
	}
	return &queryv1alpha1.Search{}
}

func (s *searchStorage) Destroy() {}

func (s *searchStorage) NamespaceScoped() bool { return !s.cluster }

func (s *searchStorage) GetSingularName() string {
	if s.cluster {
		return "clustersearch"
	}
	return "search"
}

// Create answers the search in obj.
func (s *searchStorage) Create(ctx context.Context, obj runtime.Object, _ rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	switch o := obj.(type) {
	case *queryv1alpha1.Search:
		ns, ok := request.NamespaceFrom(ctx)
		if !ok || ns == "" {
			return nil, apierrors.NewBadRequest("a Search needs a namespace")
		}
		o.Namespace = ns
		if err := s.reader.answer(ctx, &o.Spec.QuerySpec, []string{ns}, true, o.Spec.Output, &o.Status); err != nil {
			return nil, err
		}
		return o, nil
	case *queryv1alpha1.ClusterSearch:
		if err := s.reader.answer(ctx, &o.Spec.QuerySpec, o.Spec.Namespaces, false, o.Spec.Output, &o.Status); err != nil {
			return nil, err
		}
		return o, nil
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unexpected object of type %T", obj))
	}
}

// answer evaluates spec over namespaces (nil for all) and writes the result into st. namespaced
// is true for a Search, which may not target a cluster-scoped kind.
func (r *reader) answer(ctx context.Context, spec *searchv1alpha1.QuerySpec, namespaces []string, namespaced bool,
	output queryv1alpha1.Output, st *queryv1alpha1.SearchStatus) error {
	switch output {
	case "", queryv1alpha1.OutputReferences, queryv1alpha1.OutputObjects:
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("spec.output: %q is neither %s nor %s",
			output, queryv1alpha1.OutputReferences, queryv1alpha1.OutputObjects))
	}
	gvk := spec.Target.GroupVersionKind()
	res, err := r.kinds.byKind(gvk)
	if err != nil {
		return err
	}
	if !res.Namespaced && (namespaced || len(namespaces) > 0) {
		return apierrors.NewBadRequest(fmt.Sprintf(
			"spec.target: %s is cluster-scoped; search it with a ClusterSearch without namespaces", spec.Target.String()))
	}
	// The caller must be allowed to list the target wherever the search looks, before anything
	// is said about the index.
	gvr := gvk.GroupVersion().WithResource(res.Name)
	if len(namespaces) == 0 {
		err = r.access.allow(ctx, "list", "", gvr)
	}
	for _, ns := range namespaces {
		if err = r.access.allow(ctx, "list", ns, gvr); err != nil {
			break
		}
	}
	if err != nil {
		return err
	}
	k, err := r.kinds.mirrored(gvk.GroupVersion(), res)
	if err != nil {
		return err
	}
	q, err := compileSpec(spec, namespaces)
	if err != nil {
		return apierrors.NewBadRequest(searchquery.InvalidQueryMessage(err))
	}
	if !k.state.Synced {
		searchquery.SetNotSynced(&st.QueryStatus, 0, spec.Target, k.state.Index)
		return nil
	}
	page, err := r.search(ctx, k, q, spec.Continue, output == queryv1alpha1.OutputObjects)
	if err != nil {
		return err
	}
	searchquery.SetPage(&st.QueryStatus, 0, page)
	st.Objects = nil
	for _, doc := range page.Documents {
		st.Objects = append(st.Objects, runtime.RawExtension{Raw: doc})
	}
	return nil
}

// localOnly restricts a read to the local cluster's objects. The read API does not yet check a
// caller's grants on member clusters (docs/multicluster.md), so it answers from the local
// cluster alone.
var localOnly = []string{""}

// compileSpec compiles a query spec over namespaces the way the query controllers do, over the
// local cluster's objects only.
func compileSpec(spec *searchv1alpha1.QuerySpec, namespaces []string) (*query.Query, error) {
	qs, err := query.FromAPI(spec, namespaces)
	if err != nil {
		return nil, err
	}
	for i, c := range qs.Clusters {
		if c != "" {
			return nil, query.Errorf(fmt.Sprintf("clusters[%d]", i), query.ErrInvalidValue,
				"the read API answers from the local cluster only; ask for member clusters with a SearchQuery or ClusterSearchQuery")
		}
	}
	switch spec.Stale {
	case "", searchv1alpha1.StaleInclude, searchv1alpha1.StaleExclude:
	case searchv1alpha1.StaleOnly:
		return nil, query.Errorf("stale", query.ErrInvalidValue,
			"the read API answers from the local cluster only, whose objects are never stale; ask for a member's stale objects with a SearchQuery or ClusterSearchQuery")
	default:
		return nil, query.Errorf("stale", query.ErrInvalidValue, "%q is not one of Include, Exclude, Only", spec.Stale)
	}
	qs.Clusters = localOnly
	return query.Compile(qs)
}
