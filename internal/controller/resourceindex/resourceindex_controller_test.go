package resourceindex

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/query"
)

var (
	certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
	templateGVK    = schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Template"}
	configMapGVK   = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
)

// newCertificate creates a cert-manager Certificate and sets its Ready condition.
func newCertificate(t *testing.T, ns, name string, ready bool) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{
			"secretName": name + "-tls",
			"commonName": name + ".example.com",
			"dnsNames":   []any{name + ".example.com"},
			"issuerRef":  map[string]any{"name": "letsencrypt", "kind": "ClusterIssuer"},
		},
	}}
	u.SetGroupVersionKind(certificateGVK)
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
	setCertificateReady(t, u, ready)
}

func setCertificateReady(t *testing.T, u *unstructured.Unstructured, ready bool) {
	t.Helper()
	status, reason := "False", "Issuing"
	if ready {
		status, reason = "True", "Ready"
	}
	g := NewWithT(t)
	g.Expect(unstructured.SetNestedSlice(u.Object, []any{map[string]any{
		"type":               "Ready",
		"status":             status,
		"reason":             reason,
		"message":            "Certificate is " + reason,
		"lastTransitionTime": metav1.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}}, "status", "conditions")).To(Succeed())
	g.Expect(k8sClient.Status().Update(context.Background(), u)).To(Succeed())
}

func TestMirrorCertificates(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	newNamespace(t, "certs")
	newCertificate(t, "certs", "alpha", true)
	newCertificate(t, "certs", "bravo", true)
	newCertificate(t, "certs", "charlie", false)

	newResourceIndex(t, "certificates", "cert-manager.io/v1", "Certificate", "spec.secretName", "spec.commonName")
	cond := eventuallyReason(t, "certificates", searchv1alpha1.ReasonSynced)
	g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))

	ri := &searchv1alpha1.ResourceIndex{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "certificates"}, ri)).To(Succeed())
	g.Expect(controllerutil.ContainsFinalizer(ri, searchv1alpha1.FinalizerIndexCleanup)).To(BeTrue())
	g.Expect(ri.Status.ObservedGeneration).To(Equal(ri.Generation))
	g.Expect(ri.Status.ObjectCount).To(Equal(int64(3)))
	g.Expect(meta.FindStatusCondition(ri.Status.Conditions, searchv1alpha1.ConditionReconciling)).To(BeNil())
	g.Expect(meta.FindStatusCondition(ri.Status.Conditions, searchv1alpha1.ConditionStalled)).To(BeNil())
	kind, ok := cat.Get(certificateGVK)
	g.Expect(ok).To(BeTrue())
	g.Expect(kind.Synced).To(BeTrue())
	g.Expect(kind.Index).To(Equal("certificates"))
	g.Expect(kind.Namespaced).To(BeTrue())

	// A declared field, and a keyed condition path that is evaluated by scan.
	bySecret := query.Spec{GVK: certificateGVK, Fields: []query.FieldPredicate{field("spec.secretName", query.OpEquals, "bravo-tls")}}
	readyCerts := query.Spec{GVK: certificateGVK, Fields: []query.FieldPredicate{field("status.conditions[type=Ready].status", query.OpEquals, "True")}}
	g.Expect(search(g, bySecret)).To(Equal([]string{"bravo"}))
	g.Expect(search(g, readyCerts)).To(Equal([]string{"alpha", "bravo"}))

	// An update is mirrored and published.
	before := changes.objectChanges(certificateGVK)
	charlie := &unstructured.Unstructured{}
	charlie.SetGroupVersionKind(certificateGVK)
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "certs", Name: "charlie"}, charlie)).To(Succeed())
	setCertificateReady(t, charlie, true)
	g.Eventually(func(g Gomega) {
		g.Expect(search(g, readyCerts)).To(Equal([]string{"alpha", "bravo", "charlie"}))
	}, timeout, interval).Should(Succeed())
	g.Expect(changes.objectChanges(certificateGVK)).To(BeNumerically(">", before))

	// A delete is mirrored, and the count follows within a few seconds.
	alpha := &unstructured.Unstructured{}
	alpha.SetGroupVersionKind(certificateGVK)
	alpha.SetNamespace("certs")
	alpha.SetName("alpha")
	g.Expect(k8sClient.Delete(ctx, alpha)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(search(g, readyCerts)).To(Equal([]string{"bravo", "charlie"}))
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "certificates"}, ri)).To(Succeed())
		g.Expect(ri.Status.ObjectCount).To(Equal(int64(2)))
	}, timeout, interval).Should(Succeed())

	// Changing the declared fields re-registers the kind without losing rows.
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "certificates"}, ri)).To(Succeed())
	ri.Spec.Fields = []string{"spec.issuerRef.name"}
	g.Expect(k8sClient.Update(ctx, ri)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "certificates"}, ri)).To(Succeed())
		g.Expect(ri.Status.ObservedGeneration).To(Equal(ri.Generation))
	}, timeout, interval).Should(Succeed())
	byIssuer := query.Spec{GVK: certificateGVK, Fields: []query.FieldPredicate{field("spec.issuerRef.name", query.OpEquals, "letsencrypt")}}
	g.Expect(search(g, byIssuer)).To(Equal([]string{"bravo", "charlie"}))

	// Deleting the ResourceIndex drops the rows and stops the mirror.
	deleteResourceIndex(t, "certificates")
	g.Expect(store.Registered(certificateGVK)).To(BeFalse())
	_, ok = cat.Get(certificateGVK)
	g.Expect(ok).To(BeFalse())
}

