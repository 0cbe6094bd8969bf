package resourceindex

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

// writeLog records the requests that would change ResourceIndex objects.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (l *writeLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && strings.Contains(req.URL.Path, "/resourceindices") {
			l.mu.Lock()
			l.writes = append(l.writes, req.Method+" "+req.URL.Path)
			l.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (l *writeLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.writes...)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestFollowerMirrorsWithoutWriting runs a second manager that another replica's lease keeps a
// follower: it mirrors the kind into its own index, so that its read API can answer, and never
// writes to the ResourceIndex, whose status belongs to the leader (the suite's manager).
func TestFollowerMirrorsWithoutWriting(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const leaseNS, leaseName = "follower-lease", "follower-test.search.kubesift.io"
	newNamespace(t, leaseNS)
	g.Expect(k8sClient.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: leaseNS, Name: leaseName},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("another-replica"),
			LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime:          &metav1.MicroTime{Time: time.Now()},
			RenewTime:            &metav1.MicroTime{Time: time.Now()},
		},
	})).To(Succeed())

	writes := &writeLog{}
	cfg := rest.CopyConfig(testEnv.Config)
	cfg.WrapTransport = writes.wrap
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          true,
		LeaderElectionID:        leaseName,
		LeaderElectionNamespace: leaseNS,
		// The suite's manager already runs a controller of the same name in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	followerStore, err := index.Open(index.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = followerStore.Close() }()
	followerCat := catalog.New()
	g.Expect(setupWithManager(mgr, followerStore, followerStore, followerCat, nil)).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		g.Eventually(done, timeout).Should(Receive(BeNil()))
	}()

	newNamespace(t, "follower")
	for _, name := range []string{"one", "two"} {
		g.Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "follower", Name: name},
			Data:       map[string]string{"role": name},
		})).To(Succeed())
	}
	newResourceIndex(t, "follower-configmaps", "v1", "ConfigMap", "data.role")
	defer deleteResourceIndex(t, "follower-configmaps")
	eventuallyReason(t, "follower-configmaps", searchv1alpha1.ReasonSynced)

	q, err := query.Compile(query.Spec{GVK: configMapGVK, Namespaces: []string{"follower"}, Limit: query.MaxLimit,
		Fields: []query.FieldPredicate{field("data.role", query.OpIn, "one", "two")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		state, ok := followerCat.Get(configMapGVK)
		g.Expect(ok).To(BeTrue())
		g.Expect(state.Synced).To(BeTrue())
		page, err := followerStore.Search(ctx, q, "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(page.Items).To(HaveLen(2))
	}, timeout, interval).Should(Succeed())

	g.Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "follower", Name: "three"},
		Data:       map[string]string{"role": "one"},
	})).To(Succeed())
	g.Eventually(func(g Gomega) {
		page, err := followerStore.Search(ctx, q, "")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(page.Items).To(HaveLen(3))
	}, timeout, interval).Should(Succeed())

	g.Expect(writes.all()).To(BeEmpty(), "a follower writes nothing to ResourceIndex objects")
}
