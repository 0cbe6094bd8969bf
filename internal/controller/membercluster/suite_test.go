package membercluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controlplane"
)

// managerUser is the identity the manager under test runs as on the hub. It has the manager's
// own permissions and may read only the Secrets that tests grant it by name.
const managerUser = "kubesift-manager"

// fleetNamespace holds the kubeconfig Secrets on the hub.
const fleetNamespace = "fleet"

// testProbeInterval is long, so that a test that sees a change within a few seconds shows that
// the Secret watch, not the periodic probe, caused it.
const testProbeInterval = 10 * time.Minute

var (
	scheme    = runtime.NewScheme()
	k8sClient client.Client // cluster admin of the hub
	hubUser   *rest.Config  // a user of the hub, whose client certificate the member does not trust
	hubAdmin  *rest.Config
	member    *controlplane.ControlPlane
	// controlPlaneErr says why the controller tests cannot run; they fail with it.
	controlPlaneErr error
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(searchv1alpha1.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// needControlPlane fails a test that needs the control planes when they could not be started.
func needControlPlane(t *testing.T) {
	t.Helper()
	if controlPlaneErr != nil {
		t.Fatalf("No control plane: %v", controlPlaneErr)
	}
}

// run starts the hub (where the manager runs) and a member control plane, each its own etcd and
// kube-apiserver, then the manager, then the tests.
func run(m *testing.M) int {
	fail := func(msg string, err error) int {
		controlPlaneErr = fmt.Errorf("%s: %w", msg, err)
		fmt.Println(controlPlaneErr)
		return max(m.Run(), 1)
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		bin := repoPath("bin", "controlplane")
		if _, err := os.Stat(filepath.Join(bin, "kube-apiserver")); err != nil {
			return fail("set KUBEBUILDER_ASSETS or run `make controlplane`", err)
		}
		_ = os.Setenv("KUBEBUILDER_ASSETS", bin)
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	testEnv := &envtest.Environment{
		CRDDirectoryPaths:     []string{repoPath("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	if err != nil {
		return fail("Unable to start the hub", err)
	}
	hubAdmin = rest.CopyConfig(cfg)
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Println("Unable to stop the hub:", err)
		}
	}()
	member, err = controlplane.Start(ctx, controlplane.Options{NoControllerManager: true})
	if err != nil {
		return fail("Unable to start the member", err)
	}
	defer func() {
		if err := member.Stop(); err != nil {
			fmt.Println("Unable to stop the member:", err)
		}
	}()

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fail("Unable to create a client", err)
	}
	if err := grantManager(ctx); err != nil {
		return fail("Unable to grant the manager its permissions", err)
	}
	user, err := testEnv.AddUser(envtest.User{Name: managerUser, Groups: []string{"system:authenticated"}}, cfg)
	if err != nil {
		return fail("Unable to add the manager user", err)
	}
	hubUser = user.Config()

	mgr, err := ctrl.NewManager(user.Config(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fail("Unable to create the manager", err)
	}
	if err := SetupWithManager(mgr, Options{ProbeInterval: testProbeInterval}); err != nil {
		return fail("Unable to set up the controller", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	code := m.Run()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			fmt.Println("Manager stopped with an error:", err)
		}
	case <-time.After(30 * time.Second):
		fmt.Println("Manager did not stop in time")
	}
	return code
}

// zapLevel logs errors only, unless TEST_VERBOSE is set.
func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return zapcore.Level(-2)
	}
	return zapcore.ErrorLevel
}

// grantManager gives the manager user the permissions of the package's RBAC markers, and creates
// the namespace of the kubeconfig Secrets. Secrets are granted one by one, by grantSecret.
func grantManager(ctx context.Context) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubesift-test-manager"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"search.kubesift.io"}, Resources: []string{"memberclusters"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"search.kubesift.io"}, Resources: []string{"memberclusters/status"}, Verbs: []string{"get", "update", "patch"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		},
	}
	if err := k8sClient.Create(ctx, role); err != nil {
		return err
	}
	if err := k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: managerUser}},
	}); err != nil {
		return err
	}
	return k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}})
}

// repoPath joins path elements to the repository root.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{"..", "..", ".."}, elem...)...)
}
