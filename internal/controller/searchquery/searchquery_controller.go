package searchquery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

// DefaultRequeryInterval is the requery interval used when Options leaves it unset.
const DefaultRequeryInterval = time.Second

// Options configure the query controllers.
type Options struct {
	// RequeryInterval is the shortest time between two evaluations of one query that are caused
	// by changes of its target objects. Zero means DefaultRequeryInterval.
	RequeryInterval time.Duration
	// AccessCacheTTL is how long the answer to "may this author list that resource" is reused.
	// Zero means DefaultAccessCacheTTL.
	AccessCacheTTL time.Duration
	// AccessRecheckInterval is how often a query that was answered or forbidden is evaluated
	// again, so that its author's access is checked again. Zero means
	// DefaultAccessRecheckInterval.
	AccessRecheckInterval time.Duration
	// AuthorEpoch locates the author epoch ConfigMap (admission.Epoch), which the manager's
	// cache must hold. Empty means that of admission.PlainEpoch.
	AuthorEpoch types.NamespacedName
}

// +kubebuilder:rbac:groups=search.kubesift.io,resources=searchqueries;clustersearchqueries,verbs=get;list;watch
// +kubebuilder:rbac:groups=search.kubesift.io,resources=searchqueries/status;clustersearchqueries/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=search.kubesift.io,resources=resourceindices,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// SetupWithManager sets up the SearchQuery and the ClusterSearchQuery controllers. Both evaluate
// their queries against store, learn from cat which kinds are mirrored, and subscribe to cat to
// keep their results current.
func SetupWithManager(mgr ctrl.Manager, store *index.Store, cat *catalog.Catalog, opts Options) error {
	_, _, err := setupWithManager(mgr, store, cat, opts)
	return err
}

// setupWithManager sets up both controllers and returns their reconcilers.
func setupWithManager(mgr ctrl.Manager, store *index.Store, cat *catalog.Catalog, opts Options) (
	*reconciler[*searchv1alpha1.SearchQuery], *reconciler[*searchv1alpha1.ClusterSearchQuery], error) {
	if opts.RequeryInterval <= 0 {
		opts.RequeryInterval = DefaultRequeryInterval
	}
	if opts.AccessCacheTTL <= 0 {
		opts.AccessCacheTTL = DefaultAccessCacheTTL
	}
	if opts.AccessRecheckInterval <= 0 {
		opts.AccessRecheckInterval = DefaultAccessRecheckInterval
	}
	if opts.AuthorEpoch.Name == "" {
		opts.AuthorEpoch = admission.PlainEpoch.Key()
	}
	policies := newPolicyProbe(mgr.GetClient(), opts.AccessRecheckInterval)
	sq := &reconciler[*searchv1alpha1.SearchQuery]{
		policies: policies,
		kind: queryKind[*searchv1alpha1.SearchQuery]{
			name:      "SearchQuery",
			newObject: func() *searchv1alpha1.SearchQuery { return &searchv1alpha1.SearchQuery{} },
			view: func(o *searchv1alpha1.SearchQuery) (*searchv1alpha1.QuerySpec, []string, *searchv1alpha1.QueryStatus) {
				// A SearchQuery searches its own namespace, whatever else its spec says.
				return &o.Spec.QuerySpec, []string{o.Namespace}, &o.Status
			},
			list:           listKeys(func() client.ObjectList { return &searchv1alpha1.SearchQueryList{} }),
			namespacedOnly: true,
		},
	}
	if err := sq.setup(mgr, store, cat, opts, "searchquery"); err != nil {
		return nil, nil, err
	}
	csq := &reconciler[*searchv1alpha1.ClusterSearchQuery]{
		policies: policies,
		kind: queryKind[*searchv1alpha1.ClusterSearchQuery]{
			name:      "ClusterSearchQuery",
			newObject: func() *searchv1alpha1.ClusterSearchQuery { return &searchv1alpha1.ClusterSearchQuery{} },
			view: func(o *searchv1alpha1.ClusterSearchQuery) (*searchv1alpha1.QuerySpec, []string, *searchv1alpha1.QueryStatus) {
				return &o.Spec.QuerySpec, o.Spec.Namespaces, &o.Status
			},
			list: listKeys(func() client.ObjectList { return &searchv1alpha1.ClusterSearchQueryList{} }),
		},
	}
	if err := csq.setup(mgr, store, cat, opts, "clustersearchquery"); err != nil {
		return nil, nil, err
	}
	return sq, csq, nil
}

// queryKind describes one of the two query kinds to the shared reconciler.
type queryKind[T client.Object] struct {
	// name is the kind's name, for logs and errors.
	name string
	// newObject returns an empty object of the kind.
	newObject func() T
	// view returns the object's query spec, the namespaces it may search (nil for all) and its
	// status.
	view func(T) (*searchv1alpha1.QuerySpec, []string, *searchv1alpha1.QueryStatus)
	// list returns the keys of every query of the kind.
	list func(context.Context, client.Reader) ([]types.NamespacedName, error)
	// namespacedOnly is true when the kind may not search cluster-scoped kinds.
	namespacedOnly bool
}

