package resourceindex

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/controller/members"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/mirror"
	"github.com/kubesift/kubesift/internal/query"
)

// +kubebuilder:rbac:groups=search.kubesift.io,resources=resourceindices,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=search.kubesift.io,resources=resourceindices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=search.kubesift.io,resources=resourceindices/finalizers,verbs=update
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=selfsubjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// crdGVK is the kind whose changes can make a target appear or disappear.
var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// Reconciler mirrors the kinds that ResourceIndex objects name into the index.
type Reconciler struct {
	client.Client
	mapper   meta.RESTMapper
	metadata metadata.Interface
	rest     rest.Interface // lists and watches mirrored kinds
	store    *index.Store
	cat      *catalog.Catalog
	recorder recorder.EventRecorder
	writer   *mirror.Writer
	// refreshCh carries requests to reconcile a ResourceIndex from the writer: its kind synced,
	// or its object count may have changed.
	refreshCh chan event.TypedGenericEvent[*searchv1alpha1.ResourceIndex]
	// elected is closed once this replica leads; only the leader writes to ResourceIndex objects.
	elected <-chan struct{}

	// members holds the connections to member clusters that the MemberCluster controller made.
	members *members.Registry

	mu            sync.Mutex
	mirrors       map[schema.GroupVersionKind]*mirror.Mirror // the local cluster's
	memberMirrors map[memberKey]*memberMirror
	clients       map[string]*memberClients // by member
}

// SetupWithManager registers the ResourceIndex controller and the index writer with the manager.
// reg holds the member clusters' connections; nil mirrors the local cluster only.
func SetupWithManager(mgr ctrl.Manager, store *index.Store, cat *catalog.Catalog, reg *members.Registry) error {
	return setupWithManager(mgr, store, store, cat, reg)
}

// setupWithManager is SetupWithManager with the mirrors writing through writes, which tests
// use to make writes fail.
func setupWithManager(mgr ctrl.Manager, store *index.Store, writes mirror.Index, cat *catalog.Catalog, reg *members.Registry) error {
	if reg == nil {
		reg = members.New()
	}
	if err := mirror.RegisterMetrics(); err != nil {
		return err
	}
	md, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("creating a metadata client: %w", err)
	}
	rc, err := mirror.NewRESTClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("creating a REST client for mirrors: %w", err)
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		mapper:    mgr.GetRESTMapper(),
		metadata:  md,
		rest:      rc,
		store:     store,
		cat:       cat,
		recorder:  mgr.GetEventRecorder("resourceindex-controller"),
		refreshCh: make(chan event.TypedGenericEvent[*searchv1alpha1.ResourceIndex], 1024),
		mirrors:   map[schema.GroupVersionKind]*mirror.Mirror{},
		elected:   mgr.Elected(),
		members:   reg,

		memberMirrors: map[memberKey]*memberMirror{},
		clients:       map[string]*memberClients{},
	}
	reg.Subscribe(r.memberChanged)
	r.writer = mirror.NewWriter(writes, cat, r.refresh)
	if err := mgr.Add(r.writer); err != nil {
		return fmt.Errorf("adding the index writer: %w", err)
	}
	// A replica that becomes the leader has mirrored all along but written nothing: reconcile
	// every ResourceIndex once, so that their status describes the new leader's mirrors.
	if err := mgr.Add(manager.RunnableFunc(r.refreshAllWhenElected)); err != nil {
		return fmt.Errorf("adding the status refresh on election: %w", err)
	}

	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(crdGVK)
	return ctrl.NewControllerManagedBy(mgr).
		For(&searchv1alpha1.ResourceIndex{}).
		Watches(&searchv1alpha1.ResourceIndex{}, handler.EnqueueRequestsFromMapFunc(r.siblings)).
		Watches(crd, handler.EnqueueRequestsFromMapFunc(r.indicesOfCRD)).
		// Labels decide which members are selected; their readiness arrives through the registry,
		// so the status written at every probe is filtered out.
		Watches(&searchv1alpha1.MemberCluster{}, handler.EnqueueRequestsFromMapFunc(r.indicesOfMembers),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		WatchesRawSource(source.Channel(r.refreshCh, &handler.TypedEnqueueRequestForObject[*searchv1alpha1.ResourceIndex]{})).
		WithOptions(controller.Options{
			// A missing CRD or missing access is retried quickly at first, then once a minute.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](500*time.Millisecond, time.Minute),
			// Every replica mirrors, so that every replica's read API answers; Reconcile writes
			// only on the leader.
			NeedLeaderElection: ptr.To(false),
		}).
		Named("resourceindex").
		Complete(r)
}

