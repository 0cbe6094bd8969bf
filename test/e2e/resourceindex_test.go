package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// sampleTemplateCRD is the sample CRD the demo and the benchmarks use; testdata holds a stand-in
// for checkouts that lack it.
const sampleTemplateCRD = "config/samples/crds/apps.example.com_templates.yaml"

// The ResourceIndex specs check that the mirror follows the cluster through failures: an
// apiserver restart under a running manager, and a manager restart with a file index while
// objects change.
var _ = Describe("ResourceIndex", Ordered, Label("resourceindex"), func() {
	const ns = "e2e-ri"
	var (
		manager   *managerProcess
		indexPath string
		// teams is the cluster's state: Template name to its spec.team.
		teams = map[string]string{}
	)

	// expectMirrored waits until the index holds exactly the Templates in teams: the query "all"
	// lists them, the query "team-a" lists those of team a, and objectCount and the
	// kubesift_index_objects metric count them.
	expectMirrored := func() {
		GinkgoHelper()
		var all, teamA []string
		for name, team := range teams {
			all = append(all, name)
			if team == "a" {
				teamA = append(teamA, name)
			}
		}
		slices.Sort(all)
		slices.Sort(teamA)
		Eventually(jsonPath("{.status.results[*].name}", "sq", "all", "-n", ns)).Should(Equal(strings.Join(all, " ")))
		Eventually(jsonPath("{.status.total} {.status.results[*].name}", "sq", "team-a", "-n", ns)).
			Should(Equal(strings.TrimSpace(fmt.Sprintf("%d %s", len(teamA), strings.Join(teamA, " ")))))
		Eventually(jsonPath("{.status.objectCount}", "ri", "templates")).Should(Equal(fmt.Sprint(len(all))))
		Eventually(manager.metrics).Should(ContainSubstring(
			`kubesift_index_objects{group="apps.example.com",kind="Template",version="v1alpha1"} %d`, len(all)))
	}
	createTemplate := func(name, team string, replicas int) {
		GinkgoHelper()
		apply(template(ns, name, team, replicas))
		teams[name] = team
	}
	setTeam := func(name, team string) {
		GinkgoHelper()
		kubectl("patch", "template", name, "-n", ns, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"team":%q}}`, team))
		teams[name] = team
	}
	deleteTemplate := func(name string) {
		GinkgoHelper()
		kubectl("delete", "template", name, "-n", ns)
		delete(teams, name)
	}

	BeforeAll(func() {
		crd := filepath.Join(repoRoot, sampleTemplateCRD)
		if _, err := os.Stat(crd); err != nil {
			crd = filepath.Join("testdata", "templates.apps.example.com.yaml")
		}
		kubectl("apply", "--server-side", "-f", crd)
		kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/templates.apps.example.com")
		createNamespace(ns)

		indexPath = filepath.Join(workDir, "index.db")
		manager = startManager("resourceindex", "--index-path="+indexPath)
	})

	AfterAll(func() {
		// Delete while the manager runs, so that it removes its finalizers.
		_, _ = kubectlErr("delete", "sq", "--all", "-n", ns, "--wait", "--timeout=60s")
		_, _ = kubectlErr("delete", "ri", "templates", "--wait", "--timeout=60s")
		stopAllManagers()
	})

	It("mirrors the target kind and reports Ready and objectCount", func() {
		createTemplate("t-1", "a", 1)
		createTemplate("t-2", "a", 2)
		createTemplate("t-3", "b", 3)
		apply(`
apiVersion: search.kubesift.io/v1alpha1
kind: ResourceIndex
metadata:
  name: templates
spec:
  target:
    apiVersion: apps.example.com/v1alpha1
    kind: Template
  fields: ["spec.team", "spec.replicas"]
`)
		kubectl("wait", "--for=condition=Ready", "ri/templates", "--timeout=60s")
		Expect(kubectl("get", "ri", "templates", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)).To(Equal("Synced"))

		apply(templateQuery(ns, "all", ""))
		apply(templateQuery(ns, "team-a", "a"))
		kubectl("wait", "--for=condition=Ready", "sq/all", "sq/team-a", "-n", ns, "--timeout=60s")
		expectMirrored()
	})

	It("recovers from an apiserver restart without restarting itself", func() {
		pid := manager.cmd.Process.Pid
		Expect(cp.RestartAPIServer(suiteCtx)).To(Succeed())

		createTemplate("t-4", "a", 4)
		createTemplate("t-5", "b", 5)
		setTeam("t-1", "b")
		deleteTemplate("t-2")
		expectMirrored()

		Expect(manager.exited()).To(BeFalse(), "the manager exited")
		Expect(manager.cmd.Process.Pid).To(Equal(pid))
		Expect(manager.probe("/readyz")).To(Succeed())
		Expect(kubectl("get", "ri", "templates", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("True"))
	})

	It("rebuilds a file index that missed changes while the manager was down", func() {
		By("holding a second page of the Templates across the restart")
		apply(pagedTemplateQuery(ns, ""))
		kubectl("wait", "--for=condition=Ready", "sq/paged", "-n", ns, "--timeout=60s")
		Expect(kubectl("get", "sq", "paged", "-n", ns, "-o", "jsonpath={.status.results[*].name}")).To(Equal("t-1 t-3"))
		apply(pagedTemplateQuery(ns, kubectl("get", "sq", "paged", "-n", ns, "-o", "jsonpath={.status.continue}")))
		Eventually(jsonPath("{.status.results[*].name}", "sq", "paged", "-n", ns)).Should(Equal("t-4 t-5"))

		code, _ := manager.stop(30 * time.Second)
		Expect(code).To(Equal(0), "exit code after SIGTERM")
		info, err := os.Stat(indexPath)
		Expect(err).NotTo(HaveOccurred(), "the index file")
		Expect(info.Size()).To(BeNumerically(">", 0))

		// While the manager is down: one object appears, one changes, one goes away, and one goes
		// away and comes back under the same name with other content.
		createTemplate("t-6", "a", 6)
		setTeam("t-3", "a")
		deleteTemplate("t-4")
		deleteTemplate("t-5")
		createTemplate("t-5", "a", 50)

		manager = startManager("resourceindex-restarted", "--index-path="+indexPath)
		expectMirrored()
		Expect(kubectl("get", "sq", "team-a", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("True"))

		By("continuing the second page with a token from before the restart")
		Eventually(jsonPath("{.status.results[*].name} {.status.remaining}", "sq", "paged", "-n", ns)).Should(Equal("t-5 t-6 0"))
		Expect(kubectl("get", "sq", "paged", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("True"))
	})
})

// template returns the manifest of a Template.
func template(ns, name, team string, replicas int) string {
	return fmt.Sprintf(`
apiVersion: apps.example.com/v1alpha1
kind: Template
metadata:
  name: %s
  namespace: %s
spec:
  team: %s
  replicas: %d
  image: registry.example.com/%s/app:1.0.0
`, name, ns, team, replicas, team)
}

// templateQuery returns the manifest of a SearchQuery for Templates; a non-empty team keeps only
// that team's.
func templateQuery(ns, name, team string) string {
	filter := ""
	if team != "" {
		filter = fmt.Sprintf(`
  fields:
  - path: spec.team
    operator: Equals
    values: [%q]`, team)
	}
	return fmt.Sprintf(`
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: %s
  namespace: %s
spec:
  target:
    apiVersion: apps.example.com/v1alpha1
    kind: Template%s
`, name, ns, filter)
}

// pagedTemplateQuery returns the manifest of the SearchQuery "paged": every Template, two per
// page in name order, from the page that continueToken names.
func pagedTemplateQuery(ns, continueToken string) string {
	return fmt.Sprintf(`
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: paged
  namespace: %s
spec:
  target:
    apiVersion: apps.example.com/v1alpha1
    kind: Template
  sort:
  - path: metadata.name
  limit: 2
  continue: %q
`, ns, continueToken)
}
