// Command demo shows kubesift at work: it starts a local control plane (or uses the current
// kubeconfig context with USE_CURRENT_CONTEXT=1), loads a few thousand realistic objects, runs the
// manager binary, indexes the objects, applies queries, prints their results, shows a query
// following a change, asks the index directly through the read API (local control plane
// only: the API server must reach the manager), connects a second local control plane as a
// MemberCluster, mirrors its Templates next to the first cluster's and answers one query over
// both. It then waits for Ctrl-C (or exits at once with DEMO_EXIT=1) and cleans up.
//
// Run it with `make demo`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	var opts options
	flag.StringVar(&opts.manager, "manager", "bin/manager", "The manager binary to run.")
	flag.IntVar(&opts.objects, "objects", envInt("DEMO_OBJECTS", 3000), "How many Template objects to create.")
	flag.IntVar(&opts.namespaces, "namespaces", envInt("DEMO_NAMESPACES", 8), "How many namespaces to spread them over.")
	flag.BoolVar(&opts.useCurrentContext, "use-current-context", os.Getenv("USE_CURRENT_CONTEXT") == "1",
		"Use the cluster of the current kubeconfig context instead of a local control plane.")
	flag.BoolVar(&opts.exit, "exit", os.Getenv("DEMO_EXIT") == "1", "Exit after the demonstration instead of waiting for Ctrl-C.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Println("\nInterrupted; cleaned up.")
			return
		}
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	manager           string
	objects           int
	namespaces        int
	useCurrentContext bool
	exit              bool
}

func run(ctx context.Context, opts options) (err error) {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(opts.manager) {
		opts.manager = filepath.Join(root, opts.manager)
	}
	if _, err := os.Stat(opts.manager); err != nil {
		return fmt.Errorf("the manager binary %s is missing: run `make build` first: %w", opts.manager, err)
	}
	start := time.Now()

	title("1. A cluster")
	cl, err := openCluster(ctx, opts.useCurrentContext, root)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cl.close()) }()

	d := &demo{cluster: cl, root: root, opts: opts}
	if err := d.install(ctx); err != nil {
		return err
	}
	if err := d.load(ctx); err != nil {
		return err
	}
	// The read API needs the API server to reach the manager on this machine, which only the
	// local control plane can.
	readAPIAddr := ""
	if cl.cp != nil {
		if readAPIAddr, err = freeAddr(); err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(readAPIAddr)
		if err := d.registerReadAPI(ctx, port); err != nil {
			return err
		}
	}
	mgr, err := startManager(ctx, opts.manager, cl, readAPIAddr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, mgr.stop()) }()
	if err := d.waitForAdmissionPolicies(ctx); err != nil {
		return fmt.Errorf("%w (manager log: %s)", err, mgr.logPath)
	}
	if readAPIAddr != "" {
		if err := d.waitReadAPI(ctx); err != nil {
			return fmt.Errorf("the read API did not become available (manager log: %s): %w", mgr.logPath, err)
		}
		d.readAPI = true
	}

	if err := d.index(ctx, mgr); err != nil {
		return err
	}
	if err := d.queries(ctx, mgr); err != nil {
		return err
	}
	if err := d.pages(ctx); err != nil {
		return err
	}
	if err := d.liveness(ctx); err != nil {
		return err
	}
	if d.readAPI {
		if err := d.askIndex(ctx); err != nil {
			return err
		}
	}
	member, err := d.member(ctx)
	if member != nil {
		defer func() { err = errors.Join(err, member.Stop()) }()
	}
	if err != nil {
		return err
	}

	title("Done")
	fmt.Printf("The demonstration took %s. Everything is still running.\n", time.Since(start).Round(time.Second))
	fmt.Printf("Try it yourself in another terminal:\n\n")
	fmt.Printf("  export KUBECONFIG=%s\n", cl.kubeconfig)
	fmt.Printf("  %s get ri,csq,smc\n", cl.kubectlPath())
	fmt.Printf("  %s get sq -n %s -o wide\n", cl.kubectlPath(), d.queryNamespace())
	if d.readAPI {
		fmt.Printf("  %s --server=%s%s get templates -n %s -l tier=frontend\n",
			cl.kubectlPath(), cl.config.Host, readAPIPrefix, d.queryNamespace())
		fmt.Printf("  %s templates -n %s --where 'spec.replicas>10' --sort=-spec.replicas\n",
			filepath.Join(filepath.Dir(opts.manager), "kubectl-sift"), d.queryNamespace())
	}
	fmt.Println()
	fmt.Printf("The manager's log is %s.\n", mgr.logPath)
	if opts.exit {
		fmt.Println("DEMO_EXIT=1: cleaning up now.")
		return nil
	}
	fmt.Println("Press Ctrl-C to stop the manager and the control plane and remove the temporary files.")
	<-ctx.Done()
	fmt.Println("\nStopping ...")
	return nil
}
