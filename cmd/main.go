// Command manager runs kubesift: it mirrors the kinds named by ResourceIndex objects into an
// embedded SQLite index and answers SearchQuery and ClusterSearchQuery objects from it.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controller"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/mirror"
	"github.com/kubesift/kubesift/internal/readapi"
)

var scheme = runtime.NewScheme()

// The read API keeps its generated certificate in a Secret of the manager's namespace, writes the
// CA into its APIService, and reads CRDs for their printer columns.
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=get;create
// +kubebuilder:rbac:groups=apiregistration.k8s.io,resources=apiservices,verbs=get;patch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get

// defaultTokenKey signs continue tokens when no key file is given. A token only ever selects a
// position inside the results of the query it was issued for (its fingerprint binds it to the
// query, including the namespace), so a stable, public key keeps tokens valid across restarts and
// leader changes without giving a forged token any power. Operators who want tokens that cannot be
// minted outside the manager set --continue-token-key-file.
const defaultTokenKey = "kubesift continue token key v1"

// memoryLimitEnv carries the container's memory limit in bytes; config/manager sets it with the
// downward API (resourceFieldRef limits.memory).
const memoryLimitEnv = "KUBESIFT_MEMORY_LIMIT"

// goMemoryShare is the part of the container's limit, less SQLite's page cache, that the Go
// runtime may use before it collects garbage harder than its GOGC pace. The rest is left to
// memory the Go runtime does not manage (SQLite's WebAssembly memory, thread stacks).
const goMemoryShare = 0.9

// inMemoryGCPercent is the Go garbage collector's target with the index in memory, when GOGC
// is not set. Most of the heap is then the index's database pages, which hold no pointers, so a
// collection costs little even when the heap is large, while the default of 100 would let
// garbage grow as large as the index. With the index in a file the heap is small, and so a
// target of 25 would collect after every few MiB allocated: the initial sync, which decodes
// every object, then spends a quarter of its CPU time in the collector. Go's default stays.
const inMemoryGCPercent = 25

// The default page cache budgets of --index-cache-bytes. An initial sync into a file changes
// pages all over a large kind's indexes; at 100,000 objects a 48 MiB budget (16 MiB for the
// writer) made it 1.19x faster than 16 MiB, with 0.83x the CPU (docs/design/index.md). In
// memory the cache only copies pages the database holds, so it stays small.
const (
	memoryCacheBytes = 16 << 20
	fileCacheBytes   = 48 << 20
)

// indexCacheBytes returns the page cache budget: the flag's, or the default for where the index lives.
func indexCacheBytes(flagBytes int64, file bool) int64 {
	switch {
	case flagBytes > 0:
		return flagBytes
	case file:
		return fileCacheBytes
	default:
		return memoryCacheBytes
	}
}

// setGCPercent sets the garbage collector's targets for where the index lives, unless GOGC is
// set: lower for an index in memory, higher while relists are written into a file.
func setGCPercent(inMemory bool) {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return
	}
	if inMemory {
		debug.SetGCPercent(inMemoryGCPercent)
		return
	}
	mirror.SetRelistGCPercent(mirror.FileRelistGCPercent)
}

