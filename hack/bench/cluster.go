package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ncruces/go-sqlite3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controlplane"
	"github.com/kubesift/kubesift/internal/sample"
)

// templateGVR is the resource of the sample Template kind.
var templateGVR = schema.GroupVersionResource{Group: sample.TemplateGVK.Group, Version: sample.TemplateGVK.Version, Resource: "templates"}

// cluster is the control plane of a run and the clients the scenarios share.
type cluster struct {
	cp *controlplane.ControlPlane
	// cfg allows a high request rate: the loader and the bursts are not meant to be throttled
	// by the client.
	cfg       *rest.Config
	templates dynamic.NamespaceableResourceInterface
	// kube reads and watches kubesift's own kinds, typed.
	kube client.WithWatch
}

// startCluster starts etcd and kube-apiserver, installs the CRDs and creates the namespaces.
func startCluster(ctx context.Context, o options) (*cluster, error) {
	logf("Starting etcd and kube-apiserver from %s", o.controlPlaneBin)
	bin, err := filepath.Abs(o.controlPlaneBin)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", o.controlPlaneBin, err)
	}
	// No kube-controller-manager: its garbage collector would watch and hold every object too,
	// taking CPU and memory from the two sides being measured.
	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: bin, KeepDir: o.keepData, NoControllerManager: true})
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	env := &cluster{cp: cp}
	if err := env.init(ctx, o); err != nil {
		env.stop()
		return nil, err
	}
	logf("Control plane ready at %s (kubeconfig %s)", cp.URL(), cp.Kubeconfig())
	return env, nil
}

func (c *cluster) init(ctx context.Context, o options) error {
	c.cfg = c.cp.RESTConfig()
	c.cfg.QPS, c.cfg.Burst = 5000, 10000
	// Print each distinct API warning (such as a field the CRD's schema prunes) once, not per object.
	c.cfg.WarningHandler = rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{Deduplicate: true})
	dyn, err := dynamic.NewForConfig(c.cfg)
	if err != nil {
		return fmt.Errorf("creating the dynamic client: %w", err)
	}
	c.templates = dyn.Resource(templateGVR)

	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building the scheme: %w", err)
	}
	if err := searchv1alpha1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building the scheme: %w", err)
	}
	if c.kube, err = client.NewWithWatch(c.cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("creating the client: %w", err)
	}

	crds, err := envtest.InstallCRDs(c.cfg, envtest.CRDInstallOptions{Paths: o.crdPaths, ErrorIfPathMissing: true})
	if err != nil {
		return fmt.Errorf("installing the CRDs from %s: %w", strings.Join(o.crdPaths, ", "), err)
	}
	found := false
	for _, crd := range crds {
		found = found || (crd.Spec.Group == templateGVR.Group && crd.Spec.Names.Plural == templateGVR.Resource)
	}
	if !found {
		return fmt.Errorf("no CRD for %s in %s", templateGVR.GroupResource(), strings.Join(o.crdPaths, ", "))
	}
	// The policies record who writes each query; without them the manager answers none. Their
	// param, the author epoch, is renewed here as the manager would, since no query can be
	// written before it exists and the manager starts later.
	if err := admission.Install(ctx, c.kube, "config/admission"); err != nil {
		return fmt.Errorf("installing the admission policies: %w", err)
	}
	epochNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: admission.PlainEpoch.Namespace}}
	if err := c.kube.Create(ctx, epochNS); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", epochNS.Name, err)
	}
	if _, err := admission.PlainEpoch.Renew(ctx, c.kube); err != nil {
		return fmt.Errorf("renewing the author epoch: %w", err)
	}
	if err := admission.WaitEnforced(ctx, c.kube, admission.PlainEpoch, metav1.NamespaceDefault); err != nil {
		return err
	}
	for i := range o.namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sample.Namespace(i)}}
		if err := c.kube.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

// stop stops the control plane, reporting (not returning) a failure: it runs on the way out.
func (c *cluster) stop() {
	if err := c.cp.Stop(); err != nil {
		logf("Stopping the control plane: %v", err)
	}
}

// describeHost returns the machine and the versions of the components in the run.
func describeHost(ctx context.Context, c *cluster) (Host, error) {
	h := Host{Machine: Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}}
	h.Machine.CPUModel, h.Machine.MemoryBytes = cpuModel(), memTotal()
	h.Versions.Go = runtime.Version()

	disc, err := discovery.NewDiscoveryClientForConfig(c.cfg)
	if err != nil {
		return h, fmt.Errorf("creating the discovery client: %w", err)
	}
	v, err := disc.ServerVersion()
	if err != nil {
		return h, fmt.Errorf("reading the API server version: %w", err)
	}
	h.Versions.Kubernetes = v.GitVersion

	out, err := exec.CommandContext(ctx, filepath.Join(c.cp.BinDir(), "etcd"), "--version").Output()
	if err != nil {
		return h, fmt.Errorf("reading the etcd version: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "etcd Version: "); ok {
			h.Versions.Etcd = strings.TrimSpace(v)
		}
	}

	if h.Versions.SQLite, err = sqliteVersion(); err != nil {
		return h, err
	}
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		h.Versions.Kubesift = strings.TrimSpace(string(out))
	}
	return h, nil
}

// sqliteVersion asks the SQLite library the index embeds for its version.
func sqliteVersion() (string, error) {
	db, err := sqlite3.Open(":memory:")
	if err != nil {
		return "", fmt.Errorf("opening SQLite: %w", err)
	}
	defer func() { _ = db.Close() }()
	st, _, err := db.Prepare(`SELECT sqlite_version()`)
	if err != nil {
		return "", fmt.Errorf("reading the SQLite version: %w", err)
	}
	defer func() { _ = st.Close() }()
	if !st.Step() {
		return "", fmt.Errorf("reading the SQLite version: %w", st.Err())
	}
	return st.ColumnText(0), nil
}

// cpuModel reads the CPU model name from /proc/cpuinfo ("" elsewhere).
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal reads the machine's memory from /proc/meminfo (0 elsewhere).
func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb uint64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb * 1024
		}
	}
	return 0
}

// loadAverage returns the machine's 1-minute load average (0 where /proc/loadavg is missing).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	if _, err := fmt.Sscanf(string(b), "%f", &l); err != nil {
		return 0
	}
	return l
}
