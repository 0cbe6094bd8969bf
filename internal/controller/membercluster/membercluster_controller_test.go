package membercluster

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// memberKubeconfig returns the member's admin kubeconfig, changed by edit.
func memberKubeconfig(t *testing.T, edit func(*clientcmdapi.Config)) []byte {
	t.Helper()
	data, err := os.ReadFile(member.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return data
	}
	kc, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(kc)
	out, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// currentUser returns the user of the kubeconfig's current context.
func currentUser(kc *clientcmdapi.Config) *clientcmdapi.AuthInfo {
	return kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo]
}

// newSecret creates a Secret in the fleet namespace and, when granted, lets the manager read it
// by name only, as docs/multicluster.md tells operators to.
func newSecret(t *testing.T, name string, data map[string][]byte, granted bool) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	if data != nil {
		g.Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: name},
			Data:       data,
		})).To(Succeed())
	}
	if granted {
		grantSecret(t, name)
	}
}

func grantSecret(t *testing.T, name string) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	om := metav1.ObjectMeta{Namespace: fleetNamespace, Name: "read-" + name}
	g.Expect(k8sClient.Create(ctx, &rbacv1.Role{
		ObjectMeta: om,
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{name},
			Verbs: []string{"get", "list", "watch"},
		}},
	})).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: om,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: om.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: managerUser}},
	})).To(Succeed())
}

func setSecret(t *testing.T, name string, data map[string][]byte) {
	t.Helper()
	g := NewWithT(t)
	sec := &corev1.Secret{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: fleetNamespace, Name: name}, sec)).To(Succeed())
	sec.Data = data
	g.Expect(k8sClient.Update(context.Background(), sec)).To(Succeed())
}

// newMemberCluster creates a MemberCluster whose kubeconfig is in the named Secret and key.
func newMemberCluster(t *testing.T, name, secret, key string) {
	t.Helper()
	g := NewWithT(t)
	mc := &searchv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: searchv1alpha1.MemberClusterSpec{
			KubeconfigSecretRef: searchv1alpha1.SecretKeyRef{Namespace: fleetNamespace, Name: secret, Key: key},
		},
	}
	g.Expect(k8sClient.Create(context.Background(), mc)).To(Succeed())
	t.Cleanup(func() {
		if err := k8sClient.Delete(context.Background(), mc); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting MemberCluster %s: %v", name, err)
		}
	})
}

// eventuallyReason waits until the MemberCluster's Ready condition has the reason, and returns
// the MemberCluster.
func eventuallyReason(t *testing.T, name, reason string) *searchv1alpha1.MemberCluster {
	t.Helper()
	g := NewWithT(t)
	mc := &searchv1alpha1.MemberCluster{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Name: name}, mc)).To(Succeed())
		c := meta.FindStatusCondition(mc.Status.Conditions, searchv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(reason), "message: %s", c.Message)
	}).WithTimeout(45 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	return mc
}

func condition(mc *searchv1alpha1.MemberCluster, typ string) *metav1.Condition {
	return meta.FindStatusCondition(mc.Status.Conditions, typ)
}

func TestConnects(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	// No key in the spec: the Cluster API key "value" is the default.
	newSecret(t, "alpha-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, nil)}, true)
	newMemberCluster(t, "alpha", "alpha-kubeconfig", "")

	mc := eventuallyReason(t, "alpha", searchv1alpha1.ReasonConnected)
	g.Expect(mc.Spec.KubeconfigSecretRef.Key).To(Equal(searchv1alpha1.DefaultKubeconfigKey))
	ready := condition(mc, searchv1alpha1.ConditionReady)
	g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(ready.Message).To(ContainSubstring(member.URL()))
	g.Expect(mc.Status.KubernetesVersion).To(HavePrefix("v1."))
	g.Expect(mc.Status.LastContactTime).NotTo(BeNil())
	g.Expect(time.Since(mc.Status.LastContactTime.Time)).To(BeNumerically("<", time.Minute))
	g.Expect(mc.Status.ObservedGeneration).To(Equal(mc.Generation))
	g.Expect(condition(mc, searchv1alpha1.ConditionStalled)).To(BeNil())
	g.Expect(condition(mc, searchv1alpha1.ConditionReconciling)).To(BeNil())
}

func TestAdmission(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	long := &searchv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 64)},
		Spec: searchv1alpha1.MemberClusterSpec{
			KubeconfigSecretRef: searchv1alpha1.SecretKeyRef{Namespace: fleetNamespace, Name: "x"},
		},
	}
	err := k8sClient.Create(ctx, long)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "creating a MemberCluster with a 64-character name: %v", err)
	g.Expect(err.Error()).To(ContainSubstring("at most 63 characters"))

	badRef := &searchv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "bad-ref"},
		Spec: searchv1alpha1.MemberClusterSpec{
			KubeconfigSecretRef: searchv1alpha1.SecretKeyRef{Namespace: "Not_A_Namespace", Name: "x", Key: "a/b"},
		},
	}
	err = k8sClient.Create(ctx, badRef)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "creating a MemberCluster with a malformed reference: %v", err)
	g.Expect(err.Error()).To(And(ContainSubstring("kubeconfigSecretRef.namespace"), ContainSubstring("kubeconfigSecretRef.key")))
}

