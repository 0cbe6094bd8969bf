package membercluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// kubeconfig returns a one-context kubeconfig for server, changed by edit.
func kubeconfig(t *testing.T, server string, edit func(*clientcmdapi.Config)) []byte {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: []byte("not checked here")}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t0ken"}
	kc.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "ctx"
	if edit != nil {
		edit(kc)
	}
	b, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestConfigFromKubeconfig(t *testing.T) {
	const server = "https://member.example:6443"
	tests := []struct {
		name    string
		data    []byte
		wantErr string // a part of the error; empty means success
	}{
		{name: "inline token", data: kubeconfig(t, server, nil)},
		{name: "only context, none current", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) { kc.CurrentContext = "" })},
		{name: "inline client certificate", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) {
			kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("c"), ClientKeyData: []byte("k")}
		})},
		{name: "not YAML", data: []byte("password: [hunter2"), wantErr: "not a kubeconfig"},
		{name: "empty config", data: []byte("apiVersion: v1\nkind: Config\n"), wantErr: "no current-context and 0 contexts"},
		{name: "two contexts, none current", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) {
			kc.CurrentContext = ""
			kc.Contexts["other"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
		}), wantErr: "2 contexts (ctx, other)"},
		{name: "missing context", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) { kc.CurrentContext = "gone" }),
			wantErr: `current-context "gone"`},
		{name: "missing cluster", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) { delete(kc.Clusters, "c") }),
			wantErr: `cluster "c"`},
		{name: "no server", data: kubeconfig(t, "", nil), wantErr: "has no server"},
		{name: "CA file", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) { kc.Clusters["c"].CertificateAuthority = "/etc/ca.crt" }),
			wantErr: "certificate-authority-data"},
		{name: "exec plugin", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) {
			kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "/bin/sh", APIVersion: "client.authentication.k8s.io/v1"}}
		}), wantErr: "exec plugin"},
		{name: "auth provider", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) {
			kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "oidc"}}
		}), wantErr: "auth provider"},
		{name: "token file", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) {
			kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}
		}), wantErr: "token file"},
		{name: "client certificate file", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) {
			kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificate: "/tmp/c.crt", ClientKeyData: []byte("k")}
		}), wantErr: "client-certificate-data"},
		{name: "missing user", data: kubeconfig(t, server, func(kc *clientcmdapi.Config) { delete(kc.AuthInfos, "u") }),
			wantErr: `user "u"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := restConfigFromKubeconfig(tt.data)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("restConfigFromKubeconfig: %v", err)
				}
				if cfg.Host != server {
					t.Errorf("host = %q, want %q", cfg.Host, server)
				}
				return
			}
			if err == nil {
				t.Fatalf("restConfigFromKubeconfig succeeded, want an error with %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "t0ken") {
				t.Errorf("error %q quotes the Secret's data", err)
			}
		})
	}
}

func TestProbeOutcome(t *testing.T) {
	gr := schema.GroupResource{}
	tests := []struct {
		name         string
		err          error
		wantReason   string
		wantStalled  bool
		wantRetrying bool
	}{
		{name: "answers", wantReason: searchv1alpha1.ReasonConnected},
		{name: "bad credentials", err: fmt.Errorf("/readyz: %w", apierrors.NewUnauthorized("no")),
			wantReason: searchv1alpha1.ReasonUnauthorized, wantStalled: true},
		{name: "no discovery", err: fmt.Errorf("discovery: %w", apierrors.NewForbidden(gr, "", errors.New("no"))),
			wantReason: searchv1alpha1.ReasonForbidden, wantStalled: true},
		{name: "connection refused", err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused"),
			wantReason: searchv1alpha1.ReasonUnreachable, wantRetrying: true},
		{name: "not ready", err: fmt.Errorf("/readyz: %w", apierrors.NewInternalError(errors.New("etcd failed"))),
			wantReason: searchv1alpha1.ReasonUnreachable, wantRetrying: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := probeOutcome("https://m:6443", "fleet/m-kubeconfig", "v1.36.3", tt.err, 30*time.Second)
			if o.reason != tt.wantReason || o.stalled != tt.wantStalled || o.retrying != tt.wantRetrying {
				t.Errorf("outcome = %+v, want reason %s, stalled %v, retrying %v", o, tt.wantReason, tt.wantStalled, tt.wantRetrying)
			}
			if !strings.Contains(o.message, "https://m:6443") {
				t.Errorf("message %q does not name the server", o.message)
			}
			if o.ready() != (tt.err == nil) {
				t.Errorf("ready = %v with error %v", o.ready(), tt.err)
			}
		})
	}
}
