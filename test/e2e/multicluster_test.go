package e2e

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubesift/kubesift/internal/controlplane"
)

// fleetCRD is a namespaced kind with a free-form spec, for the member cluster specs.
func fleetCRD(plural, kind string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s.fleet.e2e.kubesift.io
spec:
  group: fleet.e2e.kubesift.io
  scope: Namespaced
  names: {plural: %[1]s, singular: %[3]s, kind: %[2]s, listKind: %[2]sList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, plural, kind, strings.ToLower(kind))
}

// Three real control planes: the hub, where the manager runs, and two members, east and west.
// Gadgets exist in all three (with a name shared by all), Sprockets in the hub and east only.
var _ = Describe("Member clusters", Ordered, Label("multicluster"), func() {
	const (
		ns         = "e2e-fleet"
		secretsNS  = "e2e-fleet-secrets"
		gadgetKind = "gadgets.fleet.e2e.kubesift.io"
	)
	members := map[string]*controlplane.ControlPlane{}
	// gadgets holds each cluster's Gadgets in ns ("" is the hub).
	gadgets := map[string][]string{
		"":     {"g-hub-1", "g-shared"},
		"east": {"g-east-1", "g-east-2", "g-shared"},
		"west": {"g-west-1", "g-shared"},
	}

	// on runs kubectl as the admin of a cluster ("" is the hub).
	on := func(cluster, stdin string, args ...string) string {
		GinkgoHelper()
		if cluster == "" {
			if stdin != "" {
				kubectlStdin(stdin, args...)
				return ""
			}
			return kubectl(args...)
		}
		cmd := members[cluster].KubectlCmd(suiteCtx, args...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "kubectl %s on %s: %s", strings.Join(args, " "), cluster, out)
		return string(out)
	}
	gadget := func(name string) string {
		return fmt.Sprintf("apiVersion: fleet.e2e.kubesift.io/v1\nkind: Gadget\nmetadata: {name: %s, namespace: %s}\nspec: {size: 1}\n", name, ns)
	}
	// listed returns what the cluster's own LIST says: "cluster|name" for each Gadget in ns.
	listed := func(clusters ...string) []string {
		GinkgoHelper()
		var out []string
		for _, c := range clusters {
			for _, name := range strings.Fields(on(c, "", "get", gadgetKind, "-n", ns, "-o", "jsonpath={.items[*].metadata.name}")) {
				out = append(out, c+"|"+name)
			}
		}
		return out
	}
	// results returns "cluster|name" for each result of a ClusterSearchQuery.
	results := func(name string) func() (string, error) {
		return jsonPath(`{range .status.results[*]}{.cluster}|{.name} {end}`, "csq", name)
	}
	// sortedKeys orders "cluster|name" keys as a query sorted by cluster, then name: the hub ("")
	// first.
	sortedKeys := func(keys []string) string {
		keys = slices.Clone(keys)
		slices.SortFunc(keys, func(a, b string) int {
			ac, an, _ := strings.Cut(a, "|")
			bc, bn, _ := strings.Cut(b, "|")
			if c := strings.Compare(ac, bc); c != 0 {
				return c
			}
			return strings.Compare(an, bn)
		})
		return strings.Join(keys, " ") + " "
	}
	query := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: search.kubesift.io/v1alpha1
kind: ClusterSearchQuery
metadata: {name: %s}
spec:
  target: {apiVersion: fleet.e2e.kubesift.io/v1, kind: Gadget}
  namespaces: [%s]
  sort: [{path: cluster}, {path: metadata.name}]
  limit: 100
%s`, name, ns, extra)
	}

	BeforeAll(func() {
		for _, name := range []string{"east", "west"} {
			By("starting the control plane of member " + name)
			m, err := controlplane.Start(suiteCtx, controlplane.Options{NoControllerManager: true})
			Expect(err).NotTo(HaveOccurred())
			members[name] = m
			DeferCleanup(m.Stop)
		}
		for _, c := range []string{"", "east", "west"} {
			on(c, fleetCRD("gadgets", "Gadget"), "apply", "-f", "-")
			if c != "west" {
				on(c, fleetCRD("sprockets", "Sprocket"), "apply", "-f", "-")
			}
			on(c, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/"+gadgetKind)
			on(c, "", "create", "namespace", ns)
			for _, g := range gadgets[c] {
				on(c, gadget(g), "apply", "-f", "-")
			}
			on(c, "", "create", "configmap", "cm-shared", "-n", ns, "--from-literal=owner=fleet")
			on(c, "", "create", "configmap", "cm-"+cmp.Or(c, "hub"), "-n", ns, "--from-literal=owner="+cmp.Or(c, "hub"))
		}
		createNamespace(secretsNS)
		for _, name := range []string{"east", "west"} {
			kubectl("create", "secret", "generic", name+"-kubeconfig", "-n", secretsNS, "--from-file=value="+members[name].Kubeconfig())
			apply(fmt.Sprintf(`apiVersion: search.kubesift.io/v1alpha1
kind: MemberCluster
metadata: {name: %s, labels: {fleet: e2e}}
spec:
  kubeconfigSecretRef: {namespace: %s, name: %s-kubeconfig}
`, name, secretsNS, name))
		}
		startManager("multicluster", "--member-probe-interval=2s")
		for _, name := range []string{"east", "west"} {
			Eventually(jsonPath(`{.status.conditions[?(@.type=="Ready")].status}`, "membercluster", name)).Should(Equal("True"))
		}
		for _, kind := range []string{"Gadget", "Sprocket"} {
			apply(fmt.Sprintf(`apiVersion: search.kubesift.io/v1alpha1
kind: ResourceIndex
metadata: {name: fleet-%ss}
spec:
  target: {apiVersion: fleet.e2e.kubesift.io/v1, kind: %s}
  clusters:
    selector: {matchLabels: {fleet: e2e}}
`, strings.ToLower(kind), kind))
		}
		apply(`apiVersion: search.kubesift.io/v1alpha1
kind: ResourceIndex
metadata: {name: fleet-configmaps}
spec:
  target: {apiVersion: v1, kind: ConfigMap}
  clusters:
    selector: {matchLabels: {fleet: e2e}}
`)
		for _, ri := range []string{"fleet-gadgets", "fleet-configmaps"} {
			Eventually(jsonPath(`{range .status.clusters[*]}{.name}={.reason} {end}`, "ri", ri)).
				Should(Equal("east=Synced west=Synced "))
		}
	})

	AfterAll(func() {
		kubectl("delete", "clustersearchquery", "--all", "--ignore-not-found")
		kubectl("delete", "resourceindex", "fleet-gadgets", "fleet-sprockets", "fleet-configmaps", "--ignore-not-found",
			"--wait", "--timeout=60s")
		kubectl("delete", "membercluster", "--all", "--ignore-not-found")
		stopAllManagers()
	})

	It("answers across clusters as each cluster's own LIST does, a page at a time", func() {
		want := listed("", "east", "west")
		Expect(want).To(HaveLen(7))
		apply(query("all-gadgets", "  limit: 2\n"))
		// Walk the pages through spec.continue: every object exactly once, in (cluster, name) order.
		var got []string
		for page := 1; ; page++ {
			Expect(page).To(BeNumerically("<=", 4), "more pages than objects")
			var cont, total string
			Eventually(func(g Gomega) {
				gen, err := jsonPath("{.metadata.generation}", "csq", "all-gadgets")()
				g.Expect(err).NotTo(HaveOccurred())
				observed, err := jsonPath("{.status.observedGeneration}", "csq", "all-gadgets")()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(observed).To(Equal(gen))
				total, err = jsonPath("{.status.total}", "csq", "all-gadgets")()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(total).To(Equal("7"))
			}).Should(Succeed())
			keys, err := results("all-gadgets")()
			Expect(err).NotTo(HaveOccurred())
			got = append(got, strings.Fields(keys)...)
			cont, err = jsonPath("{.status.continue}", "csq", "all-gadgets")()
			Expect(err).NotTo(HaveOccurred())
			if cont == "" {
				break
			}
			kubectl("patch", "csq", "all-gadgets", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"continue":%q}}`, cont))
		}
		Expect(strings.Join(got, " ") + " ").To(Equal(sortedKeys(want)))
	})

	It("answers ConfigMaps across clusters as each cluster's own LIST does", func() {
		// listedConfigMaps returns "cluster|name" for each ConfigMap in ns, as each cluster lists them
		// (the hub's kube-controller-manager adds kube-root-ca.crt).
		listedConfigMaps := func() []string {
			var out []string
			for _, c := range []string{"", "east", "west"} {
				for _, name := range strings.Fields(on(c, "", "get", "configmaps", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}")) {
					out = append(out, c+"|"+name)
				}
			}
			return out
		}
		apply(fmt.Sprintf(`apiVersion: search.kubesift.io/v1alpha1
kind: ClusterSearchQuery
metadata: {name: fleet-configmaps}
spec:
  target: {apiVersion: v1, kind: ConfigMap}
  namespaces: [%s]
  sort: [{path: cluster}, {path: metadata.name}]
  limit: 100
`, ns))
		Eventually(func(g Gomega) {
			want := listedConfigMaps()
			g.Expect(want).To(ContainElements("|cm-hub", "east|cm-east", "west|cm-west", "west|cm-shared"))
			g.Expect(results("fleet-configmaps")()).To(Equal(sortedKeys(want)))
		}).Should(Succeed())
	})

	It("keeps to the clusters that spec.clusters names", func() {
		apply(query("east-gadgets", "  clusters: [east]\n"))
		Eventually(results("east-gadgets")).Should(Equal(sortedKeys(listed("east"))))
		apply(query("hub-and-west", "  clusters: [local, west]\n"))
		Eventually(results("hub-and-west")).Should(Equal(sortedKeys(listed("", "west"))))
	})

	It("mirrors a kind from the members that serve it, and says which do not", func() {
		Eventually(jsonPath(`{range .status.clusters[*]}{.name}={.reason} {end}`, "ri", "fleet-sprockets")).
			Should(Equal("east=Synced west=ResourceNotFound "))
		Expect(jsonPath(`{.status.conditions[?(@.type=="Ready")].status}`, "ri", "fleet-sprockets")()).To(Equal("True"))
	})

	It("answers a member's objects only to an author who may search it", func() {
		erin, err := cp.AddUser("erin")
		Expect(err).NotTo(HaveOccurred())
		apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-fleet-erin}
rules:
- apiGroups: [search.kubesift.io]
  resources: [clustersearchqueries]
  verbs: [create, get, list, watch, update, patch, delete]
- apiGroups: [fleet.e2e.kubesift.io]
  resources: [gadgets]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-fleet-erin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-fleet-erin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: erin}]
