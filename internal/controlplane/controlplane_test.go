package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestControlPlane runs a real control plane: start, use, restart the apiserver, see the
// controller-manager work across the restart, stop, start a second one without a
// controller-manager right after, and a third on the second's etcd data. It is skipped when the
// binaries are missing.
func TestControlPlane(t *testing.T) {
	binDir, err := resolveBinDir("")
	if err != nil {
		t.Skipf("Skipping: %v", err)
	}
	wantKCM := checkExecutable(filepath.Join(binDir, controllerManagerBinary)) == nil
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	cp, err := Start(ctx, Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	dir := cp.Dir()
	defer func() { _ = cp.Stop() }()

	if got := cp.HasControllerManager(); got != wantKCM {
		t.Fatalf("HasControllerManager() = %v, want %v (the binary is in %s)", got, wantKCM, binDir)
	}
	if !strings.HasPrefix(cp.URL(), "https://127.0.0.1:") {
		t.Errorf("URL() = %q, want https on 127.0.0.1", cp.URL())
	}
	out, err := cp.Kubectl(ctx, "create", "namespace", "cp-test")
	if err != nil {
		t.Fatalf("kubectl create namespace: %v", err)
	}
	if !strings.Contains(out, "cp-test created") {
		t.Errorf("kubectl output = %q", out)
	}

	// A user without RBAC bindings is authenticated but forbidden.
	user, err := cp.AddUser("alice", "developers")
	if err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	userClient := kubernetes.NewForConfigOrDie(user.RESTConfig())
	_, err = userClient.CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("unprivileged get namespace: err = %v, want Forbidden", err)
	}
	if _, err := user.Kubectl(ctx, "auth", "can-i", "get", "namespaces"); err == nil {
		t.Errorf("kubectl auth can-i as alice succeeded, want a denial")
	}

	admin := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	if wantKCM {
		// Aggregation before the restart, then namespace deletion, garbage collection and more
		// aggregation after it: the controller-manager reconnects by itself.
		testAggregation(ctx, t, admin, "configmaps")
	}

	if err := cp.RestartAPIServer(ctx); err != nil {
		t.Fatalf("RestartAPIServer: %v", err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{}); err != nil {
		t.Errorf("get namespace after an apiserver restart: %v", err)
	}
	if url := cp.URL(); !strings.HasSuffix(cp.RESTConfig().Host, url[strings.LastIndex(url, ":"):]) {
		t.Errorf("the apiserver moved: %s vs %s", cp.RESTConfig().Host, url)
	}

	if err := cp.StopAPIServer(); err != nil {
		t.Fatalf("StopAPIServer: %v", err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{}); err == nil {
		t.Errorf("the apiserver answered after StopAPIServer")
	}
	if err := cp.StartAPIServer(ctx); err != nil {
		t.Fatalf("StartAPIServer: %v", err)
	}
	if err := cp.StartAPIServer(ctx); err == nil {
		t.Errorf("StartAPIServer started a second apiserver")
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{}); err != nil {
		t.Errorf("get namespace after the apiserver started again: %v", err)
	}

	if wantKCM {
		testAggregation(ctx, t, admin, "secrets")
		testGarbageCollection(ctx, t, admin)
		testNamespaceDeletion(ctx, t, admin)
		if _, err := os.Stat(filepath.Join(dir, ControllerManagerLogFile)); err != nil {
			t.Errorf("no controller-manager log: %v", err)
		}
	}

	if err := cp.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if cp.controllerManager != nil && cp.controllerManager.running() {
		t.Errorf("kube-controller-manager still running after Stop")
	}
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory %s is still there after Stop: %v", dir, err)
	}

	// A second control plane, right after, in a given directory that survives Stop; cancelling
	// its context stops it.
	given := t.TempDir()
	etcdData := filepath.Join(t.TempDir(), "etcd")
	ctx2, cancel2 := context.WithCancel(ctx)
	cp2, err := Start(ctx2, Options{Dir: given, EtcdDataDir: etcdData, NoControllerManager: true})
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if cp2.HasControllerManager() {
		t.Errorf("HasControllerManager() with NoControllerManager = true")
	}
	if _, err := os.Stat(filepath.Join(given, ControllerManagerLogFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a controller-manager log exists with NoControllerManager = true: %v", err)
	}
	client := kubernetes.NewForConfigOrDie(cp2.RESTConfig())
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm"},
	}, metav1.CreateOptions{}); err != nil {
		t.Errorf("create a ConfigMap: %v", err)
	}
	cancel2()
	if err := cp2.Stop(); err != nil {
		t.Errorf("Stop after cancel: %v", err)
	}
	if cp2.apiServer.running() || cp2.etcd.running() {
		t.Errorf("processes still running after the context was cancelled")
	}
	if _, err := os.Stat(filepath.Join(given, KubeconfigFile)); err != nil {
		t.Errorf("the given directory lost its kubeconfig: %v", err)
	}

	// A third control plane on the same etcd data, with new ports and certificates, still has the
	// ConfigMap.
	cp3, err := Start(ctx, Options{EtcdDataDir: etcdData})
	if err != nil {
		t.Fatalf("third Start: %v", err)
	}
	defer func() { _ = cp3.Stop() }()
	if _, err := kubernetes.NewForConfigOrDie(cp3.RESTConfig()).CoreV1().ConfigMaps("default").Get(ctx, "cm", metav1.GetOptions{}); err != nil {
		t.Errorf("get the ConfigMap from reused etcd data: %v", err)
	}
}