// Reconcile starts, updates or stops the mirror of one ResourceIndex and reports its state.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ri := &searchv1alpha1.ResourceIndex{}
	if err := r.Get(ctx, req.NamespacedName, ri); err != nil {
		if apierrors.IsNotFound(err) {
			// The finalizer normally stops the mirror first; this covers a finalizer removed by hand.
			return ctrl.Result{}, r.releaseOwnedBy(ctx, req.Name)
		}
		return ctrl.Result{}, fmt.Errorf("getting ResourceIndex: %w", err)
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("target", ri.Spec.Target.String()))

	if !ri.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, ri)
	}
	if r.leading() && !controllerutil.ContainsFinalizer(ri, searchv1alpha1.FinalizerIndexCleanup) {
		patch := client.MergeFromWithOptions(ri.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(ri, searchv1alpha1.FinalizerIndexCleanup)
		if err := r.Patch(ctx, ri, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err)
		}
	}

	base := ri.DeepCopy()
	o, err := r.reconcileMirror(ctx, ri)
	if o.reason == "" {
		// A transient failure: the status keeps saying what it said.
		return ctrl.Result{}, err
	}
	if !r.leading() {
		return ctrl.Result{}, err
	}
	applyOutcome(&ri.Status, ri.Generation, o)
	if !equality.Semantic.DeepEqual(base.Status, ri.Status) {
		// Optimistic: a patch computed from a cache that is behind would leave out what the
		// cached and the new status share, and keep a later write's value there.
		perr := r.Status().Patch(ctx, ri, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(perr) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		if perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("patching status: %w", perr))
		}
	}
	if prev := readyReason(&base.Status); prev != o.reason {
		r.recordTransition(ctx, ri, o)
	}
	return ctrl.Result{}, err
}

// reconcileMirror makes the mirror of the ResourceIndex's kind match its spec. An outcome with
// an empty reason means the error is transient and the status should stay as it is.
func (r *Reconciler) reconcileMirror(ctx context.Context, ri *searchv1alpha1.ResourceIndex) (outcome, error) {
	gvk := ri.Spec.Target.GroupVersionKind()
	target := ri.Spec.Target.String()

	first, err := r.oldestFor(ctx, gvk)
	if err != nil {
		return outcome{}, err
	}
	if first != nil && first.Name != ri.Name {
		return outcome{
			reason: searchv1alpha1.ReasonDuplicate,
			message: fmt.Sprintf("ResourceIndex %q, created earlier, already mirrors %s; "+
				"this one takes over only if that one is deleted", first.Name, target),
			stalled: true,
		}, nil
	}

	mapping, err := r.resolveTarget(gvk)
	if err != nil {
		return r.unavailable(ctx, ri, gvk, err)
	}
	o, err := r.mirrorResolved(ctx, ri, gvk, mapping)
	switch o.reason {
	case searchv1alpha1.ReasonSynced, searchv1alpha1.ReasonSyncing, searchv1alpha1.ReasonIndexWriteFailed:
		namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
		var merr error
		o.clusters, merr = r.reconcileMembers(ctx, ri, gvk, namespaced, slices.Clone(ri.Spec.Fields))
		err = errors.Join(err, merr)
	}
	if o.reason != "" && o.reason != searchv1alpha1.ReasonResourceNotFound {
		// Published for the admission policy that checks a query's author against the target.
		o.resource = &searchv1alpha1.IndexedResource{Group: mapping.Resource.Group, Resource: mapping.Resource.Resource}
	}
	return o, err
}

