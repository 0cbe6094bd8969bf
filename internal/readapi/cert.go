package readapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// certValidity is how long a generated CA and serving certificate are valid. The pair is
// generated once per installation and kept in a Secret, so every replica serves the same
// certificate and the APIService's caBundle stays valid across restarts.
const certValidity = 10 * 365 * 24 * time.Hour

// Keys of the serving certificate Secret (kubernetes.io/tls, plus the CA).
const (
	secretCAKey   = "ca.crt"
	secretCertKey = corev1.TLSCertKey
	secretKeyKey  = corev1.TLSPrivateKeyKey
)

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// servingCert is a serving certificate, its key and the CA that signed it.
type servingCert struct {
	ca, cert, key []byte
}

// ensureServingCert returns the serving certificate kept in the Secret namespace/secret, creating
// it with a new self-signed CA when it does not exist. The certificate carries the Service's
// names (<service>.<namespace>.svc and its longer forms), localhost and 127.0.0.1. Replicas that
// race to create the Secret all end up with the one that was created first.
func ensureServingCert(ctx context.Context, client kubernetes.Interface, namespace, secret, service string) (servingCert, error) {
	secrets := client.CoreV1().Secrets(namespace)
	s, err := secrets.Get(ctx, secret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		var sc servingCert
		if sc, err = newServingCert(service, namespace); err != nil {
			return servingCert{}, err
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: namespace},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{secretCAKey: sc.ca, secretCertKey: sc.cert, secretKeyKey: sc.key},
		}
		if _, err = secrets.Create(ctx, s, metav1.CreateOptions{}); err == nil {
			return sc, nil
		}
		if apierrors.IsAlreadyExists(err) {
			s, err = secrets.Get(ctx, secret, metav1.GetOptions{})
		}
	}
	if err != nil {
		return servingCert{}, fmt.Errorf("reading or creating the serving certificate Secret %s/%s: %w", namespace, secret, err)
	}
	sc := servingCert{ca: s.Data[secretCAKey], cert: s.Data[secretCertKey], key: s.Data[secretKeyKey]}
	if len(sc.ca) == 0 || len(sc.cert) == 0 || len(sc.key) == 0 {
		return servingCert{}, fmt.Errorf("the Secret %s/%s lacks %s, %s or %s", namespace, secret, secretCAKey, secretCertKey, secretKeyKey)
	}
	return sc, nil
}

// patchCABundle sets the APIService's caBundle to ca unless it already is. An APIService that
// does not exist is not an error: the read API then serves only clients that reach it directly.
func patchCABundle(ctx context.Context, client dynamic.Interface, apiService string, ca []byte) (bool, error) {
	svc, err := client.Resource(apiServiceGVR).Get(ctx, apiService, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the APIService %s: %w", apiService, err)
	}
	current, _, _ := unstructured.NestedString(svc.Object, "spec", "caBundle")
	if decoded, err := base64.StdEncoding.DecodeString(current); err == nil && bytes.Equal(decoded, ca) {
		return true, nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"caBundle": ca}})
	if err != nil {
		return false, err
	}
	if _, err := client.Resource(apiServiceGVR).Patch(ctx, apiService, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return false, fmt.Errorf("setting the caBundle of the APIService %s: %w", apiService, err)
	}
	return true, nil
}

// newServingCert generates a CA and a serving certificate it signs.
func newServingCert(service, namespace string) (servingCert, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return servingCert{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kubesift-read-api-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return servingCert{}, fmt.Errorf("creating the read API CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return servingCert{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return servingCert{}, err
	}
	svc := service + "." + namespace + ".svc"
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: svc},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{service, service + "." + namespace, svc, svc + ".cluster.local", "localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return servingCert{}, fmt.Errorf("creating the read API serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return servingCert{}, err
	}
	return servingCert{
		ca:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
