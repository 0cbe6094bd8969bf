package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Files in the control plane's directory.
const (
	// KubeconfigFile is the admin kubeconfig.
	KubeconfigFile = "kubeconfig"
	// EtcdLogFile holds etcd's output.
	EtcdLogFile = "etcd.log"
	// APIServerLogFile holds kube-apiserver's output, of every run when it was restarted.
	APIServerLogFile = "kube-apiserver.log"
	// ControllerManagerLogFile holds kube-controller-manager's output.
	ControllerManagerLogFile = "kube-controller-manager.log"
)

// AdminUser is the user name of the admin kubeconfig. The user is in the system:masters group,
// which RBAC lets do anything.
const AdminUser = "kubesift-admin"

// controllerManagerUser is the user kube-controller-manager authenticates as. It is in the
// system:masters group: the namespace and garbage collector controllers delete objects of every
// resource, custom ones included, which the bootstrap system:kube-controller-manager role only
// grants through per-controller service accounts (--use-service-account-credentials), and those
// would need the token controller and a signing key.
const controllerManagerUser = "system:kube-controller-manager"

// controllers are the only kube-controller-manager controllers the control plane runs. Names as
// listed by `kube-controller-manager --help` (v1.36); each one's health check is part of /healthz.
var controllers = []string{
	// Empties and removes namespaces being deleted; without it they stay Terminating forever.
	"namespace-controller",
	// Deletes objects whose owners are gone (ownerReferences) and honours foreground and orphan
	// deletion.
	"garbage-collector-controller",
	// Fills the rules of ClusterRoles that have an aggregationRule.
	"clusterrole-aggregation-controller",
}

// frontProxyUser is the common name of the aggregator's client certificate.
const frontProxyUser = "front-proxy-client"

// host is the only address the control plane listens on.
const host = "127.0.0.1"

// serviceCIDR is the range the apiserver allocates Service cluster IPs from. Nothing routes it;
// the apiserver only insists on having one.
const serviceCIDR = "10.0.0.0/24"

// defaultStartTimeout bounds the wait for each component to become ready. An apiserver on a busy
// two-core machine can take half a minute.
const defaultStartTimeout = 90 * time.Second

// Options configure a control plane. The zero value is ready to use.
type Options struct {
	// Dir holds the certificates, the kubeconfig, the process logs and, unless EtcdDataDir is set,
	// the etcd data. Empty creates a new temporary directory, which Stop removes unless KeepDir is
	// set. A directory given here is never removed.
	Dir string

	// KeepDir keeps a temporary Dir after Stop, to read the logs.
	KeepDir bool

	// BinDir holds the etcd, kube-apiserver and kubectl binaries, and optionally
	// kube-controller-manager. Empty uses $KUBEBUILDER_ASSETS, else bin/controlplane in the Go
	// module that contains the working directory.
	BinDir string

	// EtcdDataDir is etcd's data directory. Empty uses etcd/ in Dir. A directory outside Dir keeps
	// the cluster's objects across control planes.
	EtcdDataDir string

	// StartTimeout bounds the wait for each component to become ready. Zero means 90 seconds.
	StartTimeout time.Duration

	// APIServerArgs are extra kube-apiserver flags, such as "--v=4". They are appended to the
	// defaults; a flag given twice takes its last value.
	APIServerArgs []string

	// NoControllerManager leaves kube-controller-manager out. By default it runs whenever BinDir
	// holds the binary (`make controlplane` builds it; setup-envtest's asset directories have none,
	// and then the control plane silently runs without it). Without it namespaces never finish
	// deleting, aggregated ClusterRoles stay empty and owned objects outlive their owners.
	NoControllerManager bool
}

// ControlPlane is a running etcd, kube-apiserver and, unless absent or disabled,
// kube-controller-manager. Its methods are safe for concurrent use.
type ControlPlane struct {
	dir           string
	removeDir     bool
	binDir        string
	startTimeout  time.Duration
	url           string
	etcdURL       string
	kubeconfig    string
	restConfig    *rest.Config
	ca            *authority
	readyzClient  *http.Client
	kcmURL        string       // kube-controller-manager's secure serving address
	kcmClient     *http.Client // trusts the control plane's CA, presents no client certificate
	stopWatchdog  context.CancelFunc
	watchdogEnded chan struct{}

	mu                sync.Mutex // guards the processes and stopped
	etcd              *process
	apiServer         *process
	controllerManager *process // nil when not run
	stopped           bool
}