// mirrorResolved is reconcileMirror once the target kind is known to map to a resource.
func (r *Reconciler) mirrorResolved(
	ctx context.Context, ri *searchv1alpha1.ResourceIndex, gvk schema.GroupVersionKind, mapping *meta.RESTMapping,
) (outcome, error) {
	log := ctrl.LoggerFrom(ctx)
	target := ri.Spec.Target.String()
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	m := r.mirrorOf(gvk)
	if m != nil && m.Namespaced() != namespaced {
		// The CRD was recreated with another scope.
		if err := r.stopMirror(ctx, m); err != nil {
			return outcome{}, err
		}
		m = nil
	}
	if err := r.checkAccess(ctx, gvk, mapping, m == nil); err != nil {
		return r.unavailable(ctx, ri, gvk, err)
	}

	fields := slices.Clone(ri.Spec.Fields)
	if m == nil || !slices.Equal(m.Fields(), fields) {
		var regErr error
		r.writer.WithLock(func() {
			regErr = r.store.Register(gvk, index.KindConfig{Namespaced: namespaced, Fields: fields})
		})
		if regErr != nil {
			if errors.Is(regErr, query.ErrInvalidQuery) {
				if err := r.dropKind(ctx, ri.Name, gvk); err != nil {
					return outcome{}, err
				}
				return outcome{
					reason:  searchv1alpha1.ReasonInvalidSpec,
					message: invalidSpecMessage(regErr),
					stalled: true,
				}, reconcile.TerminalError(regErr)
			}
			return outcome{}, fmt.Errorf("registering %s in the index: %w", target, regErr)
		}
		if m != nil {
			// The declarations decide the plan and the checks of every query on the kind:
			// evaluate them again.
			r.cat.Publish(catalog.Change{GVK: gvk})
		}
	}

	switch {
	case m == nil:
		m = r.startMirror(ctx, ri.Name, gvk, mapping.Resource, namespaced, fields)
		log.Info("Started mirroring", "namespaced", namespaced, "fields", fields)
	case m.Owner() != ri.Name || !slices.Equal(m.Fields(), fields):
		m.SetOwner(ri.Name, fields)
		r.cat.Set(gvk, catalog.Kind{Index: ri.Name, Namespaced: namespaced, Synced: m.Synced()})
	}

	if err := m.Failure(); err != nil {
		return outcome{
			reason: searchv1alpha1.ReasonIndexWriteFailed,
			message: fmt.Sprintf("Writing objects of %s to the index fails, retrying with backoff: %v. "+
				"Check the manager's log; with --index-path, check that the file is writable and its volume not full", target, err),
		}, nil
	}
	if !m.Synced() {
		return outcome{
			reason:  searchv1alpha1.ReasonSyncing,
			message: fmt.Sprintf("Loading the objects of %s into the index", target),
		}, nil
	}
	n, err := r.store.Count(gvk)
	if err != nil {
		return outcome{}, fmt.Errorf("counting %s: %w", target, err)
	}
	mirror.SetObjects(gvk, n)
	if size, err := r.store.Bytes(); err == nil {
		mirror.SetDatabaseBytes(size)
	}
	return outcome{
		reason:  searchv1alpha1.ReasonSynced,
		message: fmt.Sprintf("The index mirrors every %s object", target),
		count:   n,
	}, nil
}

// unavailable handles a target that cannot be mirrored now. A missing CRD or missing access
// stops the mirror and drops the kind's rows, and is retried with backoff; anything else is
// transient.
func (r *Reconciler) unavailable(
	ctx context.Context, ri *searchv1alpha1.ResourceIndex, gvk schema.GroupVersionKind, err error,
) (outcome, error) {
	var te *targetError
	if !errors.As(err, &te) {
		return outcome{}, err
	}
	if derr := r.dropKind(ctx, ri.Name, gvk); derr != nil {
		return outcome{}, derr
	}
	return outcome{reason: te.reason, message: te.msg}, err
}

// startMirror starts mirroring the kind. Until its initial list is committed, queries report
// that the index is loading.
func (r *Reconciler) startMirror(
	ctx context.Context, owner string, gvk schema.GroupVersionKind, gvr schema.GroupVersionResource, namespaced bool, fields []string,
) *mirror.Mirror {
	m := r.writer.NewMirror(mirror.Config{
		GVK:           gvk,
		Namespaced:    namespaced,
		Owner:         owner,
		Fields:        fields,
		ListerWatcher: mirror.NewListerWatcher(r.rest, gvr),
	})
	r.cat.Set(gvk, catalog.Kind{Index: owner, Namespaced: namespaced})
	r.mu.Lock()
	r.mirrors[gvk] = m
	r.mu.Unlock()
	// The mirror outlives this reconcile: it runs until stopped or until the manager stops.
	m.Start(context.WithoutCancel(ctx))
	return m
}

