package e2e

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controlplane"
)

// The RBAC specs run the manager as a user that holds only what `make deploy` grants it: the
// ClusterRole generated from the +kubebuilder:rbac markers (config/rbac/role.yaml), so that a
// missing marker fails here rather than in a user's cluster, and the aggregated indexer ClusterRole
// (config/rbac/indexer_role.yaml), each bound to the user instead of the ServiceAccount. The
// indexer role starts empty; the rules to read a mirrored kind reach it only through
// kube-controller-manager's ClusterRole aggregation, from the labelled sample role.
var _ = Describe("Manager with the RBAC from config/rbac", Ordered, Label("rbac"), func() {
	const (
		ns   = "e2e-rbac"
		user = "kubesift-manager-e2e"
	)
	var u *controlplane.User

	BeforeAll(func() {
		if !cp.HasControllerManager() {
			Skip("the control plane runs no kube-controller-manager, which aggregates the indexer role (run make controlplane)")
		}
		var err error
		u, err = cp.AddUser(user)
		Expect(err).NotTo(HaveOccurred())
		// role.yaml also holds the manager's Role for the read API's certificate Secret, in the
		// namespace that kustomize names; the raw file says "system".
		if _, err := kubectlErr("get", "namespace", "system"); err != nil {
			createNamespace("system")
		}
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
		kubectl("create", "clusterrolebinding", "e2e-manager", "--clusterrole=manager-role", "--user="+user)
		// The same Role in the namespace of the author epoch, which the manager keeps there.
		roles, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
		Expect(err).NotTo(HaveOccurred())
		kubectlStdin(strings.ReplaceAll(string(roles), "namespace: system", "namespace: "+admission.PlainEpoch.Namespace),
			"apply", "-f", "-")
		kubectl("create", "rolebinding", "e2e-manager", "-n", admission.PlainEpoch.Namespace, "--role=manager-role", "--user="+user)
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "rbac", "indexer_role.yaml"))
		kubectl("create", "clusterrolebinding", "e2e-indexer", "--clusterrole=indexer-role", "--user="+user)
		out, err := u.Kubectl(suiteCtx, "auth", "can-i", "list", "configmaps", "--all-namespaces")
		Expect(err).To(HaveOccurred(), "the manager's user may list ConfigMaps before any role is aggregated into the indexer role")
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
		_, _ = kubectlErr("delete", "clusterrolebinding", "e2e-manager", "e2e-indexer", "--ignore-not-found")
		_, _ = kubectlErr("delete", "rolebinding", "e2e-manager", "-n", admission.PlainEpoch.Namespace, "--ignore-not-found")
		_, _ = kubectlErr("delete", "clusterrole", "indexer-role", "kubesift-indexer-configmaps", "--ignore-not-found")
		_, _ = kubectlErr("delete", "namespace", ns, "--ignore-not-found", "--wait=false")
	})

	It("reports Forbidden for a kind it may not read", func() {
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "samples", "search_v1alpha1_resourceindex_configmaps.yaml"))
		kubectl("wait", `--for=jsonpath={.status.conditions[?(@.type=="Ready")].reason}=Forbidden`, "ri/configmaps", "--timeout=60s")
		Expect(kubectl("get", "ri", "configmaps", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("False"))
	})

	It("mirrors and searches the kind once the sample role is aggregated into the indexer role", func() {
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "samples", "rbac_indexer_configmaps.yaml"))
		Eventually(jsonPath("{.rules[*].resources}", "clusterrole", "indexer-role")).Should(ContainSubstring("configmaps"))
		out, err := u.Kubectl(suiteCtx, "auth", "can-i", "list", "configmaps", "--all-namespaces")
		Expect(err).NotTo(HaveOccurred(), "the aggregated indexer role grants listing ConfigMaps")
		Expect(out).To(Equal("yes\n"))
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