// reconciler evaluates queries of one kind and writes their status.
type reconciler[T client.Object] struct {
	kind     queryKind[T]
	client   client.Client
	store    *index.Store
	catalog  *catalog.Catalog
	live     *liveQueries
	recorder events.EventRecorder
	// mapper resolves a target kind to the resource whose list right is checked.
	mapper meta.RESTMapper
	// access answers whether a query's author may list its target.
	access *accessReviewer
	// recheck is how often an answered or forbidden query is evaluated again.
	recheck time.Duration
	// policies tells whether the API server records query authors; shared by both kinds.
	policies *policyProbe
	// epoch locates the author epoch ConfigMap; a query is answered only when its author record
	// names the epoch's UID.
	epoch types.NamespacedName
}

func (r *reconciler[T]) setup(mgr ctrl.Manager, store *index.Store, cat *catalog.Catalog, opts Options, name string) error {
	r.client = mgr.GetClient()
	r.store = store
	r.catalog = cat
	r.live = newLiveQueries(opts.RequeryInterval)
	r.recorder = mgr.GetEventRecorder(name + "-controller")
	r.mapper = mgr.GetRESTMapper()
	r.access = newAccessReviewer(mgr.GetClient(), opts.AccessCacheTTL)
	r.recheck = opts.AccessRecheckInterval
	r.epoch = opts.AuthorEpoch
	cat.Subscribe(r.live.onChange, r.live.wants)
	err := ctrl.NewControllerManagedBy(mgr).
		// Status writes bump neither the generation nor anything the query depends on.
		For(r.kind.newObject(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A ResourceIndex that appears, fails or goes away changes what queries on its target
		// report before the catalog hears of it.
		Watches(&searchv1alpha1.ResourceIndex{},
			handler.EnqueueRequestsFromMapFunc(r.queriesOnTargetOf),
			builder.WithPredicates(resourceIndexStateChanged)).
		// A new or deleted author epoch makes the records of all queries current or dead.
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.everyQuery),
			builder.WithPredicates(isEpoch(r.epoch))).
		WatchesRawSource(r.live.source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Named(name).
		Complete(r)
	if err != nil {
		return fmt.Errorf("building the %s controller: %w", r.kind.name, err)
	}
	return nil
}

// Reconcile evaluates one query and writes its status when it changed.
func (r *reconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.kind.newObject()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.live.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting %s %s: %w", r.kind.name, req.NamespacedName, err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		r.live.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	old, ok := obj.DeepCopyObject().(T)
	if !ok {
		return ctrl.Result{}, fmt.Errorf("copying %s %s: unexpected type %T", r.kind.name, req.NamespacedName, obj.DeepCopyObject())
	}
	spec, namespaces, status := r.kind.view(obj)
	out, err := r.evaluate(ctx, req.NamespacedName, obj.GetAnnotations(), spec, namespaces)
	if err != nil {
		return ctrl.Result{}, err
	}
	_, _, oldStatus := r.kind.view(old)
	applyOutcome(status, obj.GetGeneration(), out)
	if !equality.Semantic.DeepEqual(oldStatus, status) {
		// The patch is the difference from the cached object, so it must apply to that version
		// only: from an older one, a part equal in both (a list such as the conditions) would be
		// left out of the patch and keep what a later write put there.
		if err := r.client.Status().Patch(ctx, obj, client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsNotFound(err) {
				r.live.forget(req.NamespacedName)
				return ctrl.Result{}, nil
			}
			if apierrors.IsConflict(err) {
				// The cache is behind a write of ours; evaluate again once it has caught up.
				return ctrl.Result{RequeueAfter: conflictRetry}, nil
			}
			return ctrl.Result{}, fmt.Errorf("patching the status of %s %s: %w", r.kind.name, req.NamespacedName, err)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Updated query status", r.kind.name, klog.KObj(obj),
			"reason", out.reason, "total", status.Total, "count", status.Count)
	}
	r.recordTransition(obj, readyReason(oldStatus), out)

	if out.reason == searchv1alpha1.ReasonInvalidQuery {
		// Only a change of the spec can fix the query, and that triggers a new reconcile.
		return ctrl.Result{}, reconcile.TerminalError(out.err)
	}
	if out.reason == searchv1alpha1.ReasonSucceeded || out.reason == searchv1alpha1.ReasonForbidden {
		// The author's access can change without any event that reaches this controller.
		return ctrl.Result{RequeueAfter: r.recheck}, nil
	}
	return ctrl.Result{}, nil
}

// evaluate runs the query and says what came of it. It returns an error only for failures that
// a retry can fix; problems with the query itself are reported in the outcome. Nothing is read
// from the index before the author recorded in annotations is known to be allowed to list the target.
func (r *reconciler[T]) evaluate(
	ctx context.Context, key types.NamespacedName, annotations map[string]string, spec *searchv1alpha1.QuerySpec, namespaces []string,
) (outcome, error) {
	ispec, err := query.FromAPI(spec, namespaces)
	if err != nil {
		r.live.forget(key)
		return invalidQuery(err), nil
	}
	q, err := query.Compile(ispec)
	if err != nil {
		r.live.forget(key)
		if errors.Is(err, query.ErrInvalidQuery) {
			return invalidQuery(err), nil
		}
		return outcome{}, fmt.Errorf("compiling the query: %w", err)
	}
	// Track before reading the catalog and the index: a change committed after this point is
	// published after it too, and then re-queues the query.
	r.live.track(key, q)

	kind, ok := r.catalog.Get(ispec.GVK)
	switch {
	case ok && !kind.Namespaced && r.kind.namespacedOnly:
		return invalidQuery(clusterScopedTarget(ispec.GVK, spec.Target)), nil
	case ok && !kind.Namespaced && len(namespaces) > 0:
		return invalidQuery(namespacesOnClusterScoped(spec.Target)), nil
	}
	denied, err := r.authorize(ctx, annotations, ispec.GVK, namespaces)
	switch {
	case errors.Is(err, errTargetNotServed) && ok:
		// The CRD is gone and the mirror is about to stop.
		return resourceNotIndexed(spec.Target), nil
	case errors.Is(err, errTargetNotServed):
		return r.notMirrored(ctx, spec.Target)
	case err != nil:
		return outcome{}, err
	case denied != nil:
		return *denied, nil
	case !ok:
		return r.notMirrored(ctx, spec.Target)
	case !kind.Synced:
		return indexNotReady(spec.Target, kind.Index), nil
	}
	clusters, skipped, denied, err := r.clusters(ctx, annotations, ispec.Clusters)
	switch {
	case err != nil:
		return outcome{}, err
	case denied != nil:
		return *denied, nil
	case len(ispec.Clusters) > 0 && len(clusters) == 0:
		// Only clusters that are not MemberClusters: nothing of them may be read.
		return succeeded(index.Page{}), nil
	}
	stale, mirrored, err := r.staleClusters(ctx, kind.Index)
	if err != nil {
		return outcome{}, err
	}
	clusters, none := narrowStale(spec.Stale, clusters, mirrored, stale)
	switch {
	case none:
		return succeeded(index.Page{}), nil
	case !slices.Equal(clusters, ispec.Clusters):
		ispec.Clusters = clusters
		if q, err = query.Compile(ispec); err != nil {
			return outcome{}, fmt.Errorf("compiling the query for the clusters its author may search: %w", err)
		}
		r.live.track(key, q)
	}

	start := time.Now()
	page, err := r.store.Search(ctx, q, spec.Continue)
	r.live.observe(key, q, time.Since(start))
	switch {
	case err == nil:
		o := succeeded(page)
		o.stale = stale
		if len(o.stale) > 0 && spec.Stale != searchv1alpha1.StaleExclude {
			o.message += fmt.Sprintf("; results from MemberClusters %s are as last seen: their mirror is not Ready "+
				"(see status.clusters of ResourceIndex %s)", strings.Join(sortedSet(o.stale), ", "), kind.Index)
		}
		if len(skipped) > 0 {
			o.message += fmt.Sprintf("; MemberClusters %s are left out: the author may not search them (verb %q on memberclusters)",
				strings.Join(skipped, ", "), searchv1alpha1.VerbSearch)
		}
		return o, nil
	case errors.Is(err, query.ErrInvalidQuery):
		// A bad continue token stays bad until the spec changes.
		r.live.forget(key)
		return invalidQuery(err), nil
	case errors.Is(err, index.ErrKindNotRegistered):
		// The mirror is starting or stopping; the catalog announces the outcome.
		return resourceNotIndexed(spec.Target), nil
	default:
		return outcome{}, fmt.Errorf("searching %s: %w", spec.Target.String(), err)
	}
}

// conflictRetry is how soon a status write that found a newer object than the cache's is
// tried again.
const conflictRetry = 100 * time.Millisecond

// listKeys returns a function that lists the queries of a kind and returns their keys.
func listKeys(newList func() client.ObjectList) func(context.Context, client.Reader) ([]types.NamespacedName, error) {
	return func(ctx context.Context, c client.Reader) ([]types.NamespacedName, error) {
		l := newList()
		if err := c.List(ctx, l); err != nil {
			return nil, err
		}
		var keys []types.NamespacedName
		err := meta.EachListItem(l, func(o kruntime.Object) error {
			obj, ok := o.(client.Object)
			if !ok {
				return fmt.Errorf("a list item of type %T is not an object", o)
			}
			keys = append(keys, client.ObjectKeyFromObject(obj))
			return nil
		})
		return keys, err
	}
}
