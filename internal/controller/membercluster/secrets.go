package membercluster

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// secretWatches watches each Secret that a MemberCluster references, by name, and reports its
// changes, so that a rotated kubeconfig reconnects at once. A watch of one Secret by name needs
// list and watch on that Secret only, which an RBAC Role can grant with resourceNames: the
// manager never needs access to every Secret. The watches keep no Secret data in memory.
type secretWatches struct {
	client kubernetes.Interface
	// changed is called with the name of each MemberCluster whose Secret changed.
	changed func(member string)

	mu      sync.Mutex
	watches map[types.NamespacedName]*secretWatch
	// refs maps each MemberCluster to the Secret it references.
	refs map[string]types.NamespacedName
}

type secretWatch struct {
	stop    context.CancelFunc
	members map[string]struct{}
}

func newSecretWatches(client kubernetes.Interface, changed func(member string)) *secretWatches {
	return &secretWatches{
		client:  client,
		changed: changed,
		watches: map[types.NamespacedName]*secretWatch{},
		refs:    map[string]types.NamespacedName{},
	}
}

// watch makes sure the Secret of a MemberCluster is watched, and stops watching a Secret it
// referenced before if no other MemberCluster references that one.
func (s *secretWatches) watch(ctx context.Context, member string, secret types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.refs[member]; ok {
		if old == secret {
			return
		}
		s.releaseLocked(member, old)
	}
	s.refs[member] = secret
	w, ok := s.watches[secret]
	if !ok {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		w = &secretWatch{stop: cancel, members: map[string]struct{}{}}
		s.watches[secret] = w
		go s.run(wctx, secret)
	}
	w.members[member] = struct{}{}
}

// forget stops watching for a MemberCluster that no longer exists.
func (s *secretWatches) forget(member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.refs[member]; ok {
		s.releaseLocked(member, old)
		delete(s.refs, member)
	}
}

func (s *secretWatches) releaseLocked(member string, secret types.NamespacedName) {
	w, ok := s.watches[secret]
	if !ok {
		return
	}
	delete(w.members, member)
	if len(w.members) == 0 {
		w.stop()
		delete(s.watches, secret)
	}
}

// stopAll stops every watch; the manager is stopping.
func (s *secretWatches) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, w := range s.watches {
		w.stop()
		delete(s.watches, name)
	}
	clear(s.refs)
}

// membersOf returns the MemberClusters that reference a Secret.
func (s *secretWatches) membersOf(secret types.NamespacedName) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.watches[secret]
	if !ok {
		return nil
	}
	return sortedKeys(w.members)
}

// run watches one Secret until ctx ends. Failures (the Secret is not granted yet, the API server
// restarts) are retried with the informer's backoff; the MemberCluster's own probe reports them.
func (s *secretWatches) run(ctx context.Context, secret types.NamespacedName) {
	selector := fields.OneTermEqualSelector("metadata.name", secret.Name).String()
	secrets := s.client.CoreV1().Secrets(secret.Namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return secrets.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return secrets.Watch(ctx, opts)
		},
	}
	notify := func(any) {
		for _, m := range s.membersOf(secret) {
			s.changed(m)
		}
	}
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Secret{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { notify(obj) },
			UpdateFunc: func(_, obj any) { notify(obj) },
			DeleteFunc: notify,
		},
		// Only the resource version is kept: enough to tell a change, and no credentials in memory.
		Transform: stripSecret,
	})
	informer.RunWithContext(ctx)
}

// stripSecret keeps a Secret's identity and resource version only.
func stripSecret(obj any) (any, error) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace:       sec.Namespace,
		Name:            sec.Name,
		UID:             sec.UID,
		ResourceVersion: sec.ResourceVersion,
	}}, nil
}
