package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubesift/kubesift/internal/controlplane"
)

// The read API specs drive query.kubesift.io through the real aggregator: the control plane
// proxies the group to a manager on this machine through an ExternalName Service for localhost,
// and every read is made with kubectl, as the cluster admin or as users with narrower rights.
var _ = Describe("Read API", Ordered, Label("readapi"), func() {
	const (
		ns         = "e2e-read"
		systemNS   = "kubesift-system"
		apiService = "v1alpha1.query.kubesift.io"
		prefix     = "/apis/query.kubesift.io/v1alpha1/resources"
	)
	var (
		reader, nobody *controlplane.User
		readServer     string // the server URL that makes kubectl read from the index
		siftBin        string // the kubectl sift plugin
		followerPort   string // where the follower replica serves its read API
		leader         *managerProcess
		follower       *managerProcess
	)

	// readKubectl runs kubectl against the read API prefix as user (nil for the admin).
	readKubectl := func(user *controlplane.User, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(suiteCtx, kubectlTimeout)
		defer cancel()
		args = append([]string{"--server=" + readServer}, args...)
		if user == nil {
			return cp.Kubectl(ctx, args...)
		}
		return user.Kubectl(ctx, args...)
	}

	BeforeAll(func() {
		crd := filepath.Join(repoRoot, sampleTemplateCRD)
		if _, err := os.Stat(crd); err != nil {
			crd = filepath.Join("testdata", "templates.apps.example.com.yaml")
		}
		kubectl("apply", "--server-side", "-f", crd)
		kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/templates.apps.example.com")
		createNamespace(ns)
		if _, err := kubectlErr("get", "namespace", systemNS); err != nil {
			createNamespace(systemNS)
		}
		// The door to the read API for every authenticated user, as config/ installs it.
		kubectl("apply", "-f", filepath.Join(repoRoot, "config", "rbac", "read_api_user_role.yaml"))

		_, port, err := net.SplitHostPort(freeAddr())
		Expect(err).NotTo(HaveOccurred())
		apply(fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata:
  name: kubesift-read-api
  namespace: %[1]s
spec:
  type: ExternalName
  externalName: localhost
  ports:
  - port: %[2]s
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: %[3]s
spec:
  group: query.kubesift.io
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  service:
    name: kubesift-read-api
    namespace: %[1]s
    port: %[2]s
`, systemNS, port, apiService))

		// Two replicas with leader election, as config/ deploys them. The leader serves the read
		// API that the aggregator reaches; the follower serves one of its own beside it.
		common := []string{"--leader-elect", "--leader-election-namespace=" + systemNS, "--read-api-namespace=" + systemNS}
		leader = startManager("read-leader", append(common, "--read-api-bind-address=127.0.0.1:"+port)...)
		Eventually(func() (string, error) {
			return kubectlErr("get", "lease", "manager.search.kubesift.io", "-n", systemNS, "-o", "jsonpath={.spec.holderIdentity}")
		}).ShouldNot(BeEmpty())
		_, followerPort, err = net.SplitHostPort(freeAddr())
		Expect(err).NotTo(HaveOccurred())
		follower = startManager("read-follower", append(common, "--read-api-bind-address=127.0.0.1:"+followerPort)...)
		kubectl("wait", "--for=condition=Available", "--timeout=90s", "apiservice/"+apiService)
		readServer = cp.URL() + prefix

		apply(`
apiVersion: search.kubesift.io/v1alpha1
kind: ResourceIndex
metadata:
  name: read-templates
spec:
  target: {apiVersion: apps.example.com/v1alpha1, kind: Template}
  fields: [spec.replicas]
`)
		for i := 1; i <= 5; i++ {
			tier := "backend"
			if i%2 == 1 {
				tier = "frontend"
			}
			apply(fmt.Sprintf(`
apiVersion: apps.example.com/v1alpha1
kind: Template
metadata:
  name: web-%d
  namespace: %s
  labels: {tier: %s}
spec:
  team: a
  tier: %s
  replicas: %d
  image: registry.example.com/a/app:1.0.0
`, i, ns, tier, tier, i))
		}
		// Other specs may leave Templates in namespaces being deleted, so wait for this
		// namespace's five rather than for the kind's object count.
		Eventually(func(g Gomega) {
			raw, err := kubectlErr("get", "--raw", prefix+"/apis/apps.example.com/v1alpha1/namespaces/"+ns+"/templates")
			g.Expect(err).NotTo(HaveOccurred())
			var list struct {
				Items []json.RawMessage `json:"items"`
			}
			g.Expect(json.Unmarshal([]byte(raw), &list)).To(Succeed())
			g.Expect(list.Items).To(HaveLen(5))
		}).Should(Succeed())

		siftBin = filepath.Join(workDir, "kubectl-sift")
		build := exec.Command("go", "build", "-o", siftBin, "./cmd/kubectl-sift")
		build.Dir = repoRoot
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))

		reader, err = cp.AddUser("e2e-read-reader")
		Expect(err).NotTo(HaveOccurred())
		nobody, err = cp.AddUser("e2e-read-nobody")
		Expect(err).NotTo(HaveOccurred())
		kubectl("create", "role", "list-templates", "-n", ns, "--verb=get,list", "--resource=templates.apps.example.com")
		kubectl("create", "rolebinding", "list-templates", "-n", ns, "--role=list-templates", "--user="+reader.Name)
	})

	AfterAll(func() {
		// Its managers must not outlive it: a later container that runs a manager with fewer
		// rights (rbac) would see this one's admin mirror answer for it.
		stopAllManagers()
		_, _ = kubectlErr("delete", "apiservice", apiService, "--ignore-not-found")
		_, _ = kubectlErr("delete", "resourceindex", "read-templates", "--ignore-not-found")
		_, _ = kubectlErr("delete", "namespace", ns, "--wait=false")
	})

	It("registers the group and serves discovery of the mirrored kinds", func() {
		Expect(kubectl("api-resources", "--api-group=query.kubesift.io", "-o", "name")).To(
			And(ContainSubstring("searches.query.kubesift.io"), ContainSubstring("clustersearches.query.kubesift.io")))
		out, err := readKubectl(nil, "api-resources", "-o", "wide")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(MatchRegexp(`templates\s+tpl\s+apps.example.com/v1alpha1\s+true\s+Template\s+get,list`))
		// Discovery repeats the cluster's, mirrored or not, so it tells no caller what is mirrored.
		Expect(out).To(MatchRegexp(`configmaps\s+cm\s+v1\s+true\s+ConfigMap\s+get,list`))
		Expect(out).NotTo(ContainSubstring("query.kubesift.io"))
		asNobody, err := readKubectl(nobody, "api-resources", "-o", "wide")
		Expect(err).NotTo(HaveOccurred())
		Expect(asNobody).To(Equal(out))
	})

	It("lists with label and field selectors and prints the CRD's columns", func() {
		out, err := readKubectl(nil, "get", "templates", "-n", ns, "-l", "tier=frontend", "--field-selector", "spec.replicas>1")
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSpace(out), "\n")
		Expect(lines[0]).To(MatchRegexp(`^NAME\s+TEAM\s+TIER\s+REPLICAS\s+READY\s+AGE$`))
		Expect(lines[1:]).To(HaveExactElements(MatchRegexp(`^web-3\s+a\s+frontend\s+3\s`), MatchRegexp(`^web-5\s+a\s+frontend\s+5\s`)))

		out, err = readKubectl(nil, "get", "templates", "-A", "-l", "tier", "-o", "name", "--field-selector", "spec.replicas in (2,4)")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(out)).To(Equal([]string{"template.apps.example.com/web-2", "template.apps.example.com/web-4"}))

		out, err = readKubectl(nil, "get", "template", "web-4", "-n", ns, "-o", "jsonpath={.spec.replicas}")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal("4"))
	})

	It("pages with limit and continue, and kubectl follows them", func() {
		raw, err := kubectlErr("get", "--raw", prefix+"/apis/apps.example.com/v1alpha1/namespaces/"+ns+
			"/templates?limit=2&sort=-spec.replicas")
		Expect(err).NotTo(HaveOccurred())
		var list struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Continue           string `json:"continue"`
				RemainingItemCount *int64 `json:"remainingItemCount"`
			} `json:"metadata"`
			Items []struct {
				Metadata struct{ Name string } `json:"metadata"`
			} `json:"items"`
		}
		Expect(json.Unmarshal([]byte(raw), &list)).To(Succeed())
		Expect(list.Kind).To(Equal("TemplateList"))
		Expect(list.Items).To(HaveLen(2))
		Expect(list.Items[0].Metadata.Name).To(Equal("web-5"))
		Expect(list.Metadata.RemainingItemCount).To(HaveValue(BeEquivalentTo(3)))
		Expect(list.Metadata.Continue).NotTo(BeEmpty())

		next, err := kubectlErr("get", "--raw", prefix+"/apis/apps.example.com/v1alpha1/namespaces/"+ns+
			"/templates?limit=2&sort=-spec.replicas&continue="+list.Metadata.Continue)
		Expect(err).NotTo(HaveOccurred())
		Expect(next).To(And(ContainSubstring(`"name":"web-3"`), ContainSubstring(`"name":"web-2"`)))

		out, err := readKubectl(nil, "get", "templates", "-n", ns, "--chunk-size=2", "-o", "name")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(out)).To(HaveLen(5))
	})

	It("answers a Search created with kubectl, without storing it", func() {
		search := fmt.Sprintf(`
apiVersion: query.kubesift.io/v1alpha1
kind: Search
metadata:
  name: big
  namespace: %s
spec:
  target: {apiVersion: apps.example.com/v1alpha1, kind: Template}
  fields:
  - {path: spec.replicas, operator: GreaterThan, values: ["2"]}
  sort:
  - {path: spec.replicas, order: Descending}
  limit: 2
  output: Objects
`, ns)
		path := filepath.Join(workDir, "search.yaml")
		Expect(os.WriteFile(path, []byte(search), 0o600)).To(Succeed())
		out := kubectl("create", "-f", path, "-o", "json")
		var got struct {
			Status struct {
				Total, Remaining int64
				Count            int32
				Continue         string
				Results          []struct{ Name string }
				Objects          []struct {
					Spec struct{ Replicas int } `json:"spec"`
				}
				Conditions []struct{ Type, Status, Reason string }
			}
		}
		Expect(json.Unmarshal([]byte(out), &got)).To(Succeed())
		Expect(got.Status.Total).To(BeEquivalentTo(3))
		Expect(got.Status.Count).To(BeEquivalentTo(2))
		Expect(got.Status.Remaining).To(BeEquivalentTo(1))
		Expect(got.Status.Continue).NotTo(BeEmpty())
		Expect(got.Status.Results).To(HaveLen(2))
		Expect(got.Status.Results[0].Name).To(Equal("web-5"))
		Expect(got.Status.Objects).To(HaveLen(2))
		Expect(got.Status.Objects[1].Spec.Replicas).To(Equal(4))
		Expect(got.Status.Conditions).To(ContainElement(And(
			HaveField("Type", "Ready"), HaveField("Status", "True"), HaveField("Reason", "Succeeded"))))

		Expect(kubectl("create", "-f", path, "-o", "yaml")).To(ContainSubstring("total: 3"))
		_, err := kubectlErr("get", "searches.query.kubesift.io", "-n", ns)
		Expect(err).To(HaveOccurred(), "a Search is never stored, so it cannot be listed")
	})

	It("answers only callers who may list the target, with the usual 403", func() {
		out, err := readKubectl(reader, "get", "templates", "-n", ns, "-o", "name")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(out)).To(HaveLen(5))

		_, err = readKubectl(reader, "get", "templates", "-A")
		Expect(err).To(MatchError(ContainSubstring(
			`templates.apps.example.com is forbidden: User "e2e-read-reader" cannot list resource "templates" in API group "apps.example.com" at the cluster scope`)))

		_, err = readKubectl(nobody, "get", "templates", "-n", ns)
		Expect(err).To(MatchError(ContainSubstring(
			`User "e2e-read-nobody" cannot list resource "templates" in API group "apps.example.com" in the namespace "e2e-read"`)))

		search := fmt.Sprintf(`{"apiVersion":"query.kubesift.io/v1alpha1","kind":"Search","metadata":{"namespace":%q},
"spec":{"target":{"apiVersion":"apps.example.com/v1alpha1","kind":"Template"}}}`, ns)
		path := filepath.Join(workDir, "search-nobody.json")
		Expect(os.WriteFile(path, []byte(search), 0o600)).To(Succeed())
		ctx, cancel := context.WithTimeout(suiteCtx, kubectlTimeout)
		defer cancel()
		_, err = nobody.Kubectl(ctx, "create", "-f", path, "-o", "yaml")
		Expect(err).To(MatchError(ContainSubstring("forbidden")))
	})

	It("reports a kind that is not mirrored and bad input clearly", func() {
		// Only a caller who may list ConfigMaps learns that no ResourceIndex mirrors them.
		_, err := readKubectl(nil, "get", "configmaps", "-n", ns)
		Expect(err).To(MatchError(And(ContainSubstring("NotFound"),
			ContainSubstring("no ResourceIndex mirrors ConfigMap.v1; create one with spec.target {apiVersion: v1, kind: ConfigMap}"))))
		_, err = kubectlErr("get", "--raw", prefix+"/api/v1/namespaces/"+ns+"/configmaps")
		Expect(err).To(MatchError(ContainSubstring("no ResourceIndex mirrors ConfigMap.v1")))
		_, err = readKubectl(nobody, "get", "configmaps", "-n", ns)
		Expect(err).To(MatchError(ContainSubstring(
			`User "e2e-read-nobody" cannot list resource "configmaps" in API group "" in the namespace "e2e-read"`)))

		_, err = readKubectl(nil, "get", "templates", "-n", ns, "--field-selector", "spec.replicas in 3")
		Expect(err).To(MatchError(ContainSubstring("fieldSelector: position 17: expected '('")))
		_, err = readKubectl(nil, "get", "templates", "-n", ns, "--field-selector", "spec..replicas=3")
		Expect(err).To(MatchError(And(ContainSubstring("fieldSelector: position 0"), ContainSubstring("offset 5"))))
		_, err = kubectlErr("get", "--raw", prefix+"/apis/apps.example.com/v1alpha1/templates?continue=garbage")
		Expect(err).To(MatchError(ContainSubstring("continue")))
	})

	It("prints pages as a table with kubectl sift", func() {
		sift := func(args ...string) string {
			GinkgoHelper()
			ctx, cancel := context.WithTimeout(suiteCtx, kubectlTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, siftBin, append([]string{"--kubeconfig=" + cp.Kubeconfig()}, args...)...)
			out, err := cmd.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
			return string(out)
		}
		out := sift("templates", "-n", ns, "-l", "tier=frontend", "--where", "spec.replicas>1", "--sort=-spec.replicas", "--limit", "1")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		Expect(lines).To(HaveLen(3), out)
		Expect(lines[0]).To(MatchRegexp(`^NAME\s+AGE\s+SPEC.REPLICAS$`))
		Expect(lines[1]).To(MatchRegexp(`^web-5\s+\S+\s+5$`))
		Expect(lines[2]).To(MatchRegexp(`^1 of 2, 1 more: --continue \S+$`))
		fields := strings.Fields(lines[2])
		token := fields[len(fields)-1]

		out = sift("tpl", "-n", ns, "-l", "tier=frontend", "--where", "spec.replicas>1", "--sort=-spec.replicas", "--limit", "1", "--continue", token)
		Expect(strings.Split(strings.TrimSpace(out), "\n")).To(HaveExactElements(
			MatchRegexp(`^NAME\s+AGE\s+SPEC.REPLICAS$`), MatchRegexp(`^web-3\s+\S+\s+3$`), Equal("1 of 2")))

		Expect(sift("templates", "-A", "-l", "tier", "--where", "spec.replicas<=2", "-o", "name")).To(
			Equal("template.apps.example.com/web-1\ntemplate.apps.example.com/web-2\n"))
		out = sift("templates", "-A", "-l", "tier", "--where", "spec.replicas<=1")
		Expect(strings.Split(strings.TrimSpace(out), "\n")).To(HaveExactElements(
			MatchRegexp(`^NAMESPACE\s+NAME\s+AGE\s+SPEC.REPLICAS$`), MatchRegexp(`^e2e-read\s+web-1\s+\S+\s+1$`), Equal("1 of 1")))
		Expect(sift("templates", "-n", ns, "--where", "spec.replicas=2", "-o", "json")).To(
			And(ContainSubstring(`"kind": "List"`), ContainSubstring(`"name": "web-2"`)))
	})

	It("serves reads from a follower replica while the leader runs", func() {
		// Send the aggregator to the follower: its mirrors run although only the leader writes
		// status, so it answers the same lists and follows changes.
		kubectl("patch", "service", "kubesift-read-api", "-n", systemNS, "--type=json",
			"-p", fmt.Sprintf(`[{"op":"replace","path":"/spec/ports/0/port","value":%s}]`, followerPort))
		kubectl("patch", "apiservice", apiService, "--type=merge",
			"-p", fmt.Sprintf(`{"spec":{"service":{"port":%s}}}`, followerPort))
		kubectl("wait", "--for=condition=Available", "--timeout=90s", "apiservice/"+apiService)
		Eventually(func() (string, error) {
			return readKubectl(nil, "get", "templates", "-n", ns, "-l", "tier=frontend", "-o", "name")
		}).Should(Equal("template.apps.example.com/web-1\ntemplate.apps.example.com/web-3\ntemplate.apps.example.com/web-5\n"))

		kubectl("patch", "template", "web-1", "-n", ns, "--type=merge", "-p", `{"spec":{"replicas":9}}`)
		Eventually(func() (string, error) {
			return readKubectl(nil, "get", "templates", "-n", ns, "--field-selector", "spec.replicas>=9", "-o", "name")
		}).Should(Equal("template.apps.example.com/web-1\n"))

		// The roles held throughout: the leader took the lease, the replica that answered did not.
		leaderLog, err := os.ReadFile(leader.logPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(leaderLog)).To(ContainSubstring(`"msg":"Successfully acquired lease"`))
		followerLog, err := os.ReadFile(follower.logPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(followerLog)).To(ContainSubstring(`"msg":"Attempting to acquire leader lease..."`))
		Expect(string(followerLog)).NotTo(ContainSubstring("Successfully acquired lease"))
		Expect(leader.exited()).To(BeFalse(), "the leader must still run")
	})
})
