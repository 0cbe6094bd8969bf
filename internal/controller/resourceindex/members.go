package resourceindex

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/controller/members"
	"github.com/kubesift/kubesift/internal/mirror"
)

// +kubebuilder:rbac:groups=search.kubesift.io,resources=memberclusters,verbs=get;list;watch

// Reasons of a member cluster's entry in a ResourceIndex's status.clusters.
const (
	clusterSynced           = "Synced"
	clusterSyncing          = "Syncing"
	clusterNotReady         = "ClusterNotReady"
	clusterNotConnected     = "NotConnected"
	clusterResourceNotFound = "ResourceNotFound"
	clusterForbidden        = "Forbidden"
	clusterWriteFailed      = "IndexWriteFailed"
)

// maxClusters bounds the members one ResourceIndex mirrors (status.clusters holds one entry each).
const maxClusters = 256

// memberKey names the mirror of a kind in a member cluster.
type memberKey struct {
	cluster string
	gvk     schema.GroupVersionKind
}

// memberMirror is a running mirror of a kind in a member cluster.
type memberMirror struct {
	m     *mirror.Mirror
	epoch uint64 // the connection's epoch it was built on
}

// memberClients are the clients of one member connection.
type memberClients struct {
	epoch    uint64
	mapper   meta.RESTMapper
	rest     rest.Interface
	metadata metadata.Interface
}

// reconcileMembers makes the kind's mirrors in member clusters match the ResourceIndex's
// spec.clusters, and reports each selected member's state. Members no longer selected lose
// their mirror and their rows.
func (r *Reconciler) reconcileMembers(
	ctx context.Context, ri *searchv1alpha1.ResourceIndex, gvk schema.GroupVersionKind, namespaced bool, fields []string,
) ([]searchv1alpha1.ClusterIndexStatus, error) {
	want := map[string]bool{}
	var statuses []searchv1alpha1.ClusterIndexStatus
	var errs []error
	if sel := ri.Spec.Clusters; sel != nil {
		s, err := metav1.LabelSelectorAsSelector(&sel.Selector)
		if err != nil {
			return nil, reconcile.TerminalError(fmt.Errorf("spec.clusters.selector: %w", err))
		}
		var list searchv1alpha1.MemberClusterList
		if err := r.List(ctx, &list, client.MatchingLabelsSelector{Selector: s}); err != nil {
			return nil, fmt.Errorf("listing MemberClusters: %w", err)
		}
		slices.SortFunc(list.Items, func(a, b searchv1alpha1.MemberCluster) int {
			return strings.Compare(a.Name, b.Name)
		})
		for i := range list.Items {
			mc := &list.Items[i]
			if !mc.DeletionTimestamp.IsZero() || len(statuses) == maxClusters {
				continue
			}
			want[mc.Name] = true
			st, err := r.reconcileMember(ctx, ri, gvk, namespaced, fields, mc.Name)
			if err != nil {
				errs = append(errs, err)
			}
			statuses = append(statuses, st)
		}
	}
	for _, key := range r.memberKeys(gvk) {
		if !want[key.cluster] {
			errs = append(errs, r.dropMember(ctx, key))
		}
	}
	return statuses, errors.Join(errs...)
}