// setMemoryLimit sets the Go memory limit from the container's, unless GOMEMLIMIT is set. It
// returns the limit set, or 0.
func setMemoryLimit(cacheBytes int64) (int64, error) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return 0, nil
	}
	v := os.Getenv(memoryLimitEnv)
	if v == "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive number of bytes", memoryLimitEnv, v)
	}
	goLimit := int64(float64(limit-cacheBytes) * goMemoryShare)
	if goLimit <= 0 {
		return 0, fmt.Errorf("the index page cache (%d bytes) does not fit in the memory limit (%d bytes)", cacheBytes, limit)
	}
	debug.SetMemoryLimit(goLimit)
	return goLimit, nil
}

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(searchv1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr     string
		probeAddr       string
		leaderElect     bool
		leaderElectNS   string
		secureMetrics   bool
		enableHTTP2     bool
		indexPath       string
		requeryInterval time.Duration
		probeInterval   time.Duration
		tokenKeyFile    string
		cacheBytes      int64
		readAPI         readapi.ManagerOptions
		authorEpoch     = admission.PlainEpoch
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080",
		"The address the Prometheus metrics endpoint binds to. Use :8443 with --metrics-secure for HTTPS, or 0 to disable it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the health and readiness probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false,
		"Enable leader election, so that only one of several manager replicas reconciles at a time.")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "",
		"The namespace of the leader election lease. Empty uses the manager's own namespace, which only exists in a cluster.")
	flag.BoolVar(&secureMetrics, "metrics-secure", false,
		"Serve metrics over HTTPS with authentication and authorization (needs a metrics address such as :8443).")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server. Off by default because of HTTP/2 stream cancellation and rapid reset CVEs.")
	flag.StringVar(&indexPath, "index-path", "",
		"File for the SQLite index. Empty keeps the index in memory. Either way it is rebuilt from list and watch at start.")
	flag.DurationVar(&requeryInterval, "requery-interval", 50*time.Millisecond,
		"The shortest time between two evaluations of one query caused by changes of its target objects. "+
			"A query whose search takes longer than a tenth of it waits ten times its search's duration instead.")
	flag.DurationVar(&probeInterval, "member-probe-interval", 30*time.Second,
		"How often each MemberCluster's API server is probed (/readyz and discovery).")
	flag.StringVar(&tokenKeyFile, "continue-token-key-file", "",
		"File whose contents sign continue tokens. Empty uses a built-in key, so tokens stay valid across restarts "+
			"and replicas; they are bound to their query either way. See docs/operations.md.")
	flag.Int64Var(&cacheBytes, "index-cache-bytes", 0,
		"Bytes of SQLite page cache for the index, shared by all its connections. 0 means 16 MiB in memory, where "+
			"the cache is a second copy of pages the database already holds, and 48 MiB with --index-path, where "+
			"the writer changes pages all over the indexes during an initial sync.")
	flag.StringVar(&readAPI.BindAddress, "read-api-bind-address", "0",
		"The address the read API (query.kubesift.io, served to the API server's aggregator) binds to, for example :8444; 0 disables it.")
	flag.StringVar(&readAPI.CertDir, "read-api-cert-dir", "",
		"Directory with tls.crt and tls.key for the read API. Empty generates a certificate once, keeps it in "+
			"--read-api-secret and sets the caBundle of --read-api-apiservice.")
	flag.StringVar(&readAPI.Namespace, "read-api-namespace", envOr("POD_NAMESPACE", "kubesift-system"),
		"The namespace of the read API's Service and certificate Secret.")
	flag.StringVar(&readAPI.Service, "read-api-service", "kubesift-read-api",
		"The Service in front of the read API; the generated certificate carries <service>.<namespace>.svc.")
	flag.StringVar(&readAPI.SecretName, "read-api-secret", "kubesift-read-api-cert",
		"The Secret that keeps the generated read API certificate, shared by every replica.")
	flag.StringVar(&readAPI.APIService, "read-api-apiservice", "v1alpha1.query.kubesift.io",
		"The APIService whose caBundle is set to the generated CA. Empty leaves it alone.")
	flag.DurationVar(&readAPI.ReadTimeout, "read-api-timeout", readapi.DefaultReadTimeout,
		"The longest one index read of the read API may take; longer reads are answered with 504.")
	flag.StringVar(&authorEpoch.Namespace, "author-epoch-namespace", envOr("POD_NAMESPACE", authorEpoch.Namespace),
		"The namespace of the author epoch ConfigMap, as the paramRef of the author policies' bindings names it.")
	flag.StringVar(&authorEpoch.Name, "author-epoch", authorEpoch.Name,
		"The author epoch ConfigMap that the manager keeps, as the paramRef of the author policies' bindings names it.")
	flag.StringVar(&authorEpoch.AuthorPolicy, "author-policy", authorEpoch.AuthorPolicy,
		"The MutatingAdmissionPolicy that records query authors, and its binding (named alike).")
	flag.StringVar(&authorEpoch.GuardPolicy, "author-guard-policy", authorEpoch.GuardPolicy,
		"The ValidatingAdmissionPolicy that guards the author record, and its binding (named alike).")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog := ctrl.Log.WithName("setup")

	var err error
	if requeryInterval <= 0 {
		setupLog.Error(nil, "The requery interval must be positive", "requery-interval", requeryInterval)
		os.Exit(1)
	}

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}

	tokenKey := []byte(defaultTokenKey)
	if tokenKeyFile != "" {
		if tokenKey, err = os.ReadFile(tokenKeyFile); err != nil || len(tokenKey) == 0 {
			setupLog.Error(err, "Unable to read the continue token key, or it is empty", "continue-token-key-file", tokenKeyFile)
			os.Exit(1)
		}
	}
	if cacheBytes < 0 {
		setupLog.Error(nil, "The index cache must not be negative", "index-cache-bytes", cacheBytes)
		os.Exit(1)
	}
	cacheBytes = indexCacheBytes(cacheBytes, indexPath != "")
	setGCPercent(indexPath == "")
	goLimit, err := setMemoryLimit(cacheBytes)
	if err != nil {
		setupLog.Error(err, "Unable to set the Go memory limit")
		os.Exit(1)
	}
	if goLimit > 0 {
		setupLog.Info("Go memory limit set from the container's", "bytes", goLimit)
	}
	store, err := index.Open(index.Options{Path: indexPath, TokenKey: tokenKey, CacheBytes: cacheBytes, Log: ctrl.Log.WithName("index")})
	if err != nil {
		setupLog.Error(err, "Unable to open the index", "index-path", indexPath)
		os.Exit(1)
	}
	defer func() {
		if err := store.Close(); err != nil {
			setupLog.Error(err, "Unable to close the index")
		}
	}()

	cacheOpts := controller.CacheOptions(authorEpoch)
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "manager.search.kubesift.io",
		LeaderElectionNamespace: leaderElectNS,
		Cache:                   cacheOpts,
	})
	if err != nil {
		setupLog.Error(err, "Unable to create the manager")
		os.Exit(1)
	}

	cat := catalog.New()
	ctrlOpts := controller.Options{
		RequeryInterval: requeryInterval, ProbeInterval: probeInterval, Catalog: cat, AuthorEpoch: authorEpoch,
	}
	if err := controller.SetupWithManager(mgr, store, ctrlOpts); err != nil {
		setupLog.Error(err, "Unable to set up the controllers")
		os.Exit(1)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := readapi.SetupWithManager(ctx, mgr, store, cat, readAPI); err != nil {
		setupLog.Error(err, "Unable to set up the read API")
		os.Exit(1)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up the ready check")
		os.Exit(1)
	}

	setupLog.Info("Starting manager", "index-path", indexPath, "requery-interval", requeryInterval)
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "Problem running the manager")
		os.Exit(1) //nolint:gocritic // the deferred close is best effort; the process is exiting
	}
	setupLog.Info("Manager stopped")
}

// envOr returns the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