// Start starts etcd, kube-apiserver and then kube-controller-manager (see
// Options.NoControllerManager) and returns once the apiserver is ready, the default namespace
// exists and the controller-manager is healthy. ctx bounds the life of the control plane, not only its start: when ctx ends,
// the processes are stopped as by Stop. Callers should still call Stop.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	binDir, err := resolveBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{binDir: binDir, startTimeout: opts.StartTimeout}
	if cp.startTimeout <= 0 {
		cp.startTimeout = defaultStartTimeout
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "kubesift-controlplane-")
		if err != nil {
			return nil, fmt.Errorf("creating the control plane directory: %w", err)
		}
		cp.dir, cp.removeDir = dir, !opts.KeepDir
	} else {
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", opts.Dir, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the control plane directory: %w", err)
		}
		cp.dir = dir
	}
	if err := cp.start(ctx, opts); err != nil {
		return nil, errors.Join(err, cp.Stop())
	}

	watchCtx, cancel := context.WithCancel(context.Background())
	cp.stopWatchdog, cp.watchdogEnded = cancel, make(chan struct{})
	go func() {
		defer close(cp.watchdogEnded)
		select {
		case <-ctx.Done():
			_ = cp.stop()
		case <-watchCtx.Done():
		}
	}()
	return cp, nil
}

// start writes the certificates and the kubeconfig and starts the processes.
func (cp *ControlPlane) start(ctx context.Context, opts Options) error {
	pki := filepath.Join(cp.dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", pki, err)
	}
	etcdData := opts.EtcdDataDir
	if etcdData == "" {
		etcdData = filepath.Join(cp.dir, "etcd")
	}

	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdClientPort, etcdPeerPort, apiPort, kcmPort := ports[0], ports[1], ports[2], ports[3]
	cp.etcdURL = "http://" + net.JoinHostPort(host, strconv.Itoa(etcdClientPort))
	cp.url = "https://" + net.JoinHostPort(host, strconv.Itoa(apiPort))

	ca, err := newAuthority("kubesift-controlplane-ca")
	if err != nil {
		return err
	}
	cp.ca = ca
	serving, err := ca.servingCert("kube-apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		[]net.IP{net.ParseIP(host), net.ParseIP("10.0.0.1")},
	)
	if err != nil {
		return err
	}
	admin, err := ca.clientCert(AdminUser, []string{"system:masters"})
	if err != nil {
		return err
	}
	saKey, saPub, err := newServiceAccountKey()
	if err != nil {
		return err
	}
	// The aggregation layer: the apiserver proxies requests for APIServices with a client
	// certificate from the front-proxy CA and passes the user in headers, which aggregated
	// servers trust because the front-proxy CA signed the proxy's certificate.
	frontProxyCA, err := newAuthority("kubesift-front-proxy-ca")
	if err != nil {
		return err
	}
	frontProxy, err := frontProxyCA.clientCert(frontProxyUser, nil)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.crt":                 ca.certPEM,
		"apiserver.crt":          serving.CertPEM,
		"apiserver.key":          serving.KeyPEM,
		"sa.key":                 saKey,
		"sa.pub":                 saPub,
		"front-proxy-ca.crt":     frontProxyCA.certPEM,
		"front-proxy-client.crt": frontProxy.CertPEM,
		"front-proxy-client.key": frontProxy.KeyPEM,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(pki, name), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}

	cp.restConfig = &rest.Config{
		Host: cp.url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   ca.certPEM,
			CertData: admin.CertPEM,
			KeyData:  admin.KeyPEM,
		},
	}
	cp.kubeconfig = filepath.Join(cp.dir, KubeconfigFile)
	if err := writeKubeconfig(cp.kubeconfig, cp.restConfig, AdminUser); err != nil {
		return err
	}
	probeConfig := rest.CopyConfig(cp.restConfig)
	probeConfig.Timeout = 5 * time.Second
	if cp.readyzClient, err = rest.HTTPClientFor(probeConfig); err != nil {
		return fmt.Errorf("creating the readiness client: %w", err)
	}

	peerURL := "http://" + net.JoinHostPort(host, strconv.Itoa(etcdPeerPort))
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.etcd = &process{
		name:    "etcd",
		path:    filepath.Join(cp.binDir, etcdBinary),
		logPath: filepath.Join(cp.dir, EtcdLogFile),
		args: []string{
			"--name=default",
			"--data-dir=" + etcdData,
			"--listen-client-urls=" + cp.etcdURL,
			"--advertise-client-urls=" + cp.etcdURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=default=" + peerURL,
			// A throwaway cluster need not survive a power cut; skipping fsync makes writes fast.
			"--unsafe-no-fsync=true",
		},
	}
	cp.apiServer = &process{
		name:    "kube-apiserver",
		path:    filepath.Join(cp.binDir, apiServerBinary),
		logPath: filepath.Join(cp.dir, APIServerLogFile),
		args: append([]string{
			"--etcd-servers=" + cp.etcdURL,
			"--bind-address=" + host,
			"--advertise-address=" + host,
			"--secure-port=" + strconv.Itoa(apiPort),
			"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
			"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
			// Never used because the serving certificate is given, but keeps the apiserver from
			// falling back to /var/run/kubernetes.
			"--cert-dir=" + pki,
			// Clients authenticate with certificates from the control plane's CA.
			"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
			"--authorization-mode=RBAC",
			"--service-cluster-ip-range=" + serviceCIDR,
			"--service-account-issuer=" + cp.url,
			"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
			"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
			// The controller-manager runs no serviceaccount controller, so no namespace gets a
			// default ServiceAccount, and this plugin would reject every Pod for the lack of one.
			"--disable-admission-plugins=ServiceAccount",
			// The kubernetes Service cannot have a loopback endpoint, and nothing here needs it.
			"--endpoint-reconciler-type=none",
			// Close open watches when asked to stop. Without this the apiserver waits for its
			// request timeout (a minute) for watches to end, so a restart under a running
			// controller would hang.
			"--shutdown-watch-termination-grace-period=2s",
			// The aggregation layer (see the front-proxy CA above). An APIService backed by a
			// Service of type ExternalName is reached at the name it points to, so a server
			// running on this machine is reachable through an ExternalName Service for localhost.
			"--requestheader-client-ca-file=" + filepath.Join(pki, "front-proxy-ca.crt"),
			"--requestheader-allowed-names=" + frontProxyUser,
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file=" + filepath.Join(pki, "front-proxy-client.crt"),
			"--proxy-client-key-file=" + filepath.Join(pki, "front-proxy-client.key"),
		}, opts.APIServerArgs...),
	}

	if err := cp.etcd.start(); err != nil {
		return err
	}
	if err := cp.etcd.waitFor(ctx, cp.startTimeout, "etcd to be healthy", cp.etcdHealthy); err != nil {
		return err
	}
	if err := cp.startAPIServerLocked(ctx); err != nil {
		return err
	}

	kcmPath := filepath.Join(cp.binDir, controllerManagerBinary)
	if opts.NoControllerManager || checkExecutable(kcmPath) != nil {
		return nil
	}
	return cp.startControllerManagerLocked(ctx, kcmPath, kcmPort)
}

