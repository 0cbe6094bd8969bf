package e2e

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Manager smoke test", Ordered, Label("smoke"), func() {
	var manager *managerProcess

	AfterAll(func() {
		stopAllManagers()
	})

	It("has the CRDs installed and Established", func() {
		out := kubectl("get", "-f", filepath.Join(repoRoot, "config", "crd", "bases"),
			"-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\n"}{end}`)
		Expect(out).To(And(
			ContainSubstring("resourceindices.search.kubesift.io=True"),
			ContainSubstring("searchqueries.search.kubesift.io=True"),
			ContainSubstring("clustersearchqueries.search.kubesift.io=True"),
			ContainSubstring("memberclusters.search.kubesift.io=True"),
		))

		By("listing the kinds through their short names and category")
		for _, name := range []string{"ri", "sq", "csq", "smc", "kubesift"} {
			kubectl("get", name, "--all-namespaces")
		}
	})

	It("starts and serves /healthz, /readyz and /metrics", func() {
		manager = startManager("smoke")
		Expect(manager.probe("/healthz")).To(Succeed())
		Expect(manager.probe("/readyz")).To(Succeed())
		Eventually(manager.metrics).Should(ContainSubstring("controller_runtime_"))
	})

	It("exits with code 0 within a few seconds of SIGTERM", func() {
		code, took := manager.stop(30 * time.Second)
		Expect(code).To(Equal(0), "exit code")
		Expect(took).To(BeNumerically("<", 10*time.Second), "time to exit after SIGTERM")
	})
})
