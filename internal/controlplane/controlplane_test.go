package controlplane

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestControlPlane runs a real control plane: start, use, restart the apiserver, stop, start a
// second one right after, and a third on the second's etcd data. It is skipped when the binaries
// are missing.
func TestControlPlane(t *testing.T) {
	if _, err := resolveBinDir(""); err != nil {
		t.Skipf("Skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	cp, err := Start(ctx, Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	dir := cp.Dir()
	defer func() { _ = cp.Stop() }()

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

	if err := cp.RestartAPIServer(ctx); err != nil {
		t.Fatalf("RestartAPIServer: %v", err)
	}
	admin := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "cp-test", metav1.GetOptions{}); err != nil {
		t.Errorf("get namespace after an apiserver restart: %v", err)
	}
	if url := cp.URL(); !strings.HasSuffix(cp.RESTConfig().Host, url[strings.LastIndex(url, ":"):]) {
		t.Errorf("the apiserver moved: %s vs %s", cp.RESTConfig().Host, url)
	}

	if err := cp.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
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
	cp2, err := Start(ctx2, Options{Dir: given, EtcdDataDir: etcdData})
	if err != nil {
		t.Fatalf("second Start: %v", err)
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