// stopMirror stops the mirror and drops the kind from the index and the catalog.
func (r *Reconciler) stopMirror(ctx context.Context, m *mirror.Mirror) error {
	r.mu.Lock()
	if r.mirrors[m.GVK()] == m {
		delete(r.mirrors, m.GVK())
	}
	r.mu.Unlock()
	m.Stop()
	ctrl.LoggerFrom(ctx).Info("Stopped mirroring")
	return r.unregister(m.GVK())
}

// unregister drops the kind's rows from the index and the kind from the catalog.
func (r *Reconciler) unregister(gvk schema.GroupVersionKind) error {
	// The kind's rows go, every cluster's.
	r.stopMembers(context.Background(), gvk)
	var err error
	r.writer.WithLock(func() {
		if r.store.Registered(gvk) {
			err = r.store.Unregister(gvk)
		}
	})
	if err != nil {
		return fmt.Errorf("dropping %s from the index: %w", mirror.KindLabel(gvk), err)
	}
	r.cat.Remove(gvk)
	mirror.ForgetObjects(gvk)
	return nil
}

// dropKind stops the kind's mirror if the named ResourceIndex owns it. Without a mirror it still
// drops rows a file-backed index kept from before a restart. Callers have checked that the named
// ResourceIndex is the oldest for the kind.
func (r *Reconciler) dropKind(ctx context.Context, name string, gvk schema.GroupVersionKind) error {
	m := r.mirrorOf(gvk)
	switch {
	case m == nil:
		return r.unregister(gvk)
	case m.Owner() == name:
		return r.stopMirror(ctx, m)
	default:
		return nil
	}
}

// finalize drops the kind's rows if the ResourceIndex mirrors it, then lets it go.
func (r *Reconciler) finalize(ctx context.Context, ri *searchv1alpha1.ResourceIndex) error {
	if !controllerutil.ContainsFinalizer(ri, searchv1alpha1.FinalizerIndexCleanup) {
		return nil
	}
	gvk := ri.Spec.Target.GroupVersionKind()
	first, err := r.oldestFor(ctx, gvk)
	if err != nil {
		return err
	}
	m := r.mirrorOf(gvk)
	if (m != nil && m.Owner() == ri.Name) || (m == nil && first != nil && first.Name == ri.Name) {
		if err := r.dropKind(ctx, ri.Name, gvk); err != nil {
			return err
		}
	}
	if !r.leading() {
		// The leader lets the object go once its own mirror is stopped.
		return nil
	}
	patch := client.MergeFromWithOptions(ri.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(ri, searchv1alpha1.FinalizerIndexCleanup)
	if err := r.Patch(ctx, ri, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the finalizer: %w", err)
	}
	return nil
}

// releaseOwnedBy stops the mirrors of a ResourceIndex that no longer exists.
func (r *Reconciler) releaseOwnedBy(ctx context.Context, name string) error {
	var errs []error
	for _, m := range r.mirrorsOwnedBy(name) {
		errs = append(errs, r.stopMirror(ctx, m))
	}
	return errors.Join(errs...)
}

func (r *Reconciler) mirrorOf(gvk schema.GroupVersionKind) *mirror.Mirror {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mirrors[gvk]
}

func (r *Reconciler) mirrorsOwnedBy(name string) []*mirror.Mirror {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*mirror.Mirror
	for _, m := range r.mirrors {
		if m.Owner() == name {
			out = append(out, m)
		}
	}
	return out
}

// oldestFor returns the ResourceIndex that mirrors gvk among all that name it, deleted ones
// included, so that a younger one takes over only once the older one is gone.
func (r *Reconciler) oldestFor(ctx context.Context, gvk schema.GroupVersionKind) (*searchv1alpha1.ResourceIndex, error) {
	var list searchv1alpha1.ResourceIndexList
	if err := r.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing ResourceIndex objects: %w", err)
	}
	same := slices.DeleteFunc(list.Items, func(ri searchv1alpha1.ResourceIndex) bool {
		return ri.Spec.Target.GroupVersionKind() != gvk
	})
	return oldest(same), nil
}