// startControllerManagerLocked starts kube-controller-manager with the few controllers a control
// plane without nodes needs, and waits until it is healthy. cp.mu must be held.
func (cp *ControlPlane) startControllerManagerLocked(ctx context.Context, path string, port int) error {
	pki := filepath.Join(cp.dir, "pki")
	client, err := cp.ca.clientCert(controllerManagerUser, []string{"system:masters"})
	if err != nil {
		return err
	}
	cfg := rest.CopyConfig(cp.restConfig)
	cfg.CertData, cfg.KeyData = client.CertPEM, client.KeyPEM
	kubeconfig := filepath.Join(pki, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kubeconfig, cfg, controllerManagerUser); err != nil {
		return err
	}
	serving, err := cp.ca.servingCert(controllerManagerBinary, []string{"localhost"}, []net.IP{net.ParseIP(host)})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"kube-controller-manager.crt": serving.CertPEM,
		"kube-controller-manager.key": serving.KeyPEM,
	} {
		if err := os.WriteFile(filepath.Join(pki, name), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	cp.kcmURL = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	if cp.kcmClient, err = rest.HTTPClientFor(&rest.Config{
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.ca.certPEM},
		Timeout:         5 * time.Second,
	}); err != nil {
		return fmt.Errorf("creating the controller-manager health client: %w", err)
	}

	cp.controllerManager = &process{
		name:    controllerManagerBinary,
		path:    path,
		logPath: filepath.Join(cp.dir, ControllerManagerLogFile),
		args: []string{
			"--kubeconfig=" + kubeconfig,
			"--controllers=" + strings.Join(controllers, ","),
			// One instance, nothing to elect; it also never stops for a lost lease while the
			// apiserver restarts.
			"--leader-elect=false",
			// Every controller uses the kubeconfig's credentials rather than a service account
			// token of its own, which would need the token controller.
			"--use-service-account-credentials=false",
			// Serve /healthz on loopback only, with a certificate from the control plane's CA.
			// /healthz is always allowed, so no delegated authentication or authorization is
			// configured.
			"--bind-address=" + host,
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + filepath.Join(pki, "kube-controller-manager.crt"),
			"--tls-private-key-file=" + filepath.Join(pki, "kube-controller-manager.key"),
		},
	}
	if err := cp.controllerManager.start(); err != nil {
		return err
	}
	return cp.controllerManager.waitFor(ctx, cp.startTimeout, "kube-controller-manager to be healthy", cp.controllerManagerHealthy)
}

