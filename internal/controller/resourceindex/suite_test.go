package resourceindex

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/controller/members"
	"github.com/kubesift/kubesift/internal/index"
)

// managerUser is the identity the manager under test runs as. It gets the manager's own
// permissions and read access to a few target resources, but not to Secrets.
const managerUser = "kubesift-manager"

var (
	scheme    = runtime.NewScheme()
	testEnv   *envtest.Environment
	k8sClient client.Client // cluster admin
	store     *index.Store
	writes    *faultyIndex
	cat       *catalog.Catalog
	changes   = &changeLog{}
	registry  = members.New()
	// controlPlaneErr says why the controller tests cannot run; they fail with it.
	controlPlaneErr error
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(searchv1alpha1.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// needControlPlane fails a test that needs the control plane when it could not be started.
func needControlPlane(t *testing.T) {
	t.Helper()
	if controlPlaneErr != nil {
		t.Fatalf("No control plane: %v", controlPlaneErr)
	}
}

// run starts the control plane and the manager, then runs the tests. Without a control plane
// the pure tests still run and every controller test fails.
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

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{repoPath("config", "crd", "bases"), repoPath("test", "testdata", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	if err != nil {
		return fail("Unable to start the control plane", err)
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Println("Unable to stop the control plane:", err)
		}
	}()
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fail("Unable to create a client", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := grantManager(ctx); err != nil {
		return fail("Unable to grant the manager its permissions", err)
	}
	user, err := testEnv.AddUser(envtest.User{Name: managerUser, Groups: []string{"system:authenticated"}}, cfg)
	if err != nil {
		return fail("Unable to add the manager user", err)
	}

	store, err = index.Open(index.Options{})
	if err != nil {
		return fail("Unable to open the index", err)
	}
	defer func() { _ = store.Close() }()
	cat = catalog.New()
	cat.Subscribe(changes.add, nil)

	mgr, err := ctrl.NewManager(user.Config(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fail("Unable to create the manager", err)
	}
	writes = &faultyIndex{Store: store}
	if err := setupWithManager(mgr, store, writes, cat, registry); err != nil {
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

// grantManager gives the manager user the permissions of the generated manager role, written out
// here from the package's RBAC markers, and read access to the targets the tests mirror. The test
// API server runs no controller-manager, so ClusterRole aggregation does not happen: the sample
// indexer roles are bound directly instead.
func grantManager(ctx context.Context) error {
	own := &rbacv1.ClusterRole{
		ObjectMeta: metav1ObjectMeta("kubesift-test-manager"),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"search.kubesift.io"}, Resources: []string{"resourceindices"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
			{APIGroups: []string{"search.kubesift.io"}, Resources: []string{"resourceindices/status"}, Verbs: []string{"get", "update", "patch"}},
			{APIGroups: []string{"search.kubesift.io"}, Resources: []string{"resourceindices/finalizers"}, Verbs: []string{"update"}},
			{APIGroups: []string{"search.kubesift.io"}, Resources: []string{"memberclusters"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		},
	}
	certs := &rbacv1.ClusterRole{
		ObjectMeta: metav1ObjectMeta("kubesift-indexer-certificates"),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	roles := []*rbacv1.ClusterRole{own, certs}
	for _, f := range []string{"rbac_indexer_configmaps.yaml", "rbac_indexer_templates.yaml"} {
		role := &rbacv1.ClusterRole{}
		if err := readYAML(repoPath("config", "samples", f), role); err != nil {
			return err
		}
		roles = append(roles, role)
	}
	for _, role := range roles {
		if err := k8sClient.Create(ctx, role); err != nil {
			return err
		}
		if err := bindToManager(ctx, role.Name); err != nil {
			return err
		}
	}
	return nil
}

func bindToManager(ctx context.Context, role string) error {
	return k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1ObjectMeta(role),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: managerUser}},
	})
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, into)
}

// repoPath joins path elements to the repository root.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{"..", "..", ".."}, elem...)...)
}