// reconcileMember starts, rebuilds or keeps the kind's mirror in one member and reports its
// state. A member without a connection or that does not answer keeps its rows as last seen.
func (r *Reconciler) reconcileMember(
	ctx context.Context, ri *searchv1alpha1.ResourceIndex, gvk schema.GroupVersionKind, namespaced bool, fields []string, name string,
) (searchv1alpha1.ClusterIndexStatus, error) {
	st := searchv1alpha1.ClusterIndexStatus{Name: name}
	key := memberKey{cluster: name, gvk: gvk}
	target := ri.Spec.Target.String()
	count := func() {
		if n, err := r.store.CountIn(ctx, gvk, name); err == nil {
			st.ObjectCount = n
		}
	}
	conn, ok := r.members.Get(name)
	if !ok {
		r.stopMember(ctx, key, false)
		count()
		st.Reason = clusterNotConnected
		st.Message = fmt.Sprintf("MemberCluster %s has no connection (see its Ready condition); its objects stay in the index as last seen", name)
		return st, nil
	}
	mm := r.memberMirrorOf(key)
	if mm != nil && (mm.epoch != conn.Epoch || mm.m.Namespaced() != namespaced) {
		// A new kubeconfig: a new mirror relists, which replaces the member's rows exactly.
		r.stopMember(ctx, key, false)
		mm = nil
	}
	if mm == nil {
		if !conn.Ready {
			count()
			st.Reason = clusterNotReady
			st.Message = fmt.Sprintf("MemberCluster %s does not answer: %s; its objects stay in the index as last seen", name, conn.Message)
			return st, nil
		}
		mc, err := r.memberClients(name, conn)
		if err != nil {
			return st, err
		}
		mapping, err := mc.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil && (mapping.Scope.Name() == meta.RESTScopeNameNamespace) != namespaced {
			err = &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
		}
		if err == nil {
			_, err = mc.metadata.Resource(mapping.Resource).List(ctx, metav1.ListOptions{Limit: 1})
		}
		switch {
		case err == nil:
		case isNoMatch(err) || apierrors.IsNotFound(err):
			meta.MaybeResetRESTMapper(mc.mapper)
			st.Reason = clusterResourceNotFound
			st.Message = fmt.Sprintf("MemberCluster %s does not serve %s (with the scope it has here); other clusters are mirrored", name, target)
			return st, r.dropRows(ctx, key)
		case apierrors.IsForbidden(err):
			count()
			st.Reason = clusterForbidden
			st.Message = fmt.Sprintf("The kubeconfig of MemberCluster %s may not list %s there: "+
				"grant its user list and watch on it (see docs/multicluster.md)", name, target)
			return st, nil
		default:
			count()
			st.Reason = clusterNotReady
			st.Message = fmt.Sprintf("Listing %s in MemberCluster %s: %v; its objects stay in the index as last seen", target, name, err)
			return st, nil
		}
		m := r.writer.NewMirror(mirror.Config{
			GVK: gvk, Namespaced: namespaced, Cluster: name, Owner: ri.Name, Fields: fields,
			ListerWatcher: mirror.NewListerWatcher(mc.rest, mapping.Resource),
		})
		mm = &memberMirror{m: m, epoch: conn.Epoch}
		r.mu.Lock()
		r.memberMirrors[key] = mm
		r.mu.Unlock()
		// The mirror outlives this reconcile: it runs until stopped or until the manager stops.
		m.Start(context.WithoutCancel(ctx))
		ctrl.LoggerFrom(ctx).Info("Started mirroring a member cluster", "cluster", name)
	} else if mm.m.Owner() != ri.Name || !slices.Equal(mm.m.Fields(), fields) {
		mm.m.SetOwner(ri.Name, fields)
	}
	count()
	switch {
	case mm.m.Failure() != nil:
		st.Reason = clusterWriteFailed
		st.Message = fmt.Sprintf("Writing objects of MemberCluster %s to the index fails, retrying with backoff: %v", name, mm.m.Failure())
	case !conn.Ready:
		st.Reason = clusterNotReady
		st.Message = fmt.Sprintf("MemberCluster %s does not answer: %s; "+
			"its objects stay in the index as last seen and catch up when it answers", name, conn.Message)
	case !mm.m.Synced():
		st.Reason = clusterSyncing
		st.Message = fmt.Sprintf("Loading the objects of %s from MemberCluster %s", target, name)
	default:
		st.Ready = true
		st.Reason = clusterSynced
		st.Message = fmt.Sprintf("The index mirrors every %s object of MemberCluster %s", target, name)
	}
	return st, nil
}

