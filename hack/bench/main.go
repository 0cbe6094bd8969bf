package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// options are the command-line settings of a run.
type options struct {
	sizes           []int
	manager         string
	out             string
	namespaces      int
	workers         int
	seed            uint64
	updates         int
	burst           int
	liveQueries     int
	clusters        int
	controlPlaneBin string
	crdPaths        []string
	requeryInterval time.Duration
	queryBudget     time.Duration
	updateInterval  time.Duration
	keepData        bool
	renderOnly      bool
}

func main() {
	var (
		o     options
		sizes string
		crds  string
	)
	flag.StringVar(&sizes, "n", "10000", "Object counts to measure, comma separated (e.g. 10000,100000). "+
		"Objects are loaded once and topped up for each larger count.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The kubesift manager binary (make build).")
	flag.StringVar(&o.out, "out", "docs", "Directory for benchmarks.json, benchmarks.md and benchmarks.png.")
	flag.IntVar(&o.namespaces, "namespaces", 100, "Namespaces the objects are spread over.")
	flag.IntVar(&o.workers, "workers", 16, "Client goroutines that load objects.")
	flag.Uint64Var(&o.seed, "seed", 1, "Seed of the sample objects.")
	flag.IntVar(&o.updates, "updates", 200, "Updates per freshness measurement.")
	flag.IntVar(&o.burst, "burst", 1000, "Unrelated updates in the status-write burst.")
	flag.IntVar(&o.liveQueries, "live-queries", 100, "Live SearchQuery objects in the many-queries freshness measurement.")
	flag.IntVar(&o.clusters, "clusters", 1, fmt.Sprintf("With more than 1 (at most %d), also spread the N objects over this many "+
		"clusters and compare queries and the initial sync with the single-cluster figures (one N only).", maxClusters))
	flag.StringVar(&o.controlPlaneBin, "controlplane", "bin/controlplane",
		"Directory with etcd, kube-apiserver and kubectl (make controlplane).")
	flag.StringVar(&crds, "crds", "config/crd/bases,config/samples/crds", "CRD directories or files to install, comma separated.")
	flag.DurationVar(&o.requeryInterval, "requery-interval", 0, "Passed to the manager as --requery-interval; 0 keeps the manager's default.")
	flag.DurationVar(&o.queryBudget, "query-budget", 10*time.Second,
		"Time spent measuring one query with one method (at least a few samples are always taken).")
	flag.DurationVar(&o.updateInterval, "update-interval", 200*time.Millisecond, "Time between two updates in the freshness measurement.")
	flag.BoolVar(&o.renderOnly, "render", false, "Only render benchmarks.md and benchmarks.png again from benchmarks.json in -out.")
	flag.BoolVar(&o.keepData, "keep", false, "Keep the control plane's directory (kubeconfig, logs) after the run.")
	flag.Parse()

	var err error
	if o.sizes, err = parseSizes(sizes); err == nil {
		err = checkClusters(o.clusters, o.sizes)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	for _, p := range strings.Split(crds, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.crdPaths = append(o.crdPaths, p)
		}
	}

	// The informer cache and the clients log through controller-runtime; the benchmark prints
	// its own progress.
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		var d *disagreement
		if errors.As(err, &d) {
			fmt.Fprintln(os.Stderr, "bench: kubesift and a baseline gave different answers; no results were written")
		}
		cancel()
		os.Exit(1)
	}
}

// parseSizes reads "10000,100000" into ascending, distinct counts.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-n: %q is not a positive object count", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("-n: no object count given")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// run performs the whole benchmark and writes the results.
func run(ctx context.Context, o options) (err error) {
	if o.renderOnly {
		rep, err := mergeReport(o.out, nil)
		if err != nil {
			return err
		}
		return writeReport(o.out, rep)
	}
	start := time.Now()
	env, err := startCluster(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			keepLogs(env.cp.Dir())
		}
		env.stop()
	}()

	host, err := describeHost(ctx, env)
	if err != nil {
		return err
	}
	logf("Machine: %d CPUs, %s memory, %s; Go %s, Kubernetes %s, etcd %s, SQLite %s",
		host.Machine.CPUs, bytesIEC(float64(host.Machine.MemoryBytes)), host.Machine.CPUModel,
		host.Versions.Go, host.Versions.Kubernetes, host.Versions.Etcd, host.Versions.SQLite)

	loaded := 0
	for _, n := range o.sizes {
		load, err := loadObjects(ctx, env, o, loaded, n)
		if err != nil {
			return err
		}
		if err := linkOwners(ctx, env, o, n); err != nil {
			return err
		}
		loaded = n
		r, err := measureSize(ctx, env, o, n)
		if err != nil {
			return err
		}
		r.Load = load
		r.Host = host
		// Write after every N, so that a long run at a larger N keeps what it measured before.
		if err := saveRun(o.out, r); err != nil {
			return err
		}
		if o.clusters > 1 {
			// The clusters of the initial sync start empty: this one's memory is better freed.
			env.stop()
			r.LoadAverages = append(r.LoadAverages, loadAverage())
			if r.Clusters.Sync, err = measureClusterSync(ctx, o, n); err != nil {
				return err
			}
			if err := saveRun(o.out, r); err != nil {
				return err
			}
		}
	}
	logf("Done in %s", time.Since(start).Round(time.Second))
	return nil
}