// siblings maps a ResourceIndex to the other ones that name the same kind, so that a younger
// duplicate takes over when the older one is deleted.
func (r *Reconciler) siblings(ctx context.Context, obj client.Object) []reconcile.Request {
	ri, ok := obj.(*searchv1alpha1.ResourceIndex)
	if !ok {
		return nil
	}
	gvk := ri.Spec.Target.GroupVersionKind()
	return r.requestsFor(ctx, func(o *searchv1alpha1.ResourceIndex) bool {
		return o.Name != ri.Name && o.Spec.Target.GroupVersionKind() == gvk
	})
}

// indicesOfCRD maps a CustomResourceDefinition, named "<plural>.<group>", to the ResourceIndex
// objects whose target is in its group, so that they react at once when it comes or goes.
func (r *Reconciler) indicesOfCRD(ctx context.Context, obj client.Object) []reconcile.Request {
	group := crdGroup(obj.GetName())
	if group == "" {
		return nil
	}
	return r.requestsFor(ctx, func(o *searchv1alpha1.ResourceIndex) bool {
		return o.Spec.Target.GroupVersionKind().Group == group
	})
}

// crdGroup returns the API group of a CRD from its name "<plural>.<group>".
func crdGroup(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return name[i+1:]
		}
	}
	return ""
}

func (r *Reconciler) requestsFor(ctx context.Context, match func(*searchv1alpha1.ResourceIndex) bool) []reconcile.Request {
	var list searchv1alpha1.ResourceIndexList
	if err := r.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Unable to list ResourceIndex objects")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// leading reports whether this replica is the leader (or runs without leader election).
func (r *Reconciler) leading() bool {
	select {
	case <-r.elected:
		return true
	default:
		return false
	}
}

// refreshAllWhenElected asks for a reconcile of every ResourceIndex once this replica leads.
// It runs as a leader-elected runnable, which may start just before elected is closed: it waits
// for it, so that the reconciles it asks for write.
func (r *Reconciler) refreshAllWhenElected(ctx context.Context) error {
	select {
	case <-r.elected:
	case <-ctx.Done():
		return nil
	}
	var list searchv1alpha1.ResourceIndexList
	// The list reads the cache, so it fails only while the manager stops.
	if err := r.List(ctx, &list); err != nil {
		return fmt.Errorf("listing ResourceIndex objects after the election: %w", err)
	}
	for i := range list.Items {
		r.refresh(list.Items[i].Name)
	}
	return nil
}

// refresh asks for a reconcile of the named ResourceIndex. It never blocks the writer.
func (r *Reconciler) refresh(name string) {
	if name == "" {
		return
	}
	ev := event.TypedGenericEvent[*searchv1alpha1.ResourceIndex]{
		Object: &searchv1alpha1.ResourceIndex{ObjectMeta: metav1.ObjectMeta{Name: name}},
	}
	select {
	case r.refreshCh <- ev:
	default:
		go func() {
			select {
			case r.refreshCh <- ev:
			case <-time.After(time.Minute):
			}
		}()
	}
}

// recordTransition emits an event when the Ready reason changes.
func (r *Reconciler) recordTransition(ctx context.Context, ri *searchv1alpha1.ResourceIndex, o outcome) {
	typ := corev1.EventTypeWarning
	if o.ready() || o.reconciling() {
		typ = corev1.EventTypeNormal
	}
	r.recorder.Eventf(ri, nil, typ, o.reason, "Mirror", "%s", o.message)
	ctrl.LoggerFrom(ctx).V(1).Info("ResourceIndex changed state", "resourceIndex", klog.KObj(ri), "reason", o.reason)
}

// invalidSpecMessage says which field of the spec the index rejected and why.
func invalidSpecMessage(err error) string {
	var qe *query.Error
	if errors.As(err, &qe) && qe.Field != "" {
		return "spec." + qe.Error()
	}
	return "spec.fields: " + err.Error()
}

// conflictRetry is how soon a status write that found a newer object than the cache's is
// tried again.
const conflictRetry = 100 * time.Millisecond
