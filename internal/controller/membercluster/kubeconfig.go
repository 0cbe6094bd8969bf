package membercluster

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// errNotKubeconfig means the data does not parse as a kubeconfig. It carries no detail of the
// parser's error on purpose: the data is a Secret's, and the error could quote it.
var errNotKubeconfig = errors.New("the data is not a kubeconfig (YAML or JSON with kind Config)")

// restConfigFromKubeconfig builds a client configuration from a kubeconfig held in a Secret. It
// uses the current context, or the only context when none is current.
//
// Everything the kubeconfig needs must be inline: a kubeconfig that names files, runs an exec
// plugin or uses an auth provider is refused, because those would read from or run on the
// manager's own host on behalf of whoever wrote the Secret. Cluster API's kubeconfig Secrets,
// and those that `kubectl config view --minify --flatten` writes, are inline.
func restConfigFromKubeconfig(data []byte) (*rest.Config, error) {
	kc, err := clientcmd.Load(data)
	if err != nil {
		return nil, errNotKubeconfig
	}
	name := kc.CurrentContext
	if name == "" && len(kc.Contexts) == 1 {
		for n := range kc.Contexts {
			name = n
		}
	}
	if name == "" {
		return nil, fmt.Errorf("the kubeconfig has no current-context and %d contexts (%s); set current-context",
			len(kc.Contexts), strings.Join(sortedKeys(kc.Contexts), ", "))
	}
	kctx, ok := kc.Contexts[name]
	if !ok {
		return nil, fmt.Errorf("the kubeconfig's current-context %q is not among its contexts", name)
	}
	cluster, ok := kc.Clusters[kctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("context %q names cluster %q, which the kubeconfig does not define", name, kctx.Cluster)
	}
	if cluster.Server == "" {
		return nil, fmt.Errorf("cluster %q of the kubeconfig has no server", kctx.Cluster)
	}
	if cluster.CertificateAuthority != "" {
		return nil, fmt.Errorf("cluster %q names a certificate-authority file; embed it as certificate-authority-data", kctx.Cluster)
	}
	if auth, ok := kc.AuthInfos[kctx.AuthInfo]; ok {
		if err := checkInline(kctx.AuthInfo, auth); err != nil {
			return nil, err
		}
	} else if kctx.AuthInfo != "" {
		return nil, fmt.Errorf("context %q names user %q, which the kubeconfig does not define", name, kctx.AuthInfo)
	}

	cfg, err := clientcmd.NewDefaultClientConfig(*kc, &clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig cannot be used: %w", err)
	}
	return cfg, nil
}

// checkInline refuses credentials that are not in the kubeconfig itself.
func checkInline(name string, auth *clientcmdapi.AuthInfo) error {
	switch {
	case auth.Exec != nil:
		return fmt.Errorf("user %q runs an exec plugin, which kubesift does not run; use a token or a client certificate", name)
	case auth.AuthProvider != nil:
		return fmt.Errorf("user %q uses an auth provider, which kubesift does not support; use a token or a client certificate", name)
	case auth.TokenFile != "":
		return fmt.Errorf("user %q names a token file; embed the token as token", name)
	case auth.ClientCertificate != "" || auth.ClientKey != "":
		return fmt.Errorf("user %q names client certificate or key files; embed them as client-certificate-data and client-key-data", name)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