func TestTargetCRDLifecycle(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	newNamespace(t, "templates")

	// Created before its CRD: waits for it.
	newResourceIndex(t, "templates", "apps.example.com/v1alpha1", "Template", "spec.replicas", "spec.team")
	cond := eventuallyReason(t, "templates", searchv1alpha1.ReasonResourceNotFound)
	g.Expect(cond.Message).To(ContainSubstring("apps.example.com/v1alpha1"))
	g.Expect(cond.Message).To(ContainSubstring("Template"))
	g.Expect(cond.Message).To(ContainSubstring("CustomResourceDefinition"))
	g.Expect(resourceOf(t, "templates")).To(BeNil(), "no resource is published while the API server does not serve the kind")

	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.Expect(readYAML(repoPath("config", "samples", "crds", "apps.example.com_templates.yaml"), crd)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, crd)).To(Succeed())

	// The API server may need a moment to serve the new resource.
	g.Eventually(func() error {
		return k8sClient.Create(ctx, newTemplate("templates", "web", "payments", 3))
	}, timeout, interval).Should(Succeed())
	g.Expect(k8sClient.Create(ctx, newTemplate("templates", "worker", "search", 1))).To(Succeed())

	eventuallyReason(t, "templates", searchv1alpha1.ReasonSynced)
	g.Expect(resourceOf(t, "templates")).To(Equal(&searchv1alpha1.IndexedResource{Group: "apps.example.com", Resource: "templates"}))
	g.Eventually(func(g Gomega) {
		byTeam := query.Spec{GVK: templateGVK, Fields: []query.FieldPredicate{field("spec.team", query.OpEquals, "payments")}}
		g.Expect(search(g, byTeam)).To(Equal([]string{"web"}))
		many := query.Spec{GVK: templateGVK, Fields: []query.FieldPredicate{field("spec.replicas", query.OpGreaterThan, "1")}}
		g.Expect(search(g, many)).To(Equal([]string{"web"}))
	}, timeout, interval).Should(Succeed())

	// Removing the CRD drops the rows and reports the kind missing again.
	g.Expect(k8sClient.Delete(ctx, crd)).To(Succeed())
	cond = eventuallyReason(t, "templates", searchv1alpha1.ReasonResourceNotFound)
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(resourceOf(t, "templates")).To(BeNil())
	g.Expect(store.Registered(templateGVK)).To(BeFalse())
	_, ok := cat.Get(templateGVK)
	g.Expect(ok).To(BeFalse())

	deleteResourceIndex(t, "templates")
}

func newTemplate(ns, name, team string, replicas int64) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{
			"replicas": replicas,
			"image":    "registry.example.com/" + name + ":1.0",
			"team":     team,
			"tier":     "backend",
		},
	}}
	u.SetGroupVersionKind(templateGVK)
	return u
}

func TestForbiddenTarget(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	newNamespace(t, "secrets")
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "secrets", Name: "db"},
		StringData: map[string]string{"password": "hunter2"},
	})).To(Succeed())

	newResourceIndex(t, "secrets", "v1", "Secret")
	cond := eventuallyReason(t, "secrets", searchv1alpha1.ReasonForbidden)
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Message).To(ContainSubstring("list"))
	g.Expect(cond.Message).To(ContainSubstring("watch"))
	g.Expect(cond.Message).To(ContainSubstring("secrets"))
	g.Expect(cond.Message).To(ContainSubstring(aggregateLabel))
	g.Expect(store.Registered(schema.GroupVersionKind{Version: "v1", Kind: "Secret"})).To(BeFalse())

	// Granting access is picked up by the retries.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubesift-indexer-secrets", Labels: map[string]string{aggregateLabel: "true"}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}}},
	}
	g.Expect(k8sClient.Create(ctx, role)).To(Succeed())
	g.Expect(bindToManager(ctx, role.Name)).To(Succeed())
	eventuallyReason(t, "secrets", searchv1alpha1.ReasonSynced)
	g.Expect(search(g, query.Spec{GVK: schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, Namespaces: []string{"secrets"}})).To(Equal([]string{"db"}))

	deleteResourceIndex(t, "secrets")
}

