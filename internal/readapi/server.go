package readapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/typed/apiextensions/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/union"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/discovery"
	restclient "k8s.io/client-go/rest"
	"k8s.io/component-base/compatibility"
	"k8s.io/kube-openapi/pkg/common"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
)

// DefaultReadTimeout bounds one index read of the read API.
const DefaultReadTimeout = 10 * time.Second

// Options configure the read API server.
type Options struct {
	// BindAddress and Port are where the server listens. Port 0 picks a free port.
	BindAddress net.IP
	Port        int
	// CertPEM and KeyPEM are the serving certificate and key. The certificate must carry the
	// Service's DNS name, <service>.<namespace>.svc, which the aggregator verifies.
	CertPEM, KeyPEM []byte
	// CertFile and KeyFile, when set, are served instead of CertPEM and KeyPEM, and read again
	// whenever they change, so that a certificate renewed on disk (by cert-manager, for example)
	// is served without a restart.
	CertFile, KeyFile string
	// Kubeconfig is used for delegated authentication and authorization (TokenReview,
	// SubjectAccessReview and the extension-apiserver-authentication ConfigMap). Empty uses the
	// in-cluster configuration.
	Kubeconfig string
	// ReadTimeout bounds one index read; a longer read is answered with 504. Zero means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
}

// Config is the complete configuration of the read API server.
type Config struct {
	generic *genericapiserver.RecommendedConfig
	extra   extraConfig
}

type extraConfig struct {
	store   *index.Store
	catalog *catalog.Catalog
	cluster *restclient.Config
	timeout time.Duration
	access  access
}

// CompletedConfig is a Config with its defaults filled in.
type CompletedConfig struct {
	generic genericapiserver.CompletedConfig
	extra   *extraConfig
}

// Config builds the server configuration. store and cat are the manager's index and catalog;
// cluster reaches the cluster's API server for discovery and CRD printer columns.
func (o Options) Config(store *index.Store, cat *catalog.Catalog, cluster *restclient.Config) (*Config, error) {
	recommended := genericoptions.NewRecommendedOptions("", nil)
	// Nothing is stored, nothing is admitted and no informers of the core API are needed.
	recommended.Etcd, recommended.Admission, recommended.CoreAPI = nil, nil, nil
	// Priority and fairness needs a client of its own; the generic max-in-flight limits apply.
	recommended.Features.EnablePriorityAndFairness = false
	recommended.Authentication.RemoteKubeConfigFile = o.Kubeconfig
	recommended.Authorization.RemoteKubeConfigFile = o.Kubeconfig
	// Health checks need no authorization, as for the manager's own probes.
	recommended.Authorization.AlwaysAllowPaths = []string{"/healthz", "/readyz", "/livez"}
	serving := recommended.SecureServing
	serving.BindAddress, serving.BindPort = o.BindAddress, o.Port
	if serving.BindAddress == nil {
		serving.BindAddress = net.IPv4zero
	}
	if o.Port == 0 {
		// Listen now so that the port is known; the generic server serves on this listener.
		l, err := net.Listen("tcp", net.JoinHostPort(serving.BindAddress.String(), "0"))
		if err != nil {
			return nil, fmt.Errorf("listening for the read API: %w", err)
		}
		serving.Listener = l
	}
	if o.CertFile != "" || o.KeyFile != "" {
		serving.ServerCert.CertKey = genericoptions.CertKey{CertFile: o.CertFile, KeyFile: o.KeyFile}
	} else {
		cert, err := dynamiccertificates.NewStaticCertKeyContent("read-api-serving", o.CertPEM, o.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("loading the read API serving certificate: %w", err)
		}
		serving.ServerCert.GeneratedCert = cert
	}

	generic := genericapiserver.NewRecommendedConfig(codecs)
	generic.EffectiveVersion = compatibility.NewEffectiveVersionFromString("1.37", "", "")
	// The generic server builds its type converter from OpenAPI. The read API publishes no
	// schemas (its objects are answers, never stored or applied), so its paths are left out.
	generic.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(noDefinitions, openapi.NewDefinitionNamer(scheme))
	generic.OpenAPIV3Config.IgnorePrefixes = []string{"/apis/" + queryv1alpha1.GroupName + "/"}
	if err := recommended.ApplyTo(generic); err != nil {
		return nil, fmt.Errorf("configuring the read API server: %w", err)
	}
	extra := extraConfig{store: store, catalog: cat, cluster: cluster, timeout: o.ReadTimeout}
	if extra.timeout <= 0 {
		extra.timeout = DefaultReadTimeout
	}
	extra.access = access{authorizer: generic.Authorization.Authorizer}
	// The generic server's request filter lets through what the read API authorizes itself.
	authz, err := union.New(
		union.NamedAuthorizer{AuthorizerName: "kubesift.io/read-api", Authorizer: authorizer.AuthorizerFunc(answeredHere)},
		union.NamedAuthorizer{AuthorizerName: "kubesift.io/delegated", Authorizer: generic.Authorization.Authorizer},
	)
	if err != nil {
		return nil, err
	}
	generic.Authorization.Authorizer = authz
	return &Config{generic: generic, extra: extra}, nil
}

