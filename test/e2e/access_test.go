package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubesift/kubesift/internal/controlplane"
)

// The access specs check that a query answers only what its author may list, with users other
// than the admin (client certificates) and a ConfigMap that holds a secret-like value. A field
// predicate such as data.password StartsWith "s" is an oracle: if its total could be read, the
// value could be recovered one character at a time.
var _ = Describe("A query answers only what its author may list", Ordered, Label("access"), func() {
	const (
		ns       = "e2e-access"
		other    = "e2e-access-other"
		password = "s3cr3t-Pa55"
		// revoked is how long a revoked right may take to stop a query: the minute.
		revoked = time.Minute
	)
	var alice, bob, carol *controlplane.User

	// as runs kubectl as u and returns its output and error.
	as := func(u *controlplane.User, args ...string) (string, error) {
		return u.Kubectl(suiteCtx, args...)
	}
	// applyAs applies a manifest as u.
	applyAs := func(u *controlplane.User, name, manifest string) (string, error) {
		path := filepath.Join(workDir, "access-"+name+".yaml")
		Expect(os.WriteFile(path, []byte(manifest), 0o600)).To(Succeed())
		return as(u, "apply", "-f", path)
	}
	// applyAdmin applies a manifest as the admin and returns the error instead of failing.
	applyAdmin := func(name, manifest string) (string, error) {
		path := filepath.Join(workDir, "access-"+name+".yaml")
		Expect(os.WriteFile(path, []byte(manifest), 0o600)).To(Succeed())
		return kubectlErr("apply", "-f", path)
	}
	// oracle is a query whose total says whether the password starts with prefix.
	oracle := func(name, prefix string) string {
		return `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: ` + name + `
  namespace: ` + ns + `
spec:
  target: {apiVersion: v1, kind: ConfigMap}
  fields:
  - {path: data.password, operator: StartsWith, values: ["` + prefix + `"]}
`
	}
	clusterOracle := func(name, prefix string, namespaces ...string) string {
		m := `
apiVersion: search.kubesift.io/v1alpha1
kind: ClusterSearchQuery
metadata:
  name: ` + name + `
spec:
  target: {apiVersion: v1, kind: ConfigMap}
  fields:
  - {path: data.password, operator: StartsWith, values: ["` + prefix + `"]}
`
		if len(namespaces) > 0 {
			m += "  namespaces: [" + strings.Join(namespaces, ", ") + "]\n"
		}
		return m
	}
	// state reads what any reader of the query's status learns.
	state := func(args ...string) func() (string, error) {
		return jsonPath(`{.status.conditions[?(@.type=="Ready")].reason} total={.status.total} results={.status.results[*].name}`, args...)
	}
	// grantSample applies config/samples/rbac_search_configmaps.yaml for user u in namespace.
	grantSample := func(u *controlplane.User) {
		data, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "rbac_search_configmaps.yaml"))
		Expect(err).NotTo(HaveOccurred())
		manifest := strings.ReplaceAll(string(data), "namespace: team-a", "namespace: "+ns)
		manifest = strings.ReplaceAll(manifest, "name: jane", "name: "+u.Name)
		apply(manifest)
	}

	BeforeAll(func() {
		var err error
		for _, u := range []struct {
			p    **controlplane.User
			name string
		}{{&alice, "e2e-alice"}, {&bob, "e2e-bob"}, {&carol, "e2e-carol"}} {
			*u.p, err = cp.AddUser(u.name, "e2e-searchers")
			Expect(err).NotTo(HaveOccurred())
		}
		createNamespace(ns)
		createNamespace(other)
		for _, n := range []string{ns, other} {
			kubectl("create", "configmap", "vault", "-n", n, "--from-literal=password="+password)
		}
		// Everyone may write and read queries in ns, and carol ClusterSearchQueries; nobody may
		// list ConfigMaps yet.
		kubectl("create", "clusterrole", "kubesift-e2e-query-writer",
			"--verb=create,get,list,watch,update,patch,delete", "--resource=searchqueries.search.kubesift.io")
		kubectl("create", "rolebinding", "query-writers", "-n", ns, "--clusterrole=kubesift-e2e-query-writer", "--group=e2e-searchers")
		kubectl("create", "clusterrole", "kubesift-e2e-cluster-query-writer",
			"--verb=create,get,list,watch,update,patch,delete", "--resource=clustersearchqueries.search.kubesift.io")
		kubectl("create", "clusterrolebinding", "kubesift-e2e-cluster-query-writer",
			"--clusterrole=kubesift-e2e-cluster-query-writer", "--user="+carol.Name)
		kubectl("create", "clusterrole", "kubesift-e2e-configmap-lister", "--verb=list", "--resource=configmaps")
		out, err := as(alice, "auth", "can-i", "list", "configmaps", "-n", ns)
		Expect(err).To(HaveOccurred())
		Expect(out).To(Equal("no\n"))

		startManager("access")
	})

	AfterAll(func() {
		_, _ = kubectlErr("delete", "sq", "--all", "-n", ns, "--wait", "--timeout=60s")
		_, _ = kubectlErr("delete", "csq", "--all", "--wait", "--timeout=60s")
		_, _ = kubectlErr("delete", "ri", "configmaps", "--ignore-not-found", "--wait", "--timeout=60s")
		stopAllManagers()
		_, _ = kubectlErr("delete", "clusterrolebinding", "kubesift-e2e-cluster-query-writer", "kubesift-e2e-configmap-lister",
			"--ignore-not-found")
		_, _ = kubectlErr("delete", "clusterrole", "kubesift-e2e-query-writer", "kubesift-e2e-cluster-query-writer",
			"kubesift-e2e-configmap-lister", "--ignore-not-found")
		_, _ = kubectlErr("delete", "namespace", ns, other, "--ignore-not-found", "--wait=false")
	})

	It("checks a query created before its ResourceIndex exists once the index appears", func() {
		_, err := applyAs(alice, "early", oracle("early", "s"))
		Expect(err).NotTo(HaveOccurred(), "no ResourceIndex publishes the resource yet, so admission cannot check")
		Eventually(state("sq", "early", "-n", ns)).Should(Equal("Forbidden total=0 results="))

		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "samples", "search_v1alpha1_resourceindex_configmaps.yaml"))
		kubectl("wait", "--for=condition=Ready", "ri/configmaps", "--timeout=60s")
		Expect(kubectl("get", "ri", "configmaps", "-o", "jsonpath={.status.resource.group}/{.status.resource.resource}")).
			To(Equal("/configmaps"))
		Consistently(state("sq", "early", "-n", ns), 3*time.Second).Should(Equal("Forbidden total=0 results="))
		Expect(kubectl("get", "sq", "early", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)).
			To(ContainSubstring(`user "e2e-alice", who last wrote the spec, may not list configmaps in namespace "e2e-access"`))
	})

	It("refuses at admission a query whose author may not list the target, so no character is learned", func() {
		By("waiting until admission resolves the ResourceIndex param kind, probing with a server-side dry run that stores nothing")
		// The API server refreshes the kinds its admission policies resolve about every 30 seconds,
		// so for that long after the CRDs are installed the access policy cannot run and admits
		// (failurePolicy: Ignore; the controller's check still answers Forbidden, as above).
		probe := filepath.Join(workDir, "access-probe.yaml")
		Expect(os.WriteFile(probe, []byte(oracle("probe", "s")), 0o600)).To(Succeed())
		Eventually(func() error {
			_, err := as(alice, "apply", "--dry-run=server", "-f", probe)
			return err
		}, 90*time.Second, time.Second).Should(MatchError(ContainSubstring(`user "e2e-alice" may not list configmaps`)))
		for _, prefix := range []string{"s", "x"} {
			out, err := applyAs(alice, "guess-"+prefix, oracle("guess-"+prefix, prefix))
			Expect(err).To(HaveOccurred(), out)
			Expect(err.Error()).To(ContainSubstring(`user "e2e-alice" may not list configmaps in namespace "e2e-access"`))
		}
		Expect(kubectl("get", "sq", "-n", ns, "-o", "name")).To(Equal("searchquery.search.kubesift.io/early\n"))
		Expect(kubectl("get", "sq", "early", "-n", ns, "-o", "jsonpath={.status.total}")).To(Equal("0"))
	})

	It("answers once the author may list the target, and stops within a minute when the right is revoked", func() {
		By("granting list with the sample Role from config/samples")
		grantSample(alice)
		Eventually(state("sq", "early", "-n", ns), revoked).Should(Equal("Succeeded total=1 results=vault"))
		_, err := applyAs(alice, "guess-s", oracle("guess-s", "s"))
		Expect(err).NotTo(HaveOccurred())
		Eventually(state("sq", "guess-s", "-n", ns)).Should(Equal("Succeeded total=1 results=vault"))

		By("revoking it")
		kubectl("delete", "rolebinding", "configmap-searcher", "-n", ns)
		start := time.Now()
		for _, q := range []string{"early", "guess-s"} {
			Eventually(state("sq", q, "-n", ns), revoked-time.Since(start)).Should(Equal("Forbidden total=0 results="))
		}
		fmt.Fprintf(GinkgoWriter, "Both queries were Forbidden %s after the revocation\n", time.Since(start).Round(time.Second))
	})

	It("cannot be made to run as someone else", func() {
		By("creating a query whose annotations name the admin")
		spoofed := `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: spoofed
  namespace: ` + ns + `
  annotations:
    search.kubesift.io/author: ` + controlplane.AdminUser + `
    search.kubesift.io/author-groups: '["system:masters"]'
spec:
  target: {apiVersion: v1, kind: ConfigMap}
  fields:
  - {path: data.password, operator: StartsWith, values: ["s"]}
`
		_, err := applyAs(bob, "spoofed", spoofed)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`user "e2e-bob" may not list configmaps`))

		By("rewriting the annotations of a query someone else wrote")
		kubectl("create", "rolebinding", "alice-lists", "-n", ns, "--clusterrole=kubesift-e2e-configmap-lister", "--user="+alice.Name)
		_, err = applyAs(alice, "alices", oracle("alices", "s"))
		Expect(err).NotTo(HaveOccurred())
		Expect(kubectl("get", "sq", "alices", "-n", ns, "-o", `jsonpath={.metadata.annotations.search\.kubesift\.io/author}`)).
			To(Equal(alice.Name))
		_, err = as(bob, "annotate", "sq", "alices", "-n", ns, "--overwrite",
			"search.kubesift.io/author="+controlplane.AdminUser, `search.kubesift.io/author-groups=["system:masters"]`)
		Expect(err).NotTo(HaveOccurred(), "a change of metadata only is admitted")
		Expect(kubectl("get", "sq", "alices", "-n", ns, "-o",
			`jsonpath={.metadata.annotations.search\.kubesift\.io/author} {.metadata.annotations.search\.kubesift\.io/author-groups}`)).
			To(Equal(alice.Name + ` ["e2e-searchers","system:authenticated"]`))

		By("changing the spec of a query someone else wrote")
		_, err = as(bob, "patch", "sq", "alices", "-n", ns, "--type=merge", "-p", `{"spec":{"limit":7}}`)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`user "e2e-bob" may not list configmaps in namespace "e2e-access"`))
		kubectl("delete", "rolebinding", "alice-lists", "-n", ns)
	})

	It("takes no author from a metadata change of a query written before the policies were installed", func() {
		By("removing the bindings of the author policies, as before an install")
		restore := deleteAuthorBindings("query-author-guard")
		legacy := strings.Replace(oracle("legacy", "s"), "  name: legacy\n",
			"  name: legacy\n  annotations:\n    search.kubesift.io/author: "+alice.Name+"\n", 1)
		Eventually(func() (string, error) {
			// The API server stops enforcing a deleted binding a moment later; until then, with
			// the author epoch gone, it refuses every write of a query.
			if _, err := kubectlErr("delete", "sq", "legacy", "-n", ns, "--ignore-not-found"); err != nil {
				return "", err
			}
			if _, err := applyAdmin("legacy", legacy); err != nil {
				return "", err
			}
			return kubectlErr("get", "sq", "legacy", "-n", ns, "-o",
				`jsonpath={.metadata.annotations.search\.kubesift\.io/author-groups}`)
		}).Should(BeEmpty(), "a query written without the policies has an incomplete author record")

		By("installing the policies again and changing only the query's labels, as the admin")
		restore()
		kubectl("label", "sq", "legacy", "-n", ns, "team=payments")
		Expect(kubectl("get", "sq", "legacy", "-n", ns, "-o",
			`jsonpath={.metadata.annotations.search\.kubesift\.io/author}|{.metadata.annotations.search\.kubesift\.io/author-groups}`)).
			To(Equal("|[]"), "a metadata change neither keeps the forged name nor makes the admin the author")
		Eventually(state("sq", "legacy", "-n", ns)).Should(Equal("Forbidden total=0 results="))
		Expect(kubectl("get", "sq", "legacy", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)).
			To(ContainSubstring("does not record who wrote its spec"))

		By("writing the spec as a user who may list the target")
		kubectl("create", "rolebinding", "alice-lists-legacy", "-n", ns, "--clusterrole=kubesift-e2e-configmap-lister", "--user="+alice.Name)
		DeferCleanup(func() { kubectl("delete", "rolebinding", "alice-lists-legacy", "-n", ns) })
		_, err := as(alice, "patch", "sq", "legacy", "-n", ns, "--type=merge", "-p", `{"spec":{"limit":5}}`)
		Expect(err).NotTo(HaveOccurred())
		Expect(kubectl("get", "sq", "legacy", "-n", ns, "-o", `jsonpath={.metadata.annotations.search\.kubesift\.io/author}`)).
			To(Equal(alice.Name))
		Eventually(state("sq", "legacy", "-n", ns)).Should(Equal("Succeeded total=1 results=vault"))
	})

	It("answers no query whose author record was written while the policies were missing", func() {
		const epochKey = "search.kubesift.io/author-epoch"
		kubectl("create", "rolebinding", "alice-lists-epoch", "-n", ns, "--clusterrole=kubesift-e2e-configmap-lister", "--user="+alice.Name)
		DeferCleanup(func() { kubectl("delete", "rolebinding", "alice-lists-epoch", "-n", ns) })
		// record returns the author record of a query, as u reads it.
		record := func(u *controlplane.User, name string) map[string]string {
			GinkgoHelper()
			out, err := as(u, "get", "sq", name, "-n", ns, "-o", "jsonpath={.metadata.annotations}")
			Expect(err).NotTo(HaveOccurred())
			all := map[string]string{}
			Expect(json.Unmarshal([]byte(out), &all)).To(Succeed())
			rec := map[string]string{}
			for k, v := range all {
				if strings.HasPrefix(k, "search.kubesift.io/author") {
					rec[k] = v
				}
			}
			return rec
		}
		message := func(name string) string {
			return kubectl("get", "sq", name, "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
		}

		By("writing a query as a user who may list the target")
		_, err := applyAs(alice, "legit", oracle("legit", "s"))
		Expect(err).NotTo(HaveOccurred())
		Eventually(state("sq", "legit", "-n", ns)).Should(Equal("Succeeded total=1 results=vault"))

		By("learning the author epoch from a query of one's own, as a user who may not list the target")
		_, err = applyAs(bob, "bobs", `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata: {name: bobs, namespace: `+ns+`}
spec:
  target: {apiVersion: v1, kind: Secret}
`)
		Expect(err).NotTo(HaveOccurred())
		oldEpoch := currentAuthorEpoch()
		Expect(record(bob, "bobs")).To(HaveKeyWithValue(epochKey, oldEpoch))
		// A complete record naming alice: her name, groups and extra from her query, which bob
		// may read, and the epoch from his own.
		forgedRecord := record(bob, "legit")
		Expect(forgedRecord).To(HaveLen(5))
		Expect(forgedRecord).To(HaveKeyWithValue("search.kubesift.io/author", alice.Name))
		forgedRecord[epochKey] = record(bob, "bobs")[epochKey]

		By("deleting the bindings of the admission policies")
		restore := deleteAuthorBindings("query-author-guard", "query-access")
		Eventually(currentAuthorEpoch).Should(BeEmpty(), "the manager deletes the author epoch")
		Eventually(state("sq", "legit", "-n", ns)).Should(Equal("Forbidden total=0 results="))

		By("writing a query with the forged record while nothing enforces the policies")
		forged, err := json.Marshal(map[string]any{
			"apiVersion": "search.kubesift.io/v1alpha1",
			"kind":       "SearchQuery",
			"metadata":   map[string]any{"name": "forged", "namespace": ns, "annotations": forgedRecord},
			"spec": map[string]any{
				"target": map[string]any{"apiVersion": "v1", "kind": "ConfigMap"},
				"fields": []any{map[string]any{"path": "data.password", "operator": "StartsWith", "values": []string{"s"}}},
			},
		})
		Expect(err).NotTo(HaveOccurred())
		forgedPath := filepath.Join(workDir, "access-forged.json")
		Expect(os.WriteFile(forgedPath, forged, 0o600)).To(Succeed())
		Eventually(func(g Gomega) {
			// Until the API server stops enforcing the deleted bindings, it refuses the write
			// (there is no epoch) or rewrites the record.
			_, _ = as(bob, "delete", "sq", "forged", "-n", ns, "--ignore-not-found")
			_, err := as(bob, "create", "-f", forgedPath)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(record(bob, "forged")).To(Equal(forgedRecord))
		}).Should(Succeed())

		By("installing the policies again")
		restore()
		newEpoch := currentAuthorEpoch()
		Expect(newEpoch).NotTo(Equal(oldEpoch))
		Expect(record(bob, "forged")).To(Equal(forgedRecord), "the forged record is still there")
		Eventually(state("sq", "forged", "-n", ns)).Should(Equal("Forbidden total=0 results="))
		Eventually(func() string { return message("forged") }).Should(ContainSubstring("another author epoch"))

		By("changing only the labels of the forged query")
		_, err = as(bob, "label", "sq", "forged", "-n", ns, "team=payments")
		Expect(err).NotTo(HaveOccurred())
		Expect(record(bob, "forged")).To(HaveKeyWithValue(epochKey, oldEpoch))
		Consistently(state("sq", "forged", "-n", ns), 5*time.Second).Should(Equal("Forbidden total=0 results="))

		By("answering the query written before the gap only once its spec is written again")
		Eventually(state("sq", "legit", "-n", ns)).Should(Equal("Forbidden total=0 results="))
		Eventually(func() string { return message("legit") }).Should(ContainSubstring("another author epoch"))
		_, err = as(alice, "patch", "sq", "legit", "-n", ns, "--type=merge", "-p", `{"spec":{"limit":5}}`)
		Expect(err).NotTo(HaveOccurred())
		Expect(record(alice, "legit")).To(HaveKeyWithValue(epochKey, newEpoch))
		Eventually(state("sq", "legit", "-n", ns)).Should(Equal("Succeeded total=1 results=vault"))
		Expect(state("sq", "forged", "-n", ns)()).To(Equal("Forbidden total=0 results="))
		kubectl("delete", "sq", "legit", "forged", "bobs", "-n", ns)
	})

	It("answers a ClusterSearchQuery only while its author may list the target cluster-wide", func() {
		out, err := applyAs(carol, "all", clusterOracle("e2e-all", "s"))
		Expect(err).To(HaveOccurred(), out)
		Expect(err.Error()).To(ContainSubstring(`user "e2e-carol" may not list configmaps in all namespaces`))

		kubectl("create", "clusterrolebinding", "kubesift-e2e-configmap-lister", "--clusterrole=kubesift-e2e-configmap-lister",
			"--user="+carol.Name)
		Eventually(func() error { _, err := applyAs(carol, "all", clusterOracle("e2e-all", "s")); return err }).Should(Succeed())
		Eventually(state("csq", "e2e-all")).Should(Equal("Succeeded total=2 results=vault vault"))

		kubectl("delete", "clusterrolebinding", "kubesift-e2e-configmap-lister")
		Eventually(state("csq", "e2e-all"), revoked).Should(Equal("Forbidden total=0 results="))
		Expect(kubectl("get", "csq", "e2e-all", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)).
			To(ContainSubstring("may not list configmaps in all namespaces"))
	})

	It("answers a ClusterSearchQuery with spec.namespaces only while its author may list in each of them", func() {
		kubectl("create", "rolebinding", "carol-lists", "-n", ns, "--clusterrole=kubesift-e2e-configmap-lister", "--user="+carol.Name)
		Eventually(func() error { _, err := applyAs(carol, "one", clusterOracle("e2e-one", "s", ns)); return err }).Should(Succeed())
		Eventually(state("csq", "e2e-one")).Should(Equal("Succeeded total=1 results=vault"))

		By("refusing at admission a namespace the author may not list")
		_, err := applyAs(carol, "two", clusterOracle("e2e-two", "s", ns, other))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`user "e2e-carol" may not list configmaps in namespace "` + other + `"`))

		By("checking in the controller the namespaces that admission does not check")
		_, err = applyAs(carol, "three", clusterOracle("e2e-three", "s", ns, ns, other))
		Expect(err).NotTo(HaveOccurred(), "admission checks only the first two namespaces")
		Eventually(state("csq", "e2e-three")).Should(Equal("Forbidden total=0 results="))
		Expect(kubectl("get", "csq", "e2e-three", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)).
			To(ContainSubstring(`may not list configmaps in namespace "` + other + `"`))

		By("revoking the right in the one namespace")
		kubectl("delete", "rolebinding", "carol-lists", "-n", ns)
		Eventually(state("csq", "e2e-one"), revoked).Should(Equal("Forbidden total=0 results="))
	})
})

// deleteAuthorBindings deletes the binding of the query-author policy and the named validating
// bindings, and returns the function that applies config/admission again; it also runs at
// cleanup, and only once.
func deleteAuthorBindings(validating ...string) func() {
	GinkgoHelper()
	kubectl("delete", "mutatingadmissionpolicybinding", "query-author")
	kubectl(append([]string{"delete", "validatingadmissionpolicybinding"}, validating...)...)
	restored := false
	restore := func() {
		if !restored {
			kubectl("apply", "-k", filepath.Join(repoRoot, "config", "admission"))
			waitForAdmissionPolicies()
			restored = true
		}
	}
	DeferCleanup(restore)
	return restore
}
