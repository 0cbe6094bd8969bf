package readapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/controlplane"
	"github.com/kubesift/kubesift/internal/index"
)

// These tests run the read API server against a real kube-apiserver: callers authenticate with
// client certificates of the control plane's CA (delegated authentication reads that CA from the
// cluster), and every access decision is a SubjectAccessReview against the cluster's RBAC.

var (
	cp       *controlplane.ControlPlane
	admin    kubernetes.Interface
	cmGVK    = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	testNS   = "team-a"
	testUser = map[string]*controlplane.User{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	if cp, err = controlplane.Start(ctx, controlplane.Options{NoControllerManager: true}); err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane: %v\n", err)
		return 1
	}
	defer func() { _ = cp.Stop() }()
	if err := setupCluster(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// setupCluster creates the namespace and the users: "reader" may get and list ConfigMaps and
// Secrets in testNS; "nobody" may do nothing.
func setupCluster(ctx context.Context) error {
	var err error
	if admin, err = kubernetes.NewForConfig(cp.RESTConfig()); err != nil {
		return err
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, name := range []string{"reader", "nobody"} {
		if testUser[name], err = cp.AddUser(name); err != nil {
			return err
		}
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read", Namespace: testNS},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"get", "list"},
		}},
	}
	if _, err := admin.RbacV1().Roles(testNS).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return err
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read", Namespace: testNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "reader"}},
	}
	_, err = admin.RbacV1().RoleBindings(testNS).Create(ctx, binding, metav1.CreateOptions{})
	return err
}

// server is a running read API server.
type server struct {
	url string
	ca  []byte
}

// startServer serves an index that mirrors three ConfigMaps of testNS (and no Secrets) until the
// test ends: config-0 and config-1 labelled env=prod, config-2 env=dev. opts may set
// ReadTimeout, or CertFile and KeyFile signed by ca (nil: a generated certificate is served).
func startServer(t *testing.T, opts Options, ca []byte) server {
	t.Helper()
	var objs []*unstructured.Unstructured
	for i := range 3 {
		objs = append(objs, configMap(i, []string{"prod", "prod", "dev"}[i]))
	}
	s, _ := startServerWith(t, opts, ca, objs)
	return s
}

// configMap returns ConfigMap config-<i> of testNS labelled env=env.
func configMap(i int, env string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(cmGVK)
	u.SetNamespace(testNS)
	u.SetName("config-" + strconv.Itoa(i))
	u.SetLabels(map[string]string{"env": env})
	u.SetUID(types.UID("uid-" + strconv.Itoa(i)))
	u.SetResourceVersion(strconv.Itoa(100 + i))
	u.SetCreationTimestamp(metav1.Now())
	return u
}