// saveRun merges r into the report in dir and writes it.
func saveRun(dir string, r Run) error {
	rep, err := mergeReport(dir, []Run{r})
	if err != nil {
		return err
	}
	if err := writeReport(dir, rep); err != nil {
		return err
	}
	logf("[N=%d] Results written to %s/benchmarks.md, .json and .png", r.N, dir)
	return nil
}

// measureSize runs every scenario over the n objects already loaded.
func measureSize(ctx context.Context, env *cluster, o options, n int) (Run, error) {
	r := Run{N: n, Namespaces: o.namespaces, Date: time.Now().UTC().Format(time.RFC3339), CRDs: o.crdPaths}

	r.LoadAverages = append(r.LoadAverages, loadAverage())
	logf("[N=%d] Query latency: kubesift in process, API server LIST, informer cache", n)
	queries, spread, objBytes, err := measureQueries(ctx, env, o, n)
	if err != nil {
		return r, err
	}
	r.Queries, r.ObjectBytes, r.Clusters = queries, objBytes, spread

	r.LoadAverages = append(r.LoadAverages, loadAverage())
	logf("[N=%d] Initial sync: paginated LIST baseline, then a ResourceIndex in the manager", n)
	readAPIAddr, err := registerReadAPI(ctx, env)
	if err != nil {
		return r, err
	}
	mgr, err := startManager(ctx, env, o, "", readAPIAddr)
	if err != nil {
		return r, err
	}
	defer mgr.stop()
	if r.Sync, r.Cost, err = measureSync(ctx, env, mgr, n); err != nil {
		return r, err
	}

	r.LoadAverages = append(r.LoadAverages, loadAverage())
	logf("[N=%d] Query latency through the read API (the manager's index, via the aggregated endpoint)", n)
	if err := waitReadAPI(ctx, env); err != nil {
		return r, fmt.Errorf("%w; see %s", err, mgr.logPath)
	}
	if err := measureReadAPI(ctx, env, o, r.Queries); err != nil {
		return r, err
	}
	r.RequeryInterval = mgr.requeryInterval.String()

	r.LoadAverages = append(r.LoadAverages, loadAverage())
	logf("[N=%d] Freshness and status writes", n)
	if r.Freshness, r.Cost.Burst, err = measureLiveQueries(ctx, env, mgr, o, n); err != nil {
		return r, err
	}
	r.LoadAverages = append(r.LoadAverages, loadAverage())
	if err := cleanupManagerObjects(ctx, env); err != nil {
		return r, err
	}
	mgr.stop()

	logf("[N=%d] Initial sync and footprint with the index in a file (--index-path)", n)
	dir, err := os.MkdirTemp("", "kubesift-bench-index-")
	if err != nil {
		return r, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	fileMgr, err := startManager(ctx, env, o, filepath.Join(dir, "index.db"), "")
	if err != nil {
		return r, err
	}
	defer fileMgr.stop()
	fileSync, fileCost, err := measureSync(ctx, env, fileMgr, n)
	if err != nil {
		return r, err
	}
	r.FileSync, r.FileCost = &fileSync, &fileCost
	if err := cleanupManagerObjects(ctx, env); err != nil {
		return r, err
	}
	return r, nil
}

// keepLogs copies the logs of a failed run (the manager's, the control plane's) out of the
// control plane's directory, which stopping removes, and says where they are.
func keepLogs(dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		return
	}
	keep, err := os.MkdirTemp("", "kubesift-bench-failed-")
	if err != nil {
		logf("Keeping the logs of the failed run: %v", err)
		return
	}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err == nil {
			err = os.WriteFile(filepath.Join(keep, filepath.Base(l)), b, 0o600)
		}
		if err != nil {
			logf("Keeping %s: %v", l, err)
		}
	}
	logf("The logs of the failed run are in %s", keep)
}

// logf prints a progress line with the time of day.
func logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