func TestDuplicate(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	newNamespace(t, "configs")
	for i := range 4 {
		g.Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "configs", Name: fmt.Sprintf("cm-%d", i)},
			Data:       map[string]string{"index": fmt.Sprint(i)},
		})).To(Succeed())
	}

	newResourceIndex(t, "configmaps-a", "v1", "ConfigMap")
	eventuallyReason(t, "configmaps-a", searchv1alpha1.ReasonSynced)
	newResourceIndex(t, "configmaps-b", "v1", "ConfigMap", "data.index")
	cond := eventuallyReason(t, "configmaps-b", searchv1alpha1.ReasonDuplicate)
	g.Expect(cond.Message).To(ContainSubstring(`"configmaps-a"`))
	ri := &searchv1alpha1.ResourceIndex{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "configmaps-b"}, ri)).To(Succeed())
	g.Expect(meta.IsStatusConditionTrue(ri.Status.Conditions, searchv1alpha1.ConditionStalled)).To(BeTrue())

	// The object count equals the number of ConfigMaps in the cluster.
	g.Eventually(func(g Gomega) {
		var list corev1.ConfigMapList
		g.Expect(k8sClient.List(ctx, &list)).To(Succeed())
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "configmaps-a"}, ri)).To(Succeed())
		g.Expect(ri.Status.ObjectCount).To(Equal(int64(len(list.Items))))
	}, timeout, interval).Should(Succeed())

	// When the older one goes, the younger one takes over.
	deleteResourceIndex(t, "configmaps-a")
	eventuallyReason(t, "configmaps-b", searchv1alpha1.ReasonSynced)
	kind, ok := cat.Get(configMapGVK)
	g.Expect(ok).To(BeTrue())
	g.Expect(kind.Index).To(Equal("configmaps-b"))
	g.Eventually(func(g Gomega) {
		byIndex := query.Spec{GVK: configMapGVK, Fields: []query.FieldPredicate{field("data.index", query.OpIn, "1", "2")}}
		g.Expect(search(g, byIndex)).To(Equal([]string{"cm-1", "cm-2"}))
	}, timeout, interval).Should(Succeed())

	deleteResourceIndex(t, "configmaps-b")
	g.Expect(store.Registered(configMapGVK)).To(BeFalse())
}

func TestInvalidSpec(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	newResourceIndex(t, "serviceaccounts", "v1", "ServiceAccount", "metadata.name", "spec..broken")
	cond := eventuallyReason(t, "serviceaccounts", searchv1alpha1.ReasonInvalidSpec)
	g.Expect(cond.Message).To(ContainSubstring("spec.fields[1]"))
	ri := &searchv1alpha1.ResourceIndex{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Name: "serviceaccounts"}, ri)).To(Succeed())
	g.Expect(meta.IsStatusConditionTrue(ri.Status.Conditions, searchv1alpha1.ConditionStalled)).To(BeTrue())
	g.Expect(store.Registered(schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"})).To(BeFalse())

	// Fixing the spec recovers.
	ri.Spec.Fields = []string{"metadata.name"}
	g.Expect(k8sClient.Update(context.Background(), ri)).To(Succeed())
	eventuallyReason(t, "serviceaccounts", searchv1alpha1.ReasonSynced)
	deleteResourceIndex(t, "serviceaccounts")
	g.Expect(apierrors.IsNotFound(k8sClient.Get(context.Background(), client.ObjectKey{Name: "serviceaccounts"}, ri))).To(BeTrue())
}

// TestWriteFailure checks that a mirror whose writes fail reports Ready=False with reason
// IndexWriteFailed, first while loading and then while watching, and recovers by itself once
// writes succeed again, without losing the objects it could not write.
func TestWriteFailure(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	defer writes.fail.Store(false)
	newNamespace(t, "failing")
	newCertificate(t, "failing", "one", true)
	inFailing := query.Spec{GVK: certificateGVK, Namespaces: []string{"failing"}}

	writes.fail.Store(true)
	newResourceIndex(t, "failing-certificates", "cert-manager.io/v1", "Certificate")
	cond := eventuallyReason(t, "failing-certificates", searchv1alpha1.ReasonIndexWriteFailed)
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Message).To(ContainSubstring(errInjected.Error()))
	writes.fail.Store(false)
	eventuallyReason(t, "failing-certificates", searchv1alpha1.ReasonSynced)
	g.Expect(search(g, inFailing)).To(Equal([]string{"one"}))

	// A watch event that cannot be written: the mirror relists once writes work again.
	writes.fail.Store(true)
	newCertificate(t, "failing", "two", true)
	eventuallyReason(t, "failing-certificates", searchv1alpha1.ReasonIndexWriteFailed)
	writes.fail.Store(false)
	eventuallyReason(t, "failing-certificates", searchv1alpha1.ReasonSynced)
	g.Eventually(func(g Gomega) {
		g.Expect(search(g, inFailing)).To(Equal([]string{"one", "two"}))
	}, timeout, interval).Should(Succeed())
	deleteResourceIndex(t, "failing-certificates")
}

// resourceOf returns the resource a ResourceIndex publishes in its status.
func resourceOf(t *testing.T, name string) *searchv1alpha1.IndexedResource {
	t.Helper()
	ri := &searchv1alpha1.ResourceIndex{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, ri); err != nil {
		t.Fatalf("getting ResourceIndex %s: %v", name, err)
	}
	return ri.Status.Resource
}