// startServerWith is startServer for an index that mirrors objs, which it returns too.
func startServerWith(t testing.TB, opts Options, ca []byte, objs []*unstructured.Unstructured) (server, *index.Store) {
	t.Helper()
	store, err := index.Open(index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Register(cmGVK, index.KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	if err := store.Replace(cmGVK, objs); err != nil {
		t.Fatal(err)
	}
	cat := catalog.New()
	cat.Set(cmGVK, catalog.Kind{Index: "configmaps", Namespaced: true, Synced: true})

	if opts.CertFile == "" {
		sc, err := newServingCert("kubesift-read-api", "kubesift-system")
		if err != nil {
			t.Fatal(err)
		}
		opts.CertPEM, opts.KeyPEM, ca = sc.cert, sc.key, sc.ca
	}
	port := freePort(t)
	opts.BindAddress, opts.Port, opts.Kubeconfig = net.ParseIP("127.0.0.1"), port, cp.Kubeconfig()
	cfg, err := opts.Config(store, cat, cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cfg.Complete().New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the read API server: %v", err)
		}
	})
	s := server{url: "https://127.0.0.1:" + strconv.Itoa(port), ca: ca}
	// Ready once the server knows the cluster's client CA: until then callers are anonymous.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := s.get(t, testUser["reader"], "/api/v1/namespaces/"+testNS+"/configmaps")
		if !apierrors.IsForbidden(err) {
			return s, store
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read API server does not authenticate its callers: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// do sends a request to the server directly as user (nil: the cluster admin), with the user's
// client certificate, as the aggregator would on the user's behalf. It returns the body, and the
// Status the server answered with as an error when the request failed.
func (s server) do(t testing.TB, user *controlplane.User, method, path string, body []byte) ([]byte, error) {
	t.Helper()
	cfg := cp.RESTConfig()
	if user != nil {
		cfg = user.RESTConfig()
	}
	cfg.CAData, cfg.CAFile = s.ca, ""
	cfg.ServerName = "kubesift-read-api.kubesift-system.svc"
	hc, err := restclient.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc.Timeout = 30 * time.Second
	req, err := http.NewRequestWithContext(context.Background(), method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode < 300 {
		return out, nil
	}
	status := &metav1.Status{}
	if err := json.Unmarshal(out, status); err != nil || status.Kind != "Status" {
		t.Fatalf("%s %s: %s with a body that is no Status: %s", method, path, resp.Status, out)
	}
	return out, &apierrors.StatusError{ErrStatus: *status}
}

// get returns the body of GET path under resourcesPath and the status error, if any.
func (s server) get(t testing.TB, user *controlplane.User, path string) ([]byte, error) {
	t.Helper()
	return s.do(t, user, http.MethodGet, resourcesPath+path, nil)
}

// search creates a Search in testNS for target as user.
func (s server) search(t *testing.T, user *controlplane.User, target searchv1alpha1.TargetRef) (*queryv1alpha1.Search, error) {
	t.Helper()
	var spec queryv1alpha1.SearchSpec
	spec.Target = target
	return s.searchSpec(t, user, spec)
}

// searchSpec creates a Search in testNS with spec as user.
func (s server) searchSpec(t *testing.T, user *controlplane.User, spec queryv1alpha1.SearchSpec) (*queryv1alpha1.Search, error) {
	t.Helper()
	in := &queryv1alpha1.Search{
		TypeMeta:   metav1.TypeMeta{APIVersion: queryv1alpha1.GroupVersion.String(), Kind: "Search"},
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS},
		Spec:       spec,
	}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.do(t, user, http.MethodPost, "/apis/"+queryv1alpha1.GroupVersion.String()+"/namespaces/"+testNS+"/searches", body)
	if err != nil {
		return nil, err
	}
	got := &queryv1alpha1.Search{}
	if err := json.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	return got, nil
}

// contains reports whether err's message contains text.
func contains(err error, text string) bool {
	return err != nil && strings.Contains(err.Error(), text)
}

func statusCode(err error) int {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return int(se.Status().Code)
	}
	return 0
}

// TestAccessBeforeExistence checks that a caller without access learns nothing about what the
// index mirrors: 403 for every resource, mirrored, not mirrored or unknown, and the same
// discovery documents as anyone else. Only a caller who may list the resource is told that a
// kind is not mirrored.
func TestAccessBeforeExistence(t *testing.T) {
	s := startServer(t, Options{}, nil)
	reader, nobody := testUser["reader"], testUser["nobody"]

	t.Run("a caller without list gets 403 before any 404", func(t *testing.T) {
		for _, path := range []string{
			"/api/v1/namespaces/" + testNS + "/configmaps",        // mirrored
			"/api/v1/namespaces/" + testNS + "/secrets",           // served, not mirrored
			"/api/v1/namespaces/" + testNS + "/widgets",           // not served
			"/apis/apps/v1/namespaces/" + testNS + "/deployments", // served, not mirrored
			"/apis/example.com/v1/widgets",                        // no such group
			"/api/v1/namespaces/" + testNS + "/configmaps/config-0",
			"/api/v1/namespaces/" + testNS + "/secrets/absent",
		} {
			_, err := s.get(t, nobody, path)
			if got := statusCode(err); got != http.StatusForbidden {
				t.Errorf("GET %s as nobody: got %d (%v), want 403", path, got, err)
			}
		}
		_, err := s.get(t, reader, "/api/v1/secrets")
		if got := statusCode(err); got != http.StatusForbidden {
			t.Errorf("GET secrets in every namespace as reader: got %d (%v), want 403", got, err)
		}
		for _, target := range []searchv1alpha1.TargetRef{
			{APIVersion: "v1", Kind: "ConfigMap"}, {APIVersion: "v1", Kind: "Secret"},
		} {
			_, err := s.search(t, nobody, target)
			if got := statusCode(err); got != http.StatusForbidden {
				t.Errorf("Search of %s as nobody: got %d (%v), want 403", target.String(), got, err)
			}
		}
	})

	t.Run("a caller with list learns what is mirrored", func(t *testing.T) {
		body, err := s.get(t, reader, "/api/v1/namespaces/"+testNS+"/configmaps")
		if err != nil {
			t.Fatalf("list of ConfigMaps as reader: %v", err)
		}
		list := &unstructured.UnstructuredList{}
		if err := list.UnmarshalJSON(body); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 3 {
			t.Errorf("got %d ConfigMaps, want 3", len(list.Items))
		}
		_, err = s.get(t, reader, "/api/v1/namespaces/"+testNS+"/secrets")
		if got := statusCode(err); got != http.StatusNotFound || !contains(err, "no ResourceIndex mirrors Secret.v1") {
			t.Errorf("list of Secrets as reader: got %d (%v), want 404 naming the ResourceIndex to create", got, err)
		}
		_, err = s.search(t, reader, searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "Secret"})
		if got := statusCode(err); got != http.StatusNotFound || !contains(err, "no ResourceIndex mirrors Secret.v1") {
			t.Errorf("Search of Secrets as reader: got %d (%v), want 404 naming the ResourceIndex to create", got, err)
		}
		got, err := s.search(t, reader, searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"})
		if err != nil {
			t.Fatalf("Search of ConfigMaps as reader: %v", err)
		}
		if got.Status.Total != 3 || got.Status.Count != 3 {
			t.Errorf("Search of ConfigMaps as reader: total %d, count %d; want 3 and 3", got.Status.Total, got.Status.Count)
		}
	})

	t.Run("discovery is the same for every caller", func(t *testing.T) {
		for _, path := range []string{"/api", "/apis", "/api/v1", "/apis/apps/v1"} {
			want, err := s.get(t, nil, path)
			if err != nil {
				t.Fatalf("GET %s as admin: %v", path, err)
			}
			got, err := s.get(t, nobody, path)
			if err != nil {
				t.Fatalf("GET %s as nobody: %v", path, err)
			}
			if string(got) != string(want) {
				t.Errorf("GET %s: nobody sees\n%s\nthe admin sees\n%s", path, got, want)
			}
		}
		body, err := s.get(t, nobody, "/api/v1")
		if err != nil {
			t.Fatal(err)
		}
		list := &metav1.APIResourceList{}
		if err := json.Unmarshal(body, list); err != nil {
			t.Fatal(err)
		}
		names := map[string][]string{}
		for _, r := range list.APIResources {
			names[r.Name] = r.Verbs
		}
		for _, name := range []string{"configmaps", "secrets", "pods"} {
			if verbs, ok := names[name]; !ok || len(verbs) != 2 || verbs[0] != "get" || verbs[1] != "list" {
				t.Errorf("discovery of /api/v1: %s has verbs %v (listed: %t), want get,list", name, verbs, ok)
			}
		}
		if _, ok := names["bindings"]; ok {
			t.Error("discovery of /api/v1 lists bindings, which cannot be listed")
		}
		// A group-version with nothing to list (TokenReviews can only be created) is left out, as
		// kubectl takes an empty one for a failed discovery.
		body, err = s.get(t, nobody, "/apis")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(body), `"authentication.k8s.io`) {
			t.Errorf("discovery of /apis lists authentication.k8s.io, which serves nothing to list: %s", body)
		}
		if !strings.Contains(string(body), `"apps/v1"`) {
			t.Errorf("discovery of /apis does not list apps/v1: %s", body)
		}
		_, err = s.get(t, nobody, "/apis/authentication.k8s.io/v1")
		if got := statusCode(err); got != http.StatusNotFound {
			t.Errorf("discovery of authentication.k8s.io/v1: got %d (%v), want 404", got, err)
		}
		_, err = s.get(t, nobody, "/apis/"+queryv1alpha1.GroupName+"/v1alpha1")
		if got := statusCode(err); got != http.StatusNotFound {
			t.Errorf("discovery of the read API's own group under resources: got %d (%v), want 404", got, err)
		}
	})
}

