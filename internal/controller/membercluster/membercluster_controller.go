package membercluster

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/members"
)

// +kubebuilder:rbac:groups=search.kubesift.io,resources=memberclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=search.kubesift.io,resources=memberclusters/status,verbs=get;update;patch

// DefaultProbeInterval is how often a member's health is probed.
const DefaultProbeInterval = 30 * time.Second

// Options configure the MemberCluster controller.
type Options struct {
	// ProbeInterval is how often each member is probed; zero means DefaultProbeInterval.
	ProbeInterval time.Duration
	// Members receives each member's connection and readiness; nil keeps them to itself.
	Members *members.Registry
}

// Reconciler connects to the clusters that MemberCluster objects name and reports their health.
type Reconciler struct {
	client.Client
	// secrets reads kubeconfig Secrets from the API server directly: the manager may read only
	// the Secrets it is granted by name, so it cannot cache Secrets.
	secrets  client.Reader
	recorder recorder.EventRecorder
	watches  *secretWatches
	interval time.Duration
	// refreshCh carries requests to reconcile a MemberCluster whose Secret changed.
	refreshCh chan event.TypedGenericEvent[*searchv1alpha1.MemberCluster]
	// elected is closed once this replica leads; only the leader writes to MemberCluster objects.
	elected <-chan struct{}

	mu      sync.Mutex
	conns   map[string]*connection
	members *members.Registry
}

// SetupWithManager registers the MemberCluster controller with the manager.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	cs, err := kubernetes.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("creating a clientset: %w", err)
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		secrets:   mgr.GetAPIReader(),
		recorder:  mgr.GetEventRecorder("membercluster-controller"),
		interval:  opts.ProbeInterval,
		refreshCh: make(chan event.TypedGenericEvent[*searchv1alpha1.MemberCluster], 256),
		elected:   mgr.Elected(),
		conns:     map[string]*connection{},
		members:   opts.Members,
	}
	if r.members == nil {
		r.members = members.New()
	}
	if r.interval <= 0 {
		r.interval = DefaultProbeInterval
	}
	r.watches = newSecretWatches(cs, r.refresh)
	// The Secret watches run until the manager stops.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		r.watches.stopAll()
		return nil
	})); err != nil {
		return fmt.Errorf("adding the Secret watches: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Status writes do not change the generation: without the predicate, each probe's
		// lastContactTime would cause the next probe at once.
		For(&searchv1alpha1.MemberCluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(r.refreshCh, &handler.TypedEnqueueRequestForObject[*searchv1alpha1.MemberCluster]{})).
		WithOptions(controller.Options{
			// A probe can wait for a slow member; others should not wait behind it.
			MaxConcurrentReconciles: 4,
			// Every replica connects, as every replica mirrors; only the leader writes status.
			NeedLeaderElection: ptr.To(false),
		}).
		Named("membercluster").
		Complete(r)
}

// Reconcile reads the member's kubeconfig, connects, probes the member and reports the result.
// It runs again every probe interval, and at once when the member's Secret changes.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	mc := &searchv1alpha1.MemberCluster{}
	if err := r.Get(ctx, req.NamespacedName, mc); err != nil {
		if apierrors.IsNotFound(err) {
			r.watches.forget(req.Name)
			r.setConnection(req.Name, nil)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting MemberCluster: %w", err)
	}
	if !mc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	ref := secretRef(mc)
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("secret", ref.String()))
	r.watches.watch(ctx, mc.Name, ref)

	base := mc.DeepCopy()
	o, err := r.connect(ctx, mc)
	if o.reason == "" {
		// A transient failure reading the Secret: the status keeps saying what it said.
		return ctrl.Result{}, err
	}
	if !r.leading() {
		return ctrl.Result{RequeueAfter: r.interval}, nil
	}
	applyOutcome(&mc.Status, mc.Generation, o, metav1.NewTime(time.Now().Truncate(time.Second)))
	if !equality.Semantic.DeepEqual(base.Status, mc.Status) {
		// Optimistic: a patch computed from a cache that is behind would leave out what the
		// cached and the new status share, and keep a later write's value there.
		err := r.Status().Patch(ctx, mc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
		}
	}
	if prev := readyReason(&base.Status); prev != o.reason {
		r.recordTransition(ctx, mc, o)
	}
	return ctrl.Result{RequeueAfter: r.interval}, nil
}

