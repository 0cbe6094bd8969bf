package readapi

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
)

// ManagerOptions configure the read API inside the manager.
type ManagerOptions struct {
	// BindAddress is host:port to serve on; "0" or "" turns the read API off.
	BindAddress string
	// CertDir holds tls.crt and tls.key (a mounted cert-manager Secret, for example), which are
	// read again when they change. Empty keeps
	// a generated certificate in the Secret SecretName of Namespace and sets the caBundle of
	// APIService to its CA.
	CertDir string
	// Namespace and Service name the Service in front of the manager; the certificate carries
	// <Service>.<Namespace>.svc. SecretName is the Secret of the generated certificate.
	Namespace, Service, SecretName string
	// APIService is the APIService whose caBundle is set to the generated CA.
	APIService string
	// ReadTimeout bounds one index read; zero means DefaultReadTimeout.
	ReadTimeout time.Duration
}

// SetupWithManager adds the read API server to mgr. It serves on every replica.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, store *index.Store, cat *catalog.Catalog, o ManagerOptions) error {
	if o.BindAddress == "" || o.BindAddress == "0" {
		return nil
	}
	host, portText, err := net.SplitHostPort(o.BindAddress)
	if err != nil {
		return fmt.Errorf("read API bind address %q: %w", o.BindAddress, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("read API bind address %q: invalid port", o.BindAddress)
	}
	opts := Options{Port: port, Kubeconfig: kubeconfigPath(), ReadTimeout: o.ReadTimeout}
	if host != "" {
		if opts.BindAddress = net.ParseIP(host); opts.BindAddress == nil {
			return fmt.Errorf("read API bind address %q: %q is not an IP address", o.BindAddress, host)
		}
	}
	log := ctrl.Log.WithName("read-api")
	if o.CertDir != "" {
		// Served from the files and reloaded when they change (a renewed cert-manager Secret).
		opts.CertFile, opts.KeyFile = filepath.Join(o.CertDir, "tls.crt"), filepath.Join(o.CertDir, "tls.key")
	} else {
		if o.Namespace == "" || o.Service == "" || o.SecretName == "" {
			return errors.New("the read API needs a namespace, a Service and a Secret name to generate its certificate")
		}
		client, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return err
		}
		sc, err := ensureServingCert(ctx, client, o.Namespace, o.SecretName, o.Service)
		if err != nil {
			return err
		}
		opts.CertPEM, opts.KeyPEM = sc.cert, sc.key
		if o.APIService != "" {
			dyn, err := dynamic.NewForConfig(mgr.GetConfig())
			if err != nil {
				return err
			}
			found, err := patchCABundle(ctx, dyn, o.APIService, sc.ca)
			if err != nil {
				return err
			}
			if !found {
				log.Info("No APIService to trust the read API's CA; the API server will not route to it", "apiservice", o.APIService)
			}
		}
	}
	cfg, err := opts.Config(store, cat, mgr.GetConfig())
	if err != nil {
		return err
	}
	srv, err := cfg.Complete().New()
	if err != nil {
		return err
	}
	log.Info("Serving the read API", "address", o.BindAddress)
	return mgr.Add(srv)
}

// kubeconfigPath is the kubeconfig the manager was started with (--kubeconfig, then $KUBECONFIG),
// or "" in a cluster. Delegated authentication and authorization load it by path.
func kubeconfigPath() string {
	if f := flag.Lookup("kubeconfig"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return os.Getenv("KUBECONFIG")
}