// TestSearchFacets checks the counts by value of a Search: over every match, not only the page,
// and over the matches of an anyOf of two groups.
func TestSearchFacets(t *testing.T) {
	s := startServer(t, Options{}, nil)
	reader := testUser["reader"]
	env := []searchv1alpha1.Facet{{Path: "metadata.labels['env']"}}

	for _, tc := range []struct {
		name  string
		anyOf []searchv1alpha1.FilterGroup
		total int64
		want  []searchv1alpha1.FacetValueCount
	}{
		{
			name:  "a label over every match",
			total: 3,
			want:  []searchv1alpha1.FacetValueCount{{Value: "prod", Count: 2}, {Value: "dev", Count: 1}},
		},
		{
			name: "a label over an anyOf of two groups",
			anyOf: []searchv1alpha1.FilterGroup{
				{Names: []string{"config-0"}},
				{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}},
			},
			total: 2,
			want:  []searchv1alpha1.FacetValueCount{{Value: "dev", Count: 1}, {Value: "prod", Count: 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spec queryv1alpha1.SearchSpec
			spec.Target = searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"}
			spec.AnyOf, spec.Facets, spec.Limit = tc.anyOf, env, 1
			got, err := s.searchSpec(t, reader, spec)
			if err != nil {
				t.Fatalf("Search as reader: %v", err)
			}
			if got.Status.Total != tc.total || got.Status.Count != 1 {
				t.Errorf("total %d, count %d; want %d and 1", got.Status.Total, got.Status.Count, tc.total)
			}
			want := []searchv1alpha1.FacetResult{{Path: env[0].Path, Values: tc.want}}
			if !reflect.DeepEqual(got.Status.Facets, want) {
				t.Errorf("facets %+v, want %+v", got.Status.Facets, want)
			}
		})
	}
}