`)
		manifest := filepath.Join(workDir, "erin-gadgets.yaml")
		Expect(os.WriteFile(manifest, []byte(query("erin-gadgets", "")), 0o600)).To(Succeed())
		out, err := erin.Kubectl(suiteCtx, "apply", "-f", manifest)
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(results("erin-gadgets")).Should(Equal(sortedKeys(listed(""))))
		Expect(jsonPath(`{.status.conditions[?(@.type=="Ready")].message}`, "csq", "erin-gadgets")()).
			To(ContainSubstring("MemberClusters east, west are left out"))

		apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-fleet-erin-east}
rules:
- apiGroups: [search.kubesift.io]
  resources: [memberclusters]
  resourceNames: [east]
  verbs: [search]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-fleet-erin-east}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-fleet-erin-east}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: erin}]
`)
		Eventually(results("erin-gadgets")).Should(Equal(sortedKeys(listed("", "east"))))
	})

	It("marks a stopped member's objects stale, and spec.stale leaves them out or keeps only them", func() {
		apply(query("gadgets-all", ""))
		apply(query("gadgets-fresh", "  stale: Exclude\n"))
		apply(query("gadgets-stale", "  stale: Only\n"))
		everything := listed("", "east", "west")
		fresh, west := listed("", "east"), listed("west")
		Eventually(results("gadgets-all")).Should(Equal(sortedKeys(everything)))
		Eventually(results("gadgets-fresh")).Should(Equal(sortedKeys(everything)))
		Eventually(results("gadgets-stale")).Should(BeEmpty())
		staleness := jsonPath(`{range .status.results[*]}{.cluster}|{.name}={.stale} {end}`, "csq", "gadgets-all")
		Expect(staleness()).NotTo(ContainSubstring("true"))

		By("stopping west's kube-apiserver")
		Expect(members["west"].StopAPIServer()).To(Succeed())
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(members["west"].StartAPIServer(suiteCtx)).To(Succeed())
			}
		})
		Eventually(jsonPath(`{.status.conditions[?(@.type=="Ready")].reason}`, "membercluster", "west"), time.Minute).
			Should(Equal("Unreachable"))
		Expect(jsonPath(`{.status.conditions[?(@.type=="Ready")].status}`, "membercluster", "west")()).To(Equal("False"))
		Eventually(jsonPath(`{.status.clusters[?(@.name=="west")].reason}`, "ri", "fleet-gadgets")).Should(Equal("ClusterNotReady"))
		Eventually(staleness).Should(ContainSubstring("west|g-west-1=true"))
		got, err := staleness()
		Expect(err).NotTo(HaveOccurred())
		for _, r := range strings.Fields(got) {
			key, isStale, _ := strings.Cut(r, "=")
			want := map[bool]string{true: "true", false: ""}[strings.HasPrefix(key, "west|")] // stale is omitted when false
			Expect(isStale).To(Equal(want), "result %s", r)
		}
		Expect(results("gadgets-all")()).To(Equal(sortedKeys(everything)), "the rows stay as last seen")
		Eventually(results("gadgets-fresh")).Should(Equal(sortedKeys(fresh)))
		Eventually(results("gadgets-stale")).Should(Equal(sortedKeys(west)))

		By("starting west's kube-apiserver again")
		Expect(members["west"].StartAPIServer(suiteCtx)).To(Succeed())
		restarted = true
		Eventually(jsonPath(`{.status.clusters[?(@.name=="west")].reason}`, "ri", "fleet-gadgets"), time.Minute).Should(Equal("Synced"))
		Eventually(staleness).ShouldNot(ContainSubstring("true"))
		Eventually(results("gadgets-fresh")).Should(Equal(sortedKeys(everything)))
		Eventually(results("gadgets-stale")).Should(BeEmpty())
		on("west", gadget("g-west-3"), "apply", "-f", "-")
		Eventually(results("gadgets-all")).Should(Equal(sortedKeys(listed("", "east", "west"))))
		on("west", "", "delete", gadgetKind, "g-west-3", "-n", ns)
	})

	It("keeps an unreachable member's objects and catches up with its changes when it comes back", func() {
		apply(query("west-gadgets", "  clusters: [west]\n"))
		Eventually(results("west-gadgets")).Should(Equal(sortedKeys(listed("west"))))
		before := listed("west")

		By("pointing west's kubeconfig at a port where nothing listens")
		kc, err := os.ReadFile(members["west"].Kubeconfig())
		Expect(err).NotTo(HaveOccurred())
		broken := strings.Replace(string(kc), members["west"].URL(), "https://127.0.0.1:1", 1)
		Expect(broken).NotTo(Equal(string(kc)))
		brokenPath := filepath.Join(workDir, "west-broken.kubeconfig")
		Expect(os.WriteFile(brokenPath, []byte(broken), 0o600)).To(Succeed())
		setSecret := func(path string) {
			GinkgoHelper()
			rendered := kubectl("create", "secret", "generic", "west-kubeconfig", "-n", secretsNS,
				"--from-file=value="+path, "--dry-run=client", "-o", "yaml")
			kubectlStdin(rendered, "apply", "-f", "-")
		}
		setSecret(brokenPath)
		Eventually(jsonPath(`{.status.conditions[?(@.type=="Ready")].reason}`, "membercluster", "west")).Should(Equal("Unreachable"))
		Eventually(jsonPath(`{.status.clusters[?(@.name=="west")].reason}`, "ri", "fleet-gadgets")).Should(Equal("ClusterNotReady"))

		By("changing west while kubesift cannot reach it")
		on("west", gadget("g-west-2"), "apply", "-f", "-")
		on("west", "", "delete", gadgetKind, "g-west-1", "-n", ns)
		Consistently(results("west-gadgets"), "3s").Should(Equal(sortedKeys(before)), "the rows stay as last seen")

		By("restoring west's kubeconfig")
		setSecret(members["west"].Kubeconfig())
		Eventually(jsonPath(`{.status.clusters[?(@.name=="west")].reason}`, "ri", "fleet-gadgets")).Should(Equal("Synced"))
		Eventually(results("west-gadgets")).Should(Equal(sortedKeys(listed("west"))))
		Expect(listed("west")).To(ContainElement("west|g-west-2"))
	})

	It("drops a deleted member's objects from live results", func() {
		apply(query("every-gadget", ""))
		Eventually(results("every-gadget")).Should(Equal(sortedKeys(listed("", "east", "west"))))
		kubectl("delete", "membercluster", "east")
		Eventually(results("every-gadget")).Should(Equal(sortedKeys(listed("", "west"))))
		Eventually(jsonPath(`{range .status.clusters[*]}{.name} {end}`, "ri", "fleet-gadgets")).Should(Equal("west "))
	})
})
