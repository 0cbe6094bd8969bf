package e2e

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The RBAC specs run the manager as a user that holds only the ClusterRole generated from the
// +kubebuilder:rbac markers (config/rbac/role.yaml), so that a missing marker fails here rather
// than in a user's cluster. The rules to read a mirrored kind come from the sample indexer
// ClusterRole. In a real cluster kube-controller-manager aggregates that role into the indexer
// role; this control plane has no controller-manager, so the specs bind it directly.
var _ = Describe("Manager with the RBAC from config/rbac", Ordered, Label("rbac"), func() {
	const (
		ns   = "e2e-rbac"
		user = "kubesift-manager-e2e"
	)

	BeforeAll(func() {
		u, err := cp.AddUser(user)
		Expect(err).NotTo(HaveOccurred())
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
		kubectl("create", "clusterrolebinding", "e2e-manager", "--clusterrole=manager-role", "--user="+user)
		out, err := u.Kubectl(suiteCtx, "auth", "can-i", "list", "configmaps", "--all-namespaces")
		Expect(err).To(HaveOccurred(), "the manager's user may list ConfigMaps before the indexer role is bound")
		Expect(out).To(Equal("no\n"))

		createNamespace(ns)
		kubectl("create", "configmap", "payments-a", "-n", ns, "--from-literal=k=v")
		kubectl("label", "configmap", "payments-a", "-n", ns, "app.kubernetes.io/part-of=payments")
		kubectl("create", "configmap", "search-b", "-n", ns, "--from-literal=k=v")
		kubectl("label", "configmap", "search-b", "-n", ns, "app.kubernetes.io/part-of=search")

		startManagerAs("rbac", u.Kubeconfig)
	})

	AfterAll(func() {
		_, _ = kubectlErr("delete", "sq", "--all", "-n", ns, "--wait", "--timeout=60s")
		_, _ = kubectlErr("delete", "csq", "payments-configmaps", "--ignore-not-found", "--wait", "--timeout=60s")
		_, _ = kubectlErr("delete", "ri", "configmaps", "--ignore-not-found", "--wait", "--timeout=60s")
		stopAllManagers()
		_, _ = kubectlErr("delete", "clusterrolebinding", "e2e-manager", "e2e-indexer-configmaps", "--ignore-not-found")
	})

	It("reports Forbidden for a kind it may not read", func() {
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "samples", "search_v1alpha1_resourceindex_configmaps.yaml"))
		kubectl("wait", `--for=jsonpath={.status.conditions[?(@.type=="Ready")].reason}=Forbidden`, "ri/configmaps", "--timeout=60s")
		Expect(kubectl("get", "ri", "configmaps", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("False"))
	})

	It("mirrors and searches the kind once the sample indexer role is granted", func() {
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "samples", "rbac_indexer_configmaps.yaml"))
		kubectl("create", "clusterrolebinding", "e2e-indexer-configmaps", "--clusterrole=kubesift-indexer-configmaps", "--user="+user)
		kubectl("wait", "--for=condition=Ready", "ri/configmaps", "--timeout=120s")

		apply(`
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: payments
  namespace: ` + ns + `
spec:
  target: {apiVersion: v1, kind: ConfigMap}
  labelSelector:
    matchLabels: {app.kubernetes.io/part-of: payments}
`)
		kubectl("wait", "--for=condition=Ready", "sq/payments", "-n", ns, "--timeout=60s")
		Expect(kubectl("get", "sq", "payments", "-n", ns, "-o", "jsonpath={.status.results[*].name}")).To(Equal("payments-a"))

		By("answering the sample ClusterSearchQuery across namespaces")
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "samples", "search_v1alpha1_clustersearchquery_configmaps.yaml"))
		kubectl("wait", "--for=condition=Ready", "csq/payments-configmaps", "--timeout=60s")
		Expect(kubectl("get", "csq", "payments-configmaps", "-o", "jsonpath={.status.results[*].namespace}/{.status.results[*].name}")).
			To(Equal(ns + "/payments-a"))

		By("following a label change")
		kubectl("label", "configmap", "search-b", "-n", ns, "--overwrite", "app.kubernetes.io/part-of=payments")
		Eventually(jsonPath("{.status.results[*].name}", "sq", "payments", "-n", ns)).Should(Equal("payments-a search-b"))
		Eventually(jsonPath("{.status.total}", "csq", "payments-configmaps")).Should(Equal("2"))
	})
})