// eventually polls check every 200ms until it succeeds, and fails the test after timeout.
func eventually(ctx context.Context, t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// testAggregation checks that the ClusterRole cp-test-aggregated, created on the first call,
// picks up the rules of a new ClusterRole labelled for it that grants get on resource.
func testAggregation(ctx context.Context, t *testing.T, admin kubernetes.Interface, resource string) {
	t.Helper()
	const label = "controlplane.kubesift.io/aggregate-to-test"
	roles := admin.RbacV1().ClusterRoles()
	if _, err := roles.Get(ctx, "cp-test-aggregated", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := roles.Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "cp-test-aggregated"},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
				{MatchLabels: map[string]string{label: "true"}},
			}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create the aggregated ClusterRole: %v", err)
		}
	}
	if _, err := roles.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "cp-test-" + resource, Labels: map[string]string{label: "true"}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the labelled ClusterRole: %v", err)
	}
	eventually(ctx, t, time.Minute, "aggregating "+resource, func() error {
		role, err := roles.Get(ctx, "cp-test-aggregated", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, rule := range role.Rules {
			if slices.Contains(rule.Resources, resource) {
				return nil
			}
		}
		return fmt.Errorf("rules = %v", role.Rules)
	})
}

// testGarbageCollection checks that a ConfigMap owned by another is deleted after its owner.
func testGarbageCollection(ctx context.Context, t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	cms := admin.CoreV1().ConfigMaps("default")
	owner, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gc-owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the owner: %v", err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "gc-dependent",
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
		}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the dependent: %v", err)
	}
	if err := cms.Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the owner: %v", err)
	}
	eventually(ctx, t, time.Minute, "garbage collecting the dependent", func() error {
		_, err := cms.Get(ctx, "gc-dependent", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %w", err)
	})
}

// testNamespaceDeletion checks that deleting the namespace cp-test, with an object in it, completes.
func testNamespaceDeletion(ctx context.Context, t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	if _, err := admin.CoreV1().ConfigMaps("cp-test").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "content"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a ConfigMap in the namespace: %v", err)
	}
	if err := admin.CoreV1().Namespaces().Delete(ctx, "cp-test", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the namespace: %v", err)
	}
	eventually(ctx, t, time.Minute, "deleting the namespace", func() error {
		ns, err := admin.CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("phase %s, conditions %v", ns.Status.Phase, ns.Status.Conditions)
	})
}