// startAPIServerLocked starts the apiserver and waits until it is ready. cp.mu must be held.
func (cp *ControlPlane) startAPIServerLocked(ctx context.Context) error {
	if err := cp.apiServer.start(); err != nil {
		return err
	}
	return cp.apiServer.waitFor(ctx, cp.startTimeout, "kube-apiserver to be ready", cp.apiServerReady)
}

// etcdHealthy checks etcd's /health endpoint.
func (cp *ControlPlane) etcdHealthy(ctx context.Context) error {
	return get(ctx, http.DefaultClient, cp.etcdURL+"/health")
}

// controllerManagerHealthy checks kube-controller-manager's /healthz, which includes the health
// of each controller.
func (cp *ControlPlane) controllerManagerHealthy(ctx context.Context) error {
	return get(ctx, cp.kcmClient, cp.kcmURL+"/healthz")
}

// apiServerReady checks /readyz and that the default namespace exists: the apiserver creates it
// shortly after it reports ready, and most clients assume it.
func (cp *ControlPlane) apiServerReady(ctx context.Context) error {
	if err := get(ctx, cp.readyzClient, cp.url+"/readyz"); err != nil {
		return err
	}
	return get(ctx, cp.readyzClient, cp.url+"/api/v1/namespaces/default")
}

// get fails unless url answers 200.
func get(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("building a request for %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Dir returns the directory with the certificates, the kubeconfig and the logs.
func (cp *ControlPlane) Dir() string { return cp.dir }

// BinDir returns the directory of the control plane binaries in use.
func (cp *ControlPlane) BinDir() string { return cp.binDir }

// HasControllerManager reports whether the control plane runs kube-controller-manager, so that
// namespaces finish deleting, aggregated ClusterRoles get their rules and owned objects are
// garbage collected.
func (cp *ControlPlane) HasControllerManager() bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.controllerManager != nil
}

// URL returns the apiserver's address, such as https://127.0.0.1:40123.
func (cp *ControlPlane) URL() string { return cp.url }

// Kubeconfig returns the path of the admin kubeconfig.
func (cp *ControlPlane) Kubeconfig() string { return cp.kubeconfig }

// RESTConfig returns a new copy of the admin client configuration.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.restConfig) }

// APIServerCPU returns the CPU time that the running kube-apiserver has used since it started
// (Linux only). Benchmarks read it around a measurement: with every core busy, the API
// server's share of the machine decides how fast a client can list or sync.
func (cp *ControlPlane) APIServerCPU() (time.Duration, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.apiServer == nil || !cp.apiServer.running() {
		return 0, errors.New("kube-apiserver is not running")
	}
	return processCPU(cp.apiServer.cmd.Process.Pid)
}

// RestartAPIServer stops the apiserver and starts it again on the same port, with the same etcd
// and certificates, and waits until it is ready. Clients see the connection drop and their
// watches end, as in an apiserver upgrade or crash. kube-controller-manager keeps running and
// reconnects by itself, as it does in a real cluster.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if err := cp.stopAPIServerLocked(); err != nil {
		return err
	}
	return cp.startAPIServerLocked(ctx)
}

// StopAPIServer stops the apiserver and leaves etcd running, as in an outage of the API server:
// clients see the connection refused until StartAPIServer starts it again.
func (cp *ControlPlane) StopAPIServer() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.stopAPIServerLocked()
}

