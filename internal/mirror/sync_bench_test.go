package mirror

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/controlplane"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/sample"
)

// syncFields are the fields of make bench's ResourceIndex.
var syncFields = []string{"spec.replicas", "spec.team", "spec.tier", "status.conditions[type=Ready].status"}

var templateGVR = schema.GroupVersionResource{Group: sample.TemplateGVK.Group, Version: sample.TemplateGVK.Version, Resource: "templates"}

// BenchmarkInitialSync measures, against a real API server holding N sample Templates (10,000,
// or $SYNC_BENCH_N), what make bench's "Initial sync" measures: the time from starting a mirror
// of an empty index to its Synced, next to a paginated LIST of the same objects decoded by the
// dynamic client, with each side's CPU time in this process. $SYNC_BENCH_DATA keeps etcd's
// data across runs so that the objects are loaded once. $SYNC_BENCH_CACHE sets the index's
// page cache in bytes, one budget for all its connections as the manager's --index-cache-bytes
// (unset: 16 MiB per connection for a file, 4 MiB in memory). The file runs raise the garbage
// collector's target during the relist as the manager does (FileRelistGCPercent), or to
// $SYNC_BENCH_RELIST_GOGC (0: Go's default throughout). Each also reports the CPU time per
// object that kube-apiserver used during the LIST and during the sync.
func BenchmarkInitialSync(b *testing.B) {
	n := 10000
	if v := os.Getenv("SYNC_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctrl.SetLogger(logr.Discard())
	ctx := context.Background()
	cp, err := controlplane.Start(ctx, controlplane.Options{NoControllerManager: true, EtcdDataDir: os.Getenv("SYNC_BENCH_DATA")})
	if err != nil {
		b.Skipf("No control plane: %v", err)
	}
	b.Cleanup(func() { _ = cp.Stop() })
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 5000, 10000
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "..", "config", "samples", "crds")}, ErrorIfPathMissing: true,
	}); err != nil {
		b.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	res := dyn.Resource(templateGVR)
	rc, err := NewRESTClient(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	loadTemplates(b, cfg, res, n)

	list := func() (int, error) {
		count := 0
		opts := metav1.ListOptions{Limit: pageSize}
		for {
			l, err := res.List(ctx, opts)
			if err != nil {
				return count, err
			}
			count += len(l.Items)
			if opts.Continue = l.GetContinue(); opts.Continue == "" {
				return count, nil
			}
		}
	}
	paginated := func() error {
		got, err := list()
		if err == nil && got != n {
			err = fmt.Errorf("listed %d objects, want %d", got, n)
		}
		return err
	}
	// timed runs f and returns its wall time, this process's CPU time and kube-apiserver's.
	timed := func(f func() error) (wall float64, cpu, apiCPU time.Duration) {
		runtime.GC()
		c0 := cpuTime()
		a0, err := cp.APIServerCPU()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		wall, cpu = time.Since(start).Seconds(), cpuTime()-c0
		a1, err := cp.APIServerCPU()
		if err != nil {
			b.Fatal(err)
		}
		return wall, cpu, a1 - a0
	}
	// Each iteration lists and then mirrors, so that the ratio compares runs under the same
	// load of a shared machine.
	for _, file := range []bool{false, true} {
		name := "memory"
		if file {
			name = "file"
		}
		b.Run(name, func(b *testing.B) {
			var ratios, lists, syncs []float64
			var cpu, listAPI, syncAPI time.Duration
			for b.Loop() {
				l, _, la := timed(paginated)
				m, c, sa := timed(func() error { return syncOnce(b, rc, file, n) })
				cpu, listAPI, syncAPI = cpu+c, listAPI+la, syncAPI+sa
				lists, syncs, ratios = append(lists, l), append(syncs, m), append(ratios, m/l)
			}
			perObject := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N*n) }
			b.ReportMetric(median(lists), "s/list")
			b.ReportMetric(median(syncs), "s/sync")
			b.ReportMetric(median(ratios), "sync/list")
			b.ReportMetric(perObject(cpu), "sync-cpu-µs/object")
			// With both cores busy, a sync's wall time follows the sum of this process's CPU
			// and the API server's.
			b.ReportMetric(perObject(listAPI), "list-apiserver-cpu-µs/object")
			b.ReportMetric(perObject(syncAPI), "sync-apiserver-cpu-µs/object")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// syncOnce mirrors the Templates into a new index and waits until the mirror is synced.
func syncOnce(b *testing.B, rc rest.Interface, file bool, n int) error {
	opts := index.Options{}
	if v := os.Getenv("SYNC_BENCH_CACHE"); v != "" {
		cache, err := strconv.ParseInt(v, 10, 64)
		if err != nil || cache <= 0 {
			return fmt.Errorf("SYNC_BENCH_CACHE=%q is not a positive byte count", v)
		}
		opts.CacheBytes = cache
	}
	if file {
		opts.Path = filepath.Join(b.TempDir(), "index.db")
		// As the manager does for a file index, unless $SYNC_BENCH_RELIST_GOGC says otherwise.
		p := FileRelistGCPercent
		if v, err := strconv.Atoi(os.Getenv("SYNC_BENCH_RELIST_GOGC")); err == nil {
			p = v
		}
		SetRelistGCPercent(p)
		defer SetRelistGCPercent(0)
	}
	st, err := index.Open(opts)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if err := st.Register(sample.TemplateGVK, index.KindConfig{Namespaced: true, Fields: syncFields}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := NewWriter(st, catalog.New(), func(string) {})
	go func() { _ = w.Start(ctx) }()
	m := w.NewMirror(Config{GVK: sample.TemplateGVK, Namespaced: true, Owner: "bench",
		ListerWatcher: NewListerWatcher(rc, templateGVR)})
	m.Start(ctx)
	defer m.Stop()
	for !m.Synced() {
		if err := m.Failure(); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, _ := st.Count(sample.TemplateGVK); got != int64(n) {
		return fmt.Errorf("mirrored %d objects, want %d", got, n)
	}
	return nil
}

// loadTemplates creates the namespaces and sample Templates 0..n-1 that are missing, with
// their status, as make bench loads them.
func loadTemplates(b *testing.B, cfg *rest.Config, res dynamic.NamespaceableResourceInterface, n int) {
	ctx := context.Background()
	l, err := res.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	have := 0
	if rem := l.GetRemainingItemCount(); rem != nil {
		have = int(*rem) + len(l.Items)
	} else {
		have = len(l.Items)
	}
	if have >= n {
		return
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	gen := sample.Generator{Namespaces: 100, Seed: 1}
	for i := range 100 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sample.Namespace(i)}}
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
	}
	b.Logf("Loading %d Templates", n)
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				obj := gen.Template(i)
				status := obj.Object["status"]
				delete(obj.Object, "status")
				out, err := res.Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					continue
				}
				if err == nil {
					out.Object["status"] = status
					_, err = res.Namespace(out.GetNamespace()).UpdateStatus(ctx, out, metav1.UpdateOptions{})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