// Complete fills in the defaults.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{generic: c.generic.Complete(), extra: &c.extra}
}

// Server is the read API server. It is a manager.Runnable that runs on every replica.
type Server struct {
	generic *genericapiserver.GenericAPIServer
}

// New builds the server: the Search and ClusterSearch storage and, in front of the generic
// handler, the Kubernetes-style reads of the mirrored kinds.
func (c CompletedConfig) New() (*Server, error) {
	disc, err := discovery.NewDiscoveryClientForConfig(c.extra.cluster)
	if err != nil {
		return nil, fmt.Errorf("creating the discovery client: %w", err)
	}
	crds, err := apiextensionsclient.NewForConfig(c.extra.cluster)
	if err != nil {
		return nil, fmt.Errorf("creating the CRD client: %w", err)
	}
	rd := &reader{
		store:   c.extra.store,
		kinds:   newKinds(c.extra.catalog, disc),
		access:  c.extra.access,
		timeout: c.extra.timeout,
	}
	res := &resources{reader: rd, tables: newTables(crds.CustomResourceDefinitions())}
	chain := c.generic.BuildHandlerChainFunc
	c.generic.BuildHandlerChainFunc = func(api http.Handler, gc *genericapiserver.Config) http.Handler {
		// The generic server's router sends every path under the group-version to the
		// go-restful container, which knows only searches and clustersearches; the mirrored kinds
		// are routed here first, inside the authentication and authorization filters.
		return chain(routeResources(res, api), gc)
	}
	generic, err := c.generic.New("kubesift-read-api", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("creating the read API server: %w", err)
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(queryv1alpha1.GroupName, scheme, parameterCodec, codecs)
	group.VersionedResourcesStorageMap[queryv1alpha1.GroupVersion.Version] = map[string]rest.Storage{
		"searches":        &searchStorage{reader: rd},
		"clustersearches": &searchStorage{reader: rd, cluster: true},
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return nil, fmt.Errorf("installing %s: %w", queryv1alpha1.GroupVersion, err)
	}
	return &Server{generic: generic}, nil
}

func noDefinitions(common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	return map[string]common.OpenAPIDefinition{}
}

func routeResources(res http.Handler, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == resourcesPath || strings.HasPrefix(req.URL.Path, resourcesPath+"/") {
			res.ServeHTTP(w, req)
			return
		}
		api.ServeHTTP(w, req)
	})
}

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	return s.generic.PrepareRun().RunWithContext(ctx)
}

// NeedLeaderElection is false: every replica answers reads from its own index.
func (s *Server) NeedLeaderElection() bool { return false }
