package authorepoch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controlplane"
)

var (
	scheme = runtime.NewScheme()
	k8s    client.Client
	cfg    *rest.Config
	// cpErr says why the tests cannot run; they fail with it.
	cpErr error
	// epoch is the one of config/admission, in its namespace.
	epoch = admission.PlainEpoch
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{NoControllerManager: true})
	if err != nil {
		cpErr = err
		return max(m.Run(), 1)
	}
	defer func() { _ = cp.Stop() }()
	cfg = cp.RESTConfig()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		cpErr = err
		return max(m.Run(), 1)
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: epoch.Namespace}}); err != nil {
		cpErr = err
		return max(m.Run(), 1)
	}
	return m.Run()
}

func needControlPlane(t *testing.T) {
	t.Helper()
	if cpErr != nil {
		t.Fatalf("No control plane: %v", cpErr)
	}
}

// install creates or replaces the policies of config/admission.
func install(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admission.Install(ctx, k8s, filepath.Join("..", "..", "..", "config", "admission")); err != nil {
		t.Fatal(err)
	}
}

// startKeeper runs a manager with the keeper alone, as the manager binary sets it up, until the
// returned function is called.
func startKeeper(t *testing.T) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: CacheByObject(epoch)},
		// Each test starts a manager of its own, one after the other.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := SetupWithManager(mgr, epoch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
}

// current returns the epoch ConfigMap, or nil when there is none.
func current(g Gomega) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	err := k8s.Get(context.Background(), epoch.Key(), cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	g.Expect(err).NotTo(HaveOccurred())
	return cm
}

func uidOf(g Gomega) types.UID {
	cm := current(g)
	if cm == nil {
		return ""
	}
	return cm.UID
}

func deleteBinding(t *testing.T) {
	t.Helper()
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: epoch.AuthorPolicy}}
	if err := k8s.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func TestKeeper(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	install(t)

	first, err := epoch.Renew(ctx, k8s)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first.Data).To(HaveLen(4), "a record of the two policies and their bindings")
	g.Expect(first.Data).To(HaveKey("mutatingadmissionpolicy.query-author"))

	t.Run("a start keeps an epoch whose record matches", func(t *testing.T) {
		g := NewWithT(t)
		stop := startKeeper(t)
		defer stop()
		g.Consistently(uidOf, 3*time.Second, 100*time.Millisecond).Should(Equal(first.UID))
	})

	var second types.UID
	t.Run("a start renews an epoch whose record does not match", func(t *testing.T) {
		g := NewWithT(t)
		// While no manager runs, a binding goes away and comes back: its UID changes.
		deleteBinding(t)
		install(t)
		g.Expect(uidOf(g)).To(Equal(first.UID), "nothing renews the epoch while no manager runs")
		stop := startKeeper(t)
		defer stop()
		g.Eventually(uidOf, 30*time.Second, 100*time.Millisecond).ShouldNot(Or(Equal(first.UID), BeEmpty()))
		cm := current(g)
		second = cm.UID
		b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: epoch.AuthorPolicy}, b)).To(Succeed())
		g.Expect(cm.Data).To(HaveKeyWithValue("mutatingadmissionpolicybinding.query-author",
			fmt.Sprintf("%s/%d", b.UID, b.Generation)))
	})

	t.Run("a change of a policy renews the epoch", func(t *testing.T) {
		g := NewWithT(t)
		stop := startKeeper(t)
		defer stop()
		g.Consistently(uidOf, 2*time.Second, 100*time.Millisecond).Should(Equal(second))
		guard := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: epoch.GuardPolicy}, guard)).To(Succeed())
		guard.Spec.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
		g.Expect(k8s.Update(ctx, guard)).To(Succeed())
		g.Eventually(uidOf, 30*time.Second, 100*time.Millisecond).ShouldNot(Or(Equal(second), BeEmpty()))
		second = uidOf(g)
	})

	t.Run("a deleted policy deletes the epoch, and its return starts a new one", func(t *testing.T) {
		g := NewWithT(t)
		stop := startKeeper(t)
		defer stop()
		deleteBinding(t)
		g.Eventually(uidOf, 30*time.Second, 100*time.Millisecond).Should(BeEmpty())
		g.Consistently(uidOf, 2*time.Second, 100*time.Millisecond).Should(BeEmpty())
		install(t)
		g.Eventually(uidOf, 30*time.Second, 100*time.Millisecond).ShouldNot(Or(Equal(second), BeEmpty()))
		g.Expect(uidOf(g)).NotTo(Equal(first.UID))
	})
}
