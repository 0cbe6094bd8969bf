package controlplane

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestLastLines(t *testing.T) {
	tests := []struct {
		data string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 3, "a\nb\nc"},
		{"a\nb\nc\n", 10, "a\nb\nc"},
		{"only\n\n\n", 1, "only"},
	}
	for _, tt := range tests {
		if got := lastLines([]byte(tt.data), tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.data, tt.n, got, tt.want)
		}
	}
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tailFile(path, 2); got != "two\nthree" {
		t.Errorf("tailFile = %q", got)
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 2); got == "" {
		t.Errorf("tailFile of a missing file is empty, want a note")
	}
}

func TestResolveBinDir(t *testing.T) {
	t.Setenv(AssetsEnv, "")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, defaultBinDir)
	sub := filepath.Join(root, "test", "e2e")
	for _, d := range []string{bin, sub} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(sub)

	if _, err := resolveBinDir(""); !errors.Is(err, ErrBinariesNotFound) {
		t.Fatalf("empty bin dir: err = %v, want ErrBinariesNotFound", err)
	}
	for _, name := range []string{etcdBinary, apiServerBinary, kubectlBinary} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := resolveBinDir("")
	if err != nil || got != bin {
		t.Errorf("resolveBinDir from a subdirectory = %q, %v; want %q", got, err, bin)
	}

	t.Setenv(AssetsEnv, sub)
	if _, err := resolveBinDir(""); !errors.Is(err, ErrBinariesNotFound) {
		t.Errorf("%s without binaries: err = %v, want ErrBinariesNotFound", AssetsEnv, err)
	}
	if got, err := resolveBinDir(bin); err != nil || got != bin {
		t.Errorf("explicit dir = %q, %v; want %q", got, err, bin)
	}
}

func TestCertificates(t *testing.T) {
	ca, err := newAuthority("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.certPEM) {
		t.Fatal("the CA PEM does not parse")
	}

	serving, err := ca.servingCert("kube-apiserver", []string{"localhost"}, []net.IP{net.ParseIP(host)})
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, serving.CertPEM)
	for _, name := range []string{"localhost", host} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("the serving certificate does not verify for %s: %v", name, err)
		}
	}

	client, err := ca.clientCert("alice", []string{"dev", "ops"})
	if err != nil {
		t.Fatal(err)
	}
	cert = parseCert(t, client.CertPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the client certificate does not verify: %v", err)
	}
	if cert.Subject.CommonName != "alice" || !slices.Equal(cert.Subject.Organization, []string{"dev", "ops"}) {
		t.Errorf("client subject = %v", cert.Subject)
	}

	priv, pub, err := newServiceAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(priv); block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("the service account private key is not PKCS#8 PEM")
	}
	if block, _ := pem.Decode(pub); block == nil || block.Type != "PUBLIC KEY" {
		t.Errorf("the service account public key is not PKIX PEM")
	}
}

func TestWriteKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	in := &rest.Config{
		Host:            "https://127.0.0.1:6443",
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca"), CertData: []byte("cert"), KeyData: []byte("key")},
	}
	if err := writeKubeconfig(path, in, "bob"); err != nil {
		t.Fatal(err)
	}
	out, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("loading the kubeconfig: %v", err)
	}
	if out.Host != in.Host || string(out.CAData) != "ca" || string(out.CertData) != "cert" || string(out.KeyData) != "key" {
		t.Errorf("round trip lost data: %+v", out.TLSClientConfig)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("freePorts(3) = %v, want three distinct ports", ports)
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
