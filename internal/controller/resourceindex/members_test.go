package resourceindex

import (
	"context"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controlplane"
	"github.com/kubesift/kubesift/internal/query"
)

// searchRefs returns "cluster|namespace/name" for every match of spec.
func searchRefs(g Gomega, spec query.Spec) []string {
	q, err := query.Compile(spec)
	g.Expect(err).NotTo(HaveOccurred())
	page, err := store.Search(context.Background(), q, "")
	g.Expect(err).NotTo(HaveOccurred())
	out := make([]string, 0, len(page.Items))
	for _, it := range page.Items {
		out = append(out, it.Cluster+"|"+it.Namespace+"/"+it.Name)
	}
	slices.Sort(out)
	return out
}

// fleetIndex is the ResourceIndex of TestMemberClusters.
const fleetIndex = "configmaps-fleet"

// clusterStatus returns the entries of fleetIndex's status.clusters.
func clusterStatus(g Gomega) []searchv1alpha1.ClusterIndexStatus {
	ri := &searchv1alpha1.ResourceIndex{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Name: fleetIndex}, ri)).To(Succeed())
	return ri.Status.Clusters
}

// TestMemberClusters mirrors ConfigMaps from a second, real control plane next to the local
// ones: a member that stops answering keeps its objects, and a member no longer selected loses
// them.
func TestMemberClusters(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	ctx := context.Background()
	member, err := controlplane.Start(ctx, controlplane.Options{NoControllerManager: true})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = member.Stop() }()
	mcfg := member.RESTConfig()
	memberClient, err := client.New(mcfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	hc, err := rest.HTTPClientFor(mcfg)
	g.Expect(err).NotTo(HaveOccurred())

	newNamespace(t, "fleet")
	g.Expect(memberClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}})).To(Succeed())
	cm := func(c client.Client, name, from string) {
		g.Expect(c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name},
			Data: map[string]string{"from": from}})).To(Succeed())
	}
	cm(k8sClient, "shared", "hub")
	cm(memberClient, "shared", "m1")
	cm(memberClient, "only-m1", "m1")

	// Two MemberClusters; the ResourceIndex selects one. The test plays the MemberCluster
	// controller: it publishes the connection.
	for name, env := range map[string]string{"m1": "fleet", "m2": "other"} {
		g.Expect(k8sClient.Create(ctx, &searchv1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": env}},
			Spec: searchv1alpha1.MemberClusterSpec{KubeconfigSecretRef: searchv1alpha1.SecretKeyRef{
				Namespace: "fleet", Name: name + "-kubeconfig"}},
		})).To(Succeed())
	}
	registry.Set("m1", mcfg, hc, true, "")
	g.Expect(k8sClient.Create(ctx, &searchv1alpha1.ResourceIndex{
		ObjectMeta: metav1ObjectMeta("configmaps-fleet"),
		Spec: searchv1alpha1.ResourceIndexSpec{
			Target:   searchv1alpha1.TargetRef{APIVersion: "v1", Kind: "ConfigMap"},
			Clusters: &searchv1alpha1.ClusterSelection{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "fleet"}}},
		},
	})).To(Succeed())
	defer deleteResourceIndex(t, "configmaps-fleet")
	eventuallyReason(t, "configmaps-fleet", searchv1alpha1.ReasonSynced)

	fleet := query.Spec{GVK: configMapGVK, Namespaces: []string{"fleet"}}
	g.Eventually(func(g Gomega) {
		g.Expect(searchRefs(g, fleet)).To(Equal([]string{"m1|fleet/only-m1", "m1|fleet/shared", "|fleet/shared"}))
		st := clusterStatus(g)
		g.Expect(st).To(HaveLen(1))
		g.Expect(st[0].Name).To(Equal("m1"))
		g.Expect(st[0].Reason).To(Equal(clusterSynced))
		g.Expect(st[0].Ready).To(BeTrue())
		g.Expect(st[0].ObjectCount).To(BeNumerically(">=", 2)) // and the member's kube-root-ca.crt
	}, timeout, interval).Should(Succeed())
	onlyM1 := fleet
	onlyM1.Clusters = []string{"m1"}
	g.Expect(searchRefs(g, onlyM1)).To(Equal([]string{"m1|fleet/only-m1", "m1|fleet/shared"}))
	local := fleet
	local.Clusters = []string{""}
	g.Expect(searchRefs(g, local)).To(Equal([]string{"|fleet/shared"}))
	byFrom := query.Spec{GVK: configMapGVK, Fields: []query.FieldPredicate{field("data.from", query.OpEquals, "m1")}}
	g.Expect(searchRefs(g, byFrom)).To(Equal([]string{"m1|fleet/only-m1", "m1|fleet/shared"}))

	// A change in the member is mirrored.
	cm(memberClient, "new-m1", "m1")
	g.Eventually(func(g Gomega) {
		g.Expect(searchRefs(g, onlyM1)).To(ContainElement("m1|fleet/new-m1"))
	}, timeout, interval).Should(Succeed())

	// A member that stops answering keeps its objects, and says so.
	registry.Set("m1", mcfg, hc, false, "readyz: connection refused")
	g.Eventually(func(g Gomega) {
		st := clusterStatus(g)
		g.Expect(st).To(HaveLen(1))
		g.Expect(st[0].Reason).To(Equal(clusterNotReady))
		g.Expect(st[0].Ready).To(BeFalse())
		g.Expect(st[0].Message).To(ContainSubstring("connection refused"))
	}, timeout, interval).Should(Succeed())
	g.Expect(searchRefs(g, onlyM1)).To(ContainElement("m1|fleet/only-m1"))
	registry.Set("m1", mcfg, hc, true, "")
	g.Eventually(func(g Gomega) {
		g.Expect(clusterStatus(g)[0].Reason).To(Equal(clusterSynced))
	}, timeout, interval).Should(Succeed())

	// The second member, selected but without a connection, reports it and blocks nothing.
	m2 := &searchv1alpha1.MemberCluster{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "m2"}, m2)).To(Succeed())
	m2.Labels["env"] = "fleet"
	g.Expect(k8sClient.Update(ctx, m2)).To(Succeed())
	g.Eventually(func(g Gomega) {
		st := clusterStatus(g)
		g.Expect(st).To(HaveLen(2))
		g.Expect(st[1].Name).To(Equal("m2"))
		g.Expect(st[1].Reason).To(Equal(clusterNotConnected))
		g.Expect(st[0].Reason).To(Equal(clusterSynced))
	}, timeout, interval).Should(Succeed())
	g.Expect(readyOf(g, "configmaps-fleet").Reason).To(Equal(searchv1alpha1.ReasonSynced))

	// A member no longer selected loses its objects.
	m1 := &searchv1alpha1.MemberCluster{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "m1"}, m1)).To(Succeed())
	m1.Labels["env"] = "elsewhere"
	g.Expect(k8sClient.Update(ctx, m1)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(searchRefs(g, fleet)).To(Equal([]string{"|fleet/shared"}))
		st := clusterStatus(g)
		g.Expect(st).To(HaveLen(1))
		g.Expect(st[0].Name).To(Equal("m2"))
	}, timeout, interval).Should(Succeed())
}
