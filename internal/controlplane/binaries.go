package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Names of the binaries a control plane needs, as built by `make controlplane` or installed by
// setup-envtest (which ships all three).
const (
	etcdBinary      = "etcd"
	apiServerBinary = "kube-apiserver"
	kubectlBinary   = "kubectl"
)

// controllerManagerBinary is the one optional binary: `make controlplane` builds it, setup-envtest
// does not ship it. Without it the control plane runs no controllers.
const controllerManagerBinary = "kube-controller-manager"

// AssetsEnv is the environment variable that names the directory holding etcd, kube-apiserver
// and kubectl. It is the variable controller-runtime's envtest reads, so both find the same
// binaries.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// defaultBinDir is where `make controlplane` links the binaries, relative to the module root.
const defaultBinDir = "bin/controlplane"

// ErrBinariesNotFound reports that etcd, kube-apiserver or kubectl is missing.
var ErrBinariesNotFound = errors.New("control plane binaries not found (run `make controlplane` or set " + AssetsEnv + ")")

// resolveBinDir picks the directory with the control plane binaries: explicit, else
// $KUBEBUILDER_ASSETS, else bin/controlplane in the module that contains the working directory.
// It checks that every binary is there.
func resolveBinDir(explicit string) (string, error) {
	dir := explicit
	if dir == "" {
		dir = os.Getenv(AssetsEnv)
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("finding the working directory: %w", err)
		}
		root, err := moduleRoot(wd)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrBinariesNotFound, err)
		}
		dir = filepath.Join(root, defaultBinDir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	for _, name := range []string{etcdBinary, apiServerBinary, kubectlBinary} {
		if err := checkExecutable(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBinariesNotFound, err)
		}
	}
	return dir, nil
}

// checkExecutable fails unless path is an executable file.
func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// moduleRoot returns the nearest directory at or above dir that holds a go.mod file.
func moduleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod at or above the working directory")
		}
		dir = parent
	}
}
