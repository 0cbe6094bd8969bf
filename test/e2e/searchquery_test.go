package e2e

import (
	"fmt"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The SearchQuery specs drive the manager the way a user does: kubectl apply, wait, get and
// jsonpath, against a kind of the suite's own (Widget).
var _ = Describe("SearchQuery with kubectl", Ordered, Label("searchquery"), func() {
	const ns = "e2e-sq"

	BeforeAll(func() {
		kubectl("apply", "--server-side", "-f", filepath.Join("testdata", "widgets.e2e.kubesift.io.yaml"))
		kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.e2e.kubesift.io")
		createNamespace(ns)
		for i := 1; i <= 5; i++ {
			apply(widget(ns, fmt.Sprintf("w-%d", i), i, map[bool]string{true: "red", false: "blue"}[i%2 == 1]))
		}

		startManager("searchquery")
		apply(`
apiVersion: search.kubesift.io/v1alpha1
kind: ResourceIndex
metadata:
  name: widgets
spec:
  target:
    apiVersion: e2e.kubesift.io/v1
    kind: Widget
  fields: ["spec.size"]
`)
		kubectl("wait", "--for=condition=Ready", "ri/widgets", "--timeout=60s")
	})

	AfterAll(func() {
		// Delete while the manager runs, so that it removes its finalizers.
		_, _ = kubectlErr("delete", "sq", "--all", "-n", ns, "--wait", "--timeout=60s")
		_, _ = kubectlErr("delete", "ri", "widgets", "--wait", "--timeout=60s")
		stopAllManagers()
	})

	It("answers a query applied with kubectl", func() {
		apply(bigWidgetsQuery(ns, ""))
		kubectl("wait", "--for=condition=Ready", "sq/big", "-n", ns, "--timeout=60s")

		Expect(kubectl("get", "sq", "big", "-n", ns, "-o", "jsonpath={.status.results[*].name}")).To(Equal("w-2 w-3"))
		Expect(kubectl("get", "sq", "big", "-n", ns, "-o", "jsonpath={.status.total} {.status.count} {.status.remaining}")).To(Equal("4 2 2"))
		Expect(kubectl("get", "sq", "big", "-n", ns, "-o", "jsonpath={.status.continue}")).NotTo(BeEmpty())
	})

	It("prints TARGET, TOTAL, READY and AGE, and COUNT and REMAINING with -o wide", func() {
		table := kubectl("get", "sq", "big", "-n", ns)
		Expect(fields(line(table, 0))).To(Equal([]string{"NAME", "TARGET", "TOTAL", "READY", "AGE"}))
		Expect(fields(line(table, 1))[:4]).To(Equal([]string{"big", "Widget", "4", "True"}))

		wide := kubectl("get", "sq", "big", "-n", ns, "-o", "wide")
		header := fields(line(wide, 0))
		Expect(header).To(ContainElements("TARGET", "TOTAL", "COUNT", "REMAINING", "READY", "AGE"))
		row := fields(line(wide, 1))
		Expect(row).To(HaveLen(len(header)))
		Expect(row[indexOf(header, "COUNT")]).To(Equal("2"))
		Expect(row[indexOf(header, "REMAINING")]).To(Equal("2"))

		By("listing the query among all kubesift objects by category")
		Expect(kubectl("get", "kubesift", "-n", ns, "-o", "name")).To(ContainSubstring("searchquery.search.kubesift.io/big"))
	})

	It("shows changes of target objects in the status", func() {
		By("growing w-1 into the results")
		kubectl("patch", "widget", "w-1", "-n", ns, "--type=merge", "-p", `{"spec":{"size":10}}`)
		Eventually(jsonPath("{.status.total} {.status.results[*].name}", "sq", "big", "-n", ns)).Should(Equal("5 w-1 w-2"))
		rv := kubectl("get", "widget", "w-1", "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}")
		Eventually(jsonPath(`{.status.results[?(@.name=="w-1")].resourceVersion}`, "sq", "big", "-n", ns)).Should(Equal(rv))

		By("deleting w-2")
		kubectl("delete", "widget", "w-2", "-n", ns)
		Eventually(jsonPath("{.status.total} {.status.results[*].name}", "sq", "big", "-n", ns)).Should(Equal("4 w-1 w-3"))

		By("creating w-0, which sorts first")
		apply(widget(ns, "w-0", 7, "green"))
		Eventually(jsonPath("{.status.total} {.status.results[*].name}", "sq", "big", "-n", ns)).Should(Equal("5 w-0 w-1"))
		Expect(kubectl("get", "sq", "big", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("True"))
	})

	It("serves the next page when status.continue is copied into spec.continue", func() {
		// Current matches by name: w-0 w-1 w-3 w-4 w-5; pages of two.
		token := kubectl("get", "sq", "big", "-n", ns, "-o", "jsonpath={.status.continue}")
		Expect(token).NotTo(BeEmpty())
		apply(bigWidgetsQuery(ns, token))
		Eventually(jsonPath("{.status.observedGeneration} {.status.results[*].name}", "sq", "big", "-n", ns)).Should(Equal("2 w-3 w-4"))
		Expect(kubectl("get", "sq", "big", "-n", ns, "-o", "jsonpath={.status.total} {.status.count} {.status.remaining}")).To(Equal("5 2 1"))

		token = kubectl("get", "sq", "big", "-n", ns, "-o", "jsonpath={.status.continue}")
		Expect(token).NotTo(BeEmpty())
		apply(bigWidgetsQuery(ns, token))
		Eventually(jsonPath("{.status.observedGeneration} {.status.results[*].name}", "sq", "big", "-n", ns)).Should(Equal("3 w-5"))
		Expect(kubectl("get", "sq", "big", "-n", ns, "-o", "jsonpath={.status.remaining}|{.status.continue}")).To(Equal("0|"))
	})

	It("reports a query it cannot evaluate as Stalled, with the reason on Ready", func() {
		apply(fmt.Sprintf(`
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: broken
  namespace: %s
spec:
  target: {apiVersion: e2e.kubesift.io/v1, kind: Widget}
  fields:
  - {path: "spec..size", operator: Equals, values: ["1"]}
`, ns))
		kubectl("wait", `--for=jsonpath={.status.conditions[?(@.type=="Stalled")].status}=True`, "sq/broken", "-n", ns, "--timeout=60s")
		Expect(kubectl("get", "sq", "broken", "-n", ns, "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}`)).
			To(Equal("False/InvalidQuery"))
	})

	It("counts matches by value in status.facets, and a change moves a count", func() {
		// Widgets of size 1 of their own, so that the other specs' queries do not see them.
		for i, color := range []string{"red", "red", "blue", "green"} {
			apply(fmt.Sprintf(`
apiVersion: e2e.kubesift.io/v1
kind: Widget
metadata:
  name: f-%d
  namespace: %s
  labels: {group: facets}
spec:
  size: 1
  color: %s
`, i, ns, color))
		}
		apply(fmt.Sprintf(`
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: colors
  namespace: %s
spec:
  target: {apiVersion: e2e.kubesift.io/v1, kind: Widget}
  labelSelector: {matchLabels: {group: facets}}
  limit: 1
  facets:
  - path: spec.color
    limit: 2
`, ns))
		kubectl("wait", "--for=condition=Ready", "sq/colors", "-n", ns, "--timeout=60s")
		counts := `{.status.total}:{range .status.facets[0].values[*]}{.value}={.count},{end}other={.status.facets[0].other}`
		Eventually(jsonPath(counts, "sq", "colors", "-n", ns)).Should(Equal("4:red=2,blue=1,other=1"))

		kubectl("patch", "widget", "f-3", "-n", ns, "--type=merge", "-p", `{"spec":{"color":"blue"}}`)
		Eventually(jsonPath(counts, "sq", "colors", "-n", ns)).Should(Equal("4:blue=2,red=2,other=0"))
	})
})

// widget returns the manifest of a Widget.
func widget(ns, name string, size int, color string) string {
	return fmt.Sprintf(`
apiVersion: e2e.kubesift.io/v1
kind: Widget
metadata:
  name: %s
  namespace: %s
spec:
  size: %d
  color: %s
`, name, ns, size, color)
}

// bigWidgetsQuery returns the manifest of the SearchQuery "big": widgets of size 2 or more, two
// per page, in name order.
func bigWidgetsQuery(ns, continueToken string) string {
	return fmt.Sprintf(`
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata:
  name: big
  namespace: %s
spec:
  target:
    apiVersion: e2e.kubesift.io/v1
    kind: Widget
  fields:
  - path: spec.size
    operator: GreaterThanOrEqual
    values: ["2"]
  sort:
  - path: metadata.name
  limit: 2
  continue: %q
`, ns, continueToken)
}

// line returns line i of kubectl's table output.
func line(table string, i int) string {
	GinkgoHelper()
	lines := strings.Split(strings.TrimSpace(table), "\n")
	Expect(len(lines)).To(BeNumerically(">", i), "kubectl output:\n%s", table)
	return lines[i]
}

func fields(s string) []string { return strings.Fields(s) }

func indexOf(list []string, s string) int {
	GinkgoHelper()
	for i, v := range list {
		if v == s {
			return i
		}
	}
	Fail(fmt.Sprintf("%q not in %v", s, list))
	return -1
}