// TestReadTimeout checks the answer to a read the index cannot finish within the read timeout:
// a prompt 504 that names the kind, for lists and Searches, never a hung connection.
func TestReadTimeout(t *testing.T) {
	// A deadline that has passed before the index is asked: every read exceeds it.
	s := startServer(t, Options{ReadTimeout: time.Nanosecond}, nil)
	reader := testUser["reader"]

	_, err := s.get(t, reader, "/api/v1/namespaces/"+testNS+"/configmaps")
	if got := statusCode(err); got != http.StatusGatewayTimeout || !contains(err, "did not answer the query on ConfigMap.v1 within 1ns") {
		t.Errorf("list: got %d (%v), want 504 naming the kind and the deadline", got, err)
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Reason != metav1.StatusReasonTimeout {
		t.Errorf("list: reason %q, want %q", se.Status().Reason, metav1.StatusReasonTimeout)
	}
	_, err = s.search(t, reader, searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"})
	if got := statusCode(err); got != http.StatusGatewayTimeout {
		t.Errorf("Search: got %d (%v), want 504", got, err)
	}
	// Access is still checked first.
	_, err = s.get(t, testUser["nobody"], "/api/v1/namespaces/"+testNS+"/configmaps")
	if got := statusCode(err); got != http.StatusForbidden {
		t.Errorf("list as nobody: got %d (%v), want 403", got, err)
	}
}

// TestCertFilesAreReloaded checks that a certificate served from files (--read-api-cert-dir, a
// mounted cert-manager Secret) is served anew once the files change, without a restart: the
// renewal of a certificate must not break the APIService.
func TestCertFilesAreReloaded(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	write := func(sc servingCert) {
		t.Helper()
		// Written beside and renamed into place, as the kubelet updates a mounted Secret.
		for _, f := range []struct {
			path string
			data []byte
		}{{certFile, sc.cert}, {keyFile, sc.key}} {
			if err := os.WriteFile(f.path+".new", f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(f.path+".new", f.path); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, err := newServingCert("kubesift-read-api", "kubesift-system")
	if err != nil {
		t.Fatal(err)
	}
	write(first)
	s := startServer(t, Options{CertFile: certFile, KeyFile: keyFile}, first.ca)

	renewed, err := newServingCert("kubesift-read-api", "kubesift-system")
	if err != nil {
		t.Fatal(err)
	}
	write(renewed)
	s.ca = renewed.ca
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := s.handshake()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate is not served 90s after the files changed: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := s.get(t, testUser["reader"], "/api/v1/namespaces/"+testNS+"/configmaps"); err != nil {
		t.Errorf("list with the renewed certificate: %v", err)
	}
}

// handshake fails unless the server presents a certificate that s.ca signed.
func (s server) handshake() error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.ca)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"),
		&tls.Config{RootCAs: pool, ServerName: "kubesift-read-api.kubesift-system.svc", MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return conn.Close()
}
