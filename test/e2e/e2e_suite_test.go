// Package e2e tests the manager binary end to end: a real etcd and kube-apiserver from
// internal/controlplane, the CRDs installed with kubectl, the manager running as a separate
// process, and users' objects created and read with kubectl.
//
// Run it with `make test-e2e`, or `go test ./test/e2e/ -v` (which builds the manager unless
// KUBESIFT_MANAGER names a binary). KUBESIFT_E2E_KEEP=1 keeps the control plane's directory, with
// its logs and kubeconfig, after the run.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controlplane"
)

// Environment variables the suite reads.
const (
	// managerEnv names the manager binary to test. Unset builds ./cmd/main.go.
	managerEnv = "KUBESIFT_MANAGER"
	// keepEnv, when set, keeps the control plane's directory and the manager logs.
	keepEnv = "KUBESIFT_E2E_KEEP"
)

var (
	// suiteCtx lives as long as the suite; the control plane stops when it ends.
	suiteCtx    context.Context
	cancelSuite context.CancelFunc
	// cp is the control plane every spec shares.
	cp *controlplane.ControlPlane
	// repoRoot is the module root, where config/ lives.
	repoRoot string
	// workDir holds the manager binary (when built here), manager logs and index files.
	workDir string
	// managerBin is the manager binary under test.
	managerBin string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubesift e2e suite")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	suiteCtx, cancelSuite = context.WithCancel(context.Background())

	var err error
	repoRoot, err = findRepoRoot()
	Expect(err).NotTo(HaveOccurred())
	workDir, err = os.MkdirTemp("", "kubesift-e2e-")
	Expect(err).NotTo(HaveOccurred())

	By("finding or building the manager binary")
	managerBin, err = resolveManager()
	Expect(err).NotTo(HaveOccurred())
	fmt.Fprintf(GinkgoWriter, "Manager binary: %s\n", managerBin)

	By("starting etcd and kube-apiserver")
	start := time.Now()
	cp, err = controlplane.Start(suiteCtx, controlplane.Options{KeepDir: os.Getenv(keepEnv) != ""})
	Expect(err).NotTo(HaveOccurred())
	fmt.Fprintf(GinkgoWriter, "Control plane ready in %s at %s; kubeconfig %s\n",
		time.Since(start).Round(time.Millisecond), cp.URL(), cp.Kubeconfig())

	By("installing the CRDs from config/crd/bases")
	kubectl("apply", "--server-side", "-f", filepath.Join(repoRoot, "config", "crd", "bases"))
	By("installing the CRDs again through the kustomize tree in config/crd")
	rendered := kubectl("kustomize", filepath.Join(repoRoot, "config", "crd"))
	kubectlStdin(rendered, "apply", "--server-side", "-f", "-")
	kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", filepath.Join(repoRoot, "config", "crd", "bases"))
	By("installing the admission policies through the kustomize tree in config/admission")
	kubectl("apply", "-k", filepath.Join(repoRoot, "config", "admission"))
	// Their param, the author epoch, is kept by every manager the specs start; until the first
	// one runs, it is created here the way the manager does.
	By("renewing the author epoch in " + admission.PlainEpoch.Namespace)
	if _, err := kubectlErr("get", "namespace", admission.PlainEpoch.Namespace); err != nil {
		createNamespace(admission.PlainEpoch.Namespace)
	}
	admin, err := client.New(cp.RESTConfig(), client.Options{})
	Expect(err).NotTo(HaveOccurred())
	_, err = admission.PlainEpoch.Renew(suiteCtx, admin)
	Expect(err).NotTo(HaveOccurred())
	waitForAdmissionPolicies()
})

var _ = AfterSuite(func() {
	stopAllManagers()
	if cp != nil {
		if os.Getenv(keepEnv) != "" {
			fmt.Fprintf(GinkgoWriter, "Keeping the control plane directory %s and the work directory %s\n", cp.Dir(), workDir)
		}
		Expect(cp.Stop()).To(Succeed())
	}
	if cancelSuite != nil {
		cancelSuite()
	}
	if workDir != "" && os.Getenv(keepEnv) == "" {
		Expect(os.RemoveAll(workDir)).To(Succeed())
	}
})

// Dump the logs that explain a failure: the tail of every manager that ran during the spec and
// of the apiserver.
var _ = AfterEach(func() {
	if !CurrentSpecReport().Failed() {
		return
	}
	for _, m := range managersRunningSince(CurrentSpecReport().StartTime) {
		fmt.Fprintf(GinkgoWriter, "\n---- last %d lines of %s ----\n%s\n", failureLogLines, m.logPath, tail(m.logPath, failureLogLines))
	}
	if cp != nil {
		path := filepath.Join(cp.Dir(), controlplane.APIServerLogFile)
		fmt.Fprintf(GinkgoWriter, "\n---- last 20 lines of %s ----\n%s\n", path, tail(path, 20))
	}
})

// resolveManager returns $KUBESIFT_MANAGER, or builds ./cmd/main.go into the work directory so
// that the suite never tests a stale binary.
func resolveManager() (string, error) {
	if path := os.Getenv(managerEnv); path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", fmt.Errorf("resolving %s=%s: %w", managerEnv, path, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("%s=%s: %w", managerEnv, path, err)
		}
		return abs, nil
	}
	out := filepath.Join(workDir, "manager")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/main.go")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %w\n%s", err, output)
	}
	return out, nil
}

// findRepoRoot returns the nearest directory above the working directory with a go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
