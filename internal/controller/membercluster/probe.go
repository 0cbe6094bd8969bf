package membercluster

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// probeTimeout bounds one probe of a member: /readyz, /version and /apis together.
const probeTimeout = 15 * time.Second

// connection is the client side of one member: built from one version of its kubeconfig.
type connection struct {
	// sum identifies the kubeconfig the connection was built from, so that a rotated Secret
	// builds a new one.
	sum    [sha256.Size]byte
	config *rest.Config
	http   *http.Client
	disco  *discovery.DiscoveryClient
}

// newConnection builds the clients of a member from its kubeconfig.
func newConnection(data []byte) (*connection, error) {
	cfg, err := restConfigFromKubeconfig(data)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kubesift"
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig cannot be used: %w", err)
	}
	disco, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig cannot be used: %w", err)
	}
	return &connection{sum: sha256.Sum256(data), config: cfg, http: hc, disco: disco}, nil
}

// close releases the connection's idle network connections.
func (c *connection) close() { c.http.CloseIdleConnections() }

// probe checks that the member is ready and that its credentials are accepted, and returns the
// member's Kubernetes version. Credentials the member rejects fail every call; /apis also
// needs discovery rights, which every authenticated user has unless an admin took them away.
func (c *connection) probe(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	rc := c.disco.RESTClient()
	if err := rc.Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
		return "", fmt.Errorf("/readyz: %w", err)
	}
	raw, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", fmt.Errorf("/version: %w", err)
	}
	var v version.Info
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("/version: %w", err)
	}
	if err := rc.Get().AbsPath("/apis").Do(ctx).Error(); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	return v.GitVersion, nil
}

// probeOutcome turns the result of a probe into the MemberCluster's Ready condition.
func probeOutcome(server, secret, serverVersion string, err error, interval time.Duration) outcome {
	if err == nil {
		return outcome{
			reason:  searchv1alpha1.ReasonConnected,
			message: fmt.Sprintf("The API server at %s answers /readyz and discovery", server),
			version: serverVersion,
		}
	}
	switch {
	case apierrors.IsUnauthorized(err):
		return outcome{
			reason: searchv1alpha1.ReasonUnauthorized,
			message: fmt.Sprintf("The API server at %s rejects the credentials of the kubeconfig in Secret %s: "+
				"put valid credentials in the Secret (it is read again when it changes): %v", server, secret, err),
			stalled: true,
		}
	case apierrors.IsForbidden(err):
		return outcome{
			reason: searchv1alpha1.ReasonForbidden,
			message: fmt.Sprintf("The API server at %s refuses discovery to the kubeconfig's user: bind the user "+
				"to the system:discovery ClusterRole and to read access on the kinds to mirror: %v", server, err),
			stalled: true,
		}
	case isTLSError(err):
		return outcome{
			reason: searchv1alpha1.ReasonUnreachable,
			message: fmt.Sprintf("The TLS certificate of %s is not trusted: check the server address and "+
				"certificate-authority-data in the kubeconfig in Secret %s; retrying every %s: %v", server, secret, interval, err),
			retrying: true,
		}
	default:
		return outcome{
			reason: searchv1alpha1.ReasonUnreachable,
			message: fmt.Sprintf("The API server at %s does not answer or is not ready: check that it runs, the server "+
				"address in the kubeconfig in Secret %s, and the network from the manager; retrying every %s: %v",
				server, secret, interval, err),
			retrying: true,
		}
	}
}

// isTLSError reports whether err is a failed verification of the server's certificate.
func isTLSError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify)
}
