package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubesift/kubesift/internal/controlplane"
)

// cluster is where the demo runs: a local control plane it started, or the user's cluster.
type cluster struct {
	cp         *controlplane.ControlPlane // nil for the user's cluster
	kubeconfig string                     // empty: kubectl and the manager use their defaults
	kubectlBin string
	config     *rest.Config
	dyn        *dynamic.DynamicClient
}

func openCluster(ctx context.Context, useCurrent bool, root string) (*cluster, error) {
	kubectlBin := filepath.Join(root, "bin", "controlplane", "kubectl")
	if dir := os.Getenv(controlplane.AssetsEnv); dir != "" {
		kubectlBin = filepath.Join(dir, "kubectl")
	}
	cl := &cluster{kubectlBin: kubectlBin}
	if useCurrent {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("USE_CURRENT_CONTEXT=1, but there is no usable kubeconfig: %w", err)
		}
		if err := reachable(cfg); err != nil {
			return nil, fmt.Errorf("USE_CURRENT_CONTEXT=1, but the current context's cluster %s is not reachable: %w", cfg.Host, err)
		}
		fmt.Printf("Using the current kubeconfig context: %s\n", cfg.Host)
		cl.config = cfg
	} else {
		fmt.Println("Starting a local etcd and kube-apiserver (use USE_CURRENT_CONTEXT=1 for your own cluster) ...")
		began := time.Now()
		// The control plane outlives the demo's context: on Ctrl-C the manager stops first, then
		// the control plane, in close.
		cp, err := controlplane.Start(context.WithoutCancel(ctx), controlplane.Options{})
		if err != nil {
			return nil, fmt.Errorf("starting the local control plane: %w", err)
		}
		cl.cp, cl.kubeconfig, cl.config = cp, cp.Kubeconfig(), cp.RESTConfig()
		fmt.Printf("Control plane ready at %s in %s.\n", cp.URL(), time.Since(began).Round(100*time.Millisecond))
		fmt.Printf("Point kubectl at it with:\n  export KUBECONFIG=%s\n", cp.Kubeconfig())
	}
	cl.config.QPS, cl.config.Burst = 500, 1000
	cl.config.WarningHandler = rest.NoWarnings{}
	dyn, err := dynamic.NewForConfig(cl.config)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("creating a client: %w", err), cl.close())
	}
	cl.dyn = dyn
	return cl, nil
}

func reachable(cfg *rest.Config) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = 5 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return err
	}
	_, err = dc.ServerVersion()
	return err
}

func (c *cluster) close() error {
	if c.cp == nil {
		return nil
	}
	fmt.Println("Stopping the control plane and removing its directory ...")
	return c.cp.Stop()
}

func (c *cluster) kubectlPath() string { return c.kubectlBin }

// kubectl runs kubectl and returns its output; stdin may be empty.
func (c *cluster) kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	if c.kubeconfig != "" {
		args = append([]string{"--kubeconfig=" + c.kubeconfig}, args...)
	}
	cmd := exec.CommandContext(ctx, c.kubectlBin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// show prints a kubectl command as a user would type it, runs it and prints its output.
func (c *cluster) show(ctx context.Context, args ...string) error {
	fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
	out, err := c.kubectl(ctx, "", args...)
	fmt.Print(out)
	return err
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the demo from the kubesift checkout (no go.mod found)")
		}
		dir = parent
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func title(s string) {
	fmt.Printf("\n\033[1m== %s\033[0m\n", s)
}