// stopAPIServerLocked stops the apiserver. cp.mu must be held.
func (cp *ControlPlane) stopAPIServerLocked() error {
	if cp.stopped {
		return errors.New("the control plane is stopped")
	}
	// An apiserver that had to be killed is gone all the same.
	if err := cp.apiServer.stop(); err != nil && cp.apiServer.running() {
		return err
	}
	return nil
}

// StartAPIServer starts the apiserver again after StopAPIServer, on the same port, with the same
// etcd and certificates, and waits until it is ready.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	switch {
	case cp.stopped:
		return errors.New("the control plane is stopped")
	case cp.apiServer.running():
		return errors.New("the apiserver is running")
	}
	return cp.startAPIServerLocked(ctx)
}

// Stop stops kube-controller-manager, the apiserver, then etcd, each with SIGTERM and a kill after a timeout, and removes
// a temporary directory unless Options.KeepDir was set. Calling Stop again does nothing.
func (cp *ControlPlane) Stop() error {
	if cp.stopWatchdog != nil {
		cp.stopWatchdog()
		<-cp.watchdogEnded
	}
	return cp.stop()
}

func (cp *ControlPlane) stop() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return nil
	}
	cp.stopped = true
	var errs []error
	for _, p := range []*process{cp.controllerManager, cp.apiServer, cp.etcd} {
		if p != nil {
			errs = append(errs, p.stop())
		}
	}
	if cp.removeDir {
		if err := os.RemoveAll(cp.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", cp.dir, err))
		}
	}
	return errors.Join(errs...)
}

// KubectlCmd returns a kubectl command (from BinDir) that uses the admin kubeconfig. Set its
// Stdin, Stdout and Stderr as needed before running it.
func (cp *ControlPlane) KubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	return kubectlCmd(ctx, cp.binDir, cp.kubeconfig, args)
}

// Kubectl runs kubectl with the admin kubeconfig and returns its standard output. When kubectl
// fails, the error includes its standard error.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) (string, error) {
	return runKubectl(cp.KubectlCmd(ctx, args...))
}

// User is a user that authenticates with a client certificate from the control plane's CA. It
// has no permissions until RBAC grants it some.
type User struct {
	// Name is the user name that RBAC subjects refer to.
	Name string
	// Groups are the user's groups.
	Groups []string
	// Kubeconfig is the path of a kubeconfig file for the user.
	Kubeconfig string

	restConfig *rest.Config
	binDir     string
}

// RESTConfig returns a new copy of the user's client configuration.
func (u *User) RESTConfig() *rest.Config { return rest.CopyConfig(u.restConfig) }

// Kubectl runs kubectl as the user and returns its standard output.
func (u *User) Kubectl(ctx context.Context, args ...string) (string, error) {
	return runKubectl(kubectlCmd(ctx, u.binDir, u.Kubeconfig, args))
}

// AddUser issues a client certificate for a user with the given groups and writes a kubeconfig
// for it to users/NAME.kubeconfig in Dir.
func (cp *ControlPlane) AddUser(name string, groups ...string) (*User, error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("invalid user name %q", name)
	}
	cert, err := cp.ca.clientCert(name, groups)
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(cp.restConfig)
	cfg.CertData, cfg.KeyData = cert.CertPEM, cert.KeyPEM
	dir := filepath.Join(cp.dir, "users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, name+".kubeconfig")
	if err := writeKubeconfig(path, cfg, name); err != nil {
		return nil, err
	}
	return &User{Name: name, Groups: slices.Clone(groups), Kubeconfig: path, restConfig: cfg, binDir: cp.binDir}, nil
}

func kubectlCmd(ctx context.Context, binDir, kubeconfig string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, kubectlBinary), append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	// KUBECONFIG would be ignored because of the flag; dropping it avoids confusion in error output.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KUBECONFIG=") })
	return cmd
}

func runKubectl(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(cmd.Args[2:], " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// writeKubeconfig writes a kubeconfig with one cluster, user and context, all named after the
// control plane, and the credentials embedded.
func writeKubeconfig(path string, cfg *rest.Config, user string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubesift"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
	}
	kc.Contexts["kubesift"] = &clientcmdapi.Context{Cluster: "kubesift", AuthInfo: user, Namespace: "default"}
	kc.CurrentContext = "kubesift"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing the kubeconfig %s: %w", path, err)
	}
	return nil
}

// freePorts returns n distinct loopback ports that were free a moment ago. They are held open
// together, so that they differ, and released before returning; another process could take one
// in between, which Start reports as a failed component start.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