// connect builds or reuses the member's connection and probes it. An outcome with an empty
// reason means a transient error that a retry will fix.
func (r *Reconciler) connect(ctx context.Context, mc *searchv1alpha1.MemberCluster) (outcome, error) {
	ref := secretRef(mc)
	key := secretKey(mc)
	data, o, err := r.readKubeconfig(ctx, ref, key)
	if o.reason != "" || err != nil {
		r.setConnection(mc.Name, nil)
		return o, err
	}

	conn := r.connection(mc.Name)
	if conn == nil || conn.sum != sha256.Sum256(data) {
		c, err := newConnection(data)
		if err != nil {
			r.setConnection(mc.Name, nil)
			return outcome{
				reason: searchv1alpha1.ReasonInvalidKubeconfig,
				message: fmt.Sprintf("Key %q of Secret %s is not a kubeconfig kubesift can use: %v. "+
					"Put an inline kubeconfig there, as `kubectl config view --minify --flatten` writes it", key, ref, err),
				stalled: true,
			}, nil
		}
		if conn != nil {
			ctrl.LoggerFrom(ctx).Info("The kubeconfig changed, reconnecting", "memberCluster", klog.KObj(mc))
		}
		conn = c
		r.setConnection(mc.Name, conn)
	}
	serverVersion, perr := conn.probe(ctx)
	o = probeOutcome(conn.config.Host, ref.String(), serverVersion, perr, r.interval)
	r.members.Set(mc.Name, conn.config, conn.http, o.ready(), o.message)
	return o, nil
}

// readKubeconfig returns the kubeconfig in the Secret's key, or the outcome that says why it
// cannot.
func (r *Reconciler) readKubeconfig(ctx context.Context, ref types.NamespacedName, key string) ([]byte, outcome, error) {
	sec := &corev1.Secret{}
	err := r.secrets.Get(ctx, ref, sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, outcome{
			reason: searchv1alpha1.ReasonSecretNotFound,
			message: fmt.Sprintf("Secret %s does not exist: create it with the member's kubeconfig under key %q, "+
				"or correct spec.kubeconfigSecretRef", ref, key),
			stalled: true,
		}, nil
	case apierrors.IsForbidden(err):
		return nil, outcome{
			reason: searchv1alpha1.ReasonSecretForbidden,
			message: fmt.Sprintf("The manager may not read Secret %s: grant its ServiceAccount get, list and watch on "+
				"that Secret with a Role in namespace %s that names it in resourceNames (see docs/multicluster.md)",
				ref, ref.Namespace),
			stalled: true,
		}, nil
	case err != nil:
		return nil, outcome{}, fmt.Errorf("reading Secret %s: %w", ref, err)
	}
	data, ok := sec.Data[key]
	if !ok || len(data) == 0 {
		return nil, outcome{
			reason: searchv1alpha1.ReasonSecretKeyNotFound,
			message: fmt.Sprintf("Secret %s has no data under key %q (its keys: %s): "+
				"correct spec.kubeconfigSecretRef.key or the Secret", ref, key, keysOf(sec)),
			stalled: true,
		}, nil
	}
	return data, outcome{}, nil
}

func (r *Reconciler) connection(name string) *connection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[name]
}

// setConnection replaces a member's connection; nil removes it.
func (r *Reconciler) setConnection(name string, c *connection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.conns[name]
	if old == c {
		return
	}
	if old != nil {
		old.close()
	}
	if c == nil {
		delete(r.conns, name)
		r.members.Remove(name)
		return
	}
	r.conns[name] = c
}

// refresh asks for a reconcile of the named MemberCluster. It never blocks the caller.
func (r *Reconciler) refresh(name string) {
	ev := event.TypedGenericEvent[*searchv1alpha1.MemberCluster]{
		Object: &searchv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}},
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

// leading reports whether this replica is the leader (or runs without leader election).
func (r *Reconciler) leading() bool {
	select {
	case <-r.elected:
		return true
	default:
		return false
	}
}

// recordTransition emits an event when the Ready reason changes.
func (r *Reconciler) recordTransition(ctx context.Context, mc *searchv1alpha1.MemberCluster, o outcome) {
	typ := corev1.EventTypeWarning
	if o.ready() {
		typ = corev1.EventTypeNormal
	}
	r.recorder.Eventf(mc, nil, typ, o.reason, "Probe", "%s", o.message)
	ctrl.LoggerFrom(ctx).V(1).Info("MemberCluster changed state", "memberCluster", klog.KObj(mc), "reason", o.reason)
}

// secretRef returns the Secret that holds the member's kubeconfig.
func secretRef(mc *searchv1alpha1.MemberCluster) types.NamespacedName {
	return types.NamespacedName{Namespace: mc.Spec.KubeconfigSecretRef.Namespace, Name: mc.Spec.KubeconfigSecretRef.Name}
}

// secretKey returns the key of the Secret that holds the kubeconfig.
func secretKey(mc *searchv1alpha1.MemberCluster) string {
	if k := mc.Spec.KubeconfigSecretRef.Key; k != "" {
		return k
	}
	return searchv1alpha1.DefaultKubeconfigKey
}

// keysOf lists a Secret's keys (never its values) for a message.
func keysOf(sec *corev1.Secret) string {
	if len(sec.Data) == 0 {
		return "none"
	}
	return strings.Join(sortedKeys(sec.Data), ", ")
}

// conflictRetry is how soon a status write that found a newer object than the cache's is
// tried again.
const conflictRetry = 100 * time.Millisecond