func TestSecretCreatedLater(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	grantSecret(t, "bravo-kubeconfig")
	newMemberCluster(t, "bravo", "bravo-kubeconfig", "")

	mc := eventuallyReason(t, "bravo", searchv1alpha1.ReasonSecretNotFound)
	g.Expect(condition(mc, searchv1alpha1.ConditionReady).Message).To(ContainSubstring("fleet/bravo-kubeconfig does not exist"))
	g.Expect(condition(mc, searchv1alpha1.ConditionStalled)).NotTo(BeNil())

	// The probe interval is ten minutes: only the Secret's watch can make this quick.
	newSecret(t, "bravo-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, nil)}, false)
	mc = eventuallyReason(t, "bravo", searchv1alpha1.ReasonConnected)
	g.Expect(condition(mc, searchv1alpha1.ConditionStalled)).To(BeNil())
}

func TestSecretNotGranted(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	newSecret(t, "charlie-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, nil)}, false)
	newMemberCluster(t, "charlie", "charlie-kubeconfig", "")

	mc := eventuallyReason(t, "charlie", searchv1alpha1.ReasonSecretForbidden)
	g.Expect(condition(mc, searchv1alpha1.ConditionReady).Message).To(ContainSubstring("resourceNames"))
	g.Expect(mc.Status.LastContactTime).To(BeNil())
}

func TestBadKey(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	newSecret(t, "delta-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, nil)}, true)
	newMemberCluster(t, "delta", "delta-kubeconfig", "kubeconfig")

	mc := eventuallyReason(t, "delta", searchv1alpha1.ReasonSecretKeyNotFound)
	g.Expect(condition(mc, searchv1alpha1.ConditionReady).Message).To(And(
		ContainSubstring(`key "kubeconfig"`), ContainSubstring("its keys: value")))
}

func TestNotAKubeconfig(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	newSecret(t, "echo-kubeconfig", map[string][]byte{"value": []byte("password: [s3cr3t")}, true)
	newMemberCluster(t, "echo", "echo-kubeconfig", "")

	mc := eventuallyReason(t, "echo", searchv1alpha1.ReasonInvalidKubeconfig)
	msg := condition(mc, searchv1alpha1.ConditionReady).Message
	g.Expect(msg).To(ContainSubstring("not a kubeconfig"))
	g.Expect(msg).NotTo(ContainSubstring("s3cr3t"))

	// A kubeconfig that would run a command on the manager's host is refused before any use.
	setSecret(t, "echo-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, func(kc *clientcmdapi.Config) {
		u := currentUser(kc)
		u.ClientCertificateData, u.ClientKeyData = nil, nil
		u.Exec = &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/true"}
	})})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Name: "echo"}, mc)).To(Succeed())
		g.Expect(condition(mc, searchv1alpha1.ConditionReady).Message).To(ContainSubstring("exec plugin"))
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

func TestUnreachable(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	// A port that was free a moment ago: nothing answers there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())

	newSecret(t, "foxtrot-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, func(kc *clientcmdapi.Config) {
		kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server = "https://" + addr
	})}, true)
	newMemberCluster(t, "foxtrot", "foxtrot-kubeconfig", "")

	mc := eventuallyReason(t, "foxtrot", searchv1alpha1.ReasonUnreachable)
	g.Expect(condition(mc, searchv1alpha1.ConditionReady).Message).To(ContainSubstring(addr))
	g.Expect(condition(mc, searchv1alpha1.ConditionReconciling)).NotTo(BeNil())
	g.Expect(condition(mc, searchv1alpha1.ConditionStalled)).To(BeNil())
}

func TestUnauthorizedThenRotated(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	newSecret(t, "golf-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, func(kc *clientcmdapi.Config) {
		u := currentUser(kc)
		u.ClientCertificateData, u.ClientKeyData = nil, nil
		u.Token = "not-a-valid-token"
	})}, true)
	newMemberCluster(t, "golf", "golf-kubeconfig", "")

	mc := eventuallyReason(t, "golf", searchv1alpha1.ReasonUnauthorized)
	g.Expect(condition(mc, searchv1alpha1.ConditionStalled)).NotTo(BeNil())
	g.Expect(condition(mc, searchv1alpha1.ConditionReady).Message).NotTo(ContainSubstring("not-a-valid-token"))

	// Rotating the Secret reconnects at once, without waiting for the next probe.
	setSecret(t, "golf-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, nil)})
	mc = eventuallyReason(t, "golf", searchv1alpha1.ReasonConnected)
	g.Expect(mc.Status.KubernetesVersion).NotTo(BeEmpty())
}

func TestUntrustedClientCertificate(t *testing.T) {
	needControlPlane(t)
	// A certificate from the hub's CA, which the member does not trust: the member rejects it,
	// it does not fall back to an anonymous user.
	newSecret(t, "hotel-kubeconfig", map[string][]byte{"value": memberKubeconfig(t, func(kc *clientcmdapi.Config) {
		u := currentUser(kc)
		u.ClientCertificateData, u.ClientKeyData = hubUser.CertData, hubUser.KeyData
	})}, true)
	newMemberCluster(t, "hotel", "hotel-kubeconfig", "")

	mc := eventuallyReason(t, "hotel", searchv1alpha1.ReasonUnauthorized)
	NewWithT(t).Expect(condition(mc, searchv1alpha1.ConditionReady).Message).To(ContainSubstring("fleet/hotel-kubeconfig"))
}