// memberClients returns the clients of a member's connection, built once per connection epoch.
func (r *Reconciler) memberClients(name string, conn members.Conn) (*memberClients, error) {
	r.mu.Lock()
	mc := r.clients[name]
	r.mu.Unlock()
	if mc != nil && mc.epoch == conn.Epoch {
		return mc, nil
	}
	mapper, err := apiutil.NewDynamicRESTMapper(conn.Config, conn.HTTP)
	if err != nil {
		return nil, fmt.Errorf("creating a REST mapper for MemberCluster %s: %w", name, err)
	}
	rc, err := mirror.NewRESTClient(conn.Config, conn.HTTP)
	if err != nil {
		return nil, fmt.Errorf("creating a REST client for MemberCluster %s: %w", name, err)
	}
	md, err := metadata.NewForConfigAndClient(conn.Config, conn.HTTP)
	if err != nil {
		return nil, fmt.Errorf("creating a metadata client for MemberCluster %s: %w", name, err)
	}
	mc = &memberClients{epoch: conn.Epoch, mapper: mapper, rest: rc, metadata: md}
	r.mu.Lock()
	r.clients[name] = mc
	r.mu.Unlock()
	return mc, nil
}

func (r *Reconciler) memberMirrorOf(key memberKey) *memberMirror {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.memberMirrors[key]
}

// memberKeys lists the kind's member mirrors (every kind's for an empty gvk).
func (r *Reconciler) memberKeys(gvk schema.GroupVersionKind) []memberKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []memberKey
	for k := range r.memberMirrors {
		if gvk.Empty() || k.gvk == gvk {
			out = append(out, k)
		}
	}
	return out
}

// stopMember stops a member's mirror of a kind, keeping its rows unless drop is set.
func (r *Reconciler) stopMember(ctx context.Context, key memberKey, drop bool) {
	r.mu.Lock()
	mm := r.memberMirrors[key]
	delete(r.memberMirrors, key)
	r.mu.Unlock()
	if mm != nil {
		mm.m.Stop()
		ctrl.LoggerFrom(ctx).Info("Stopped mirroring a member cluster", "cluster", key.cluster, "keepRows", !drop)
	}
}

// dropMember stops a member's mirror of a kind and deletes its rows: the member is no longer
// selected, or gone.
func (r *Reconciler) dropMember(ctx context.Context, key memberKey) error {
	r.stopMember(ctx, key, true)
	return r.dropRows(ctx, key)
}

// dropRows deletes a member's rows of a kind, and has the live queries on the kind evaluated
// again.
func (r *Reconciler) dropRows(ctx context.Context, key memberKey) error {
	var err error
	n := 0
	r.writer.WithLock(func() {
		if r.store.Registered(key.gvk) {
			n, err = r.store.DropCluster(key.gvk, key.cluster, nil)
		}
	})
	if err != nil {
		return fmt.Errorf("dropping the rows of MemberCluster %s: %w", key.cluster, err)
	}
	if n > 0 {
		r.cat.Publish(catalog.Change{GVK: key.gvk})
		ctrl.LoggerFrom(ctx).Info("Dropped a member cluster's objects", "cluster", key.cluster, "objects", n)
	}
	return nil
}

// stopMembers stops every member mirror of a kind whose rows go with the kind.
func (r *Reconciler) stopMembers(ctx context.Context, gvk schema.GroupVersionKind) {
	for _, key := range r.memberKeys(gvk) {
		r.stopMember(ctx, key, true)
	}
}

// indicesOfMembers maps a MemberCluster change to the ResourceIndex objects that select
// clusters, so that label changes and new members are picked up at once.
func (r *Reconciler) indicesOfMembers(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.requestsFor(ctx, func(o *searchv1alpha1.ResourceIndex) bool { return o.Spec.Clusters != nil })
}

// memberChanged asks for a reconcile of every ResourceIndex that selects clusters when a
// member's connection changes. It never blocks the registry.
func (r *Reconciler) memberChanged(string) {
	go func() {
		for _, req := range r.indicesOfMembers(context.Background(), nil) {
			r.refresh(req.Name)
		}
	}()
}
