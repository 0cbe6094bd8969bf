package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubesift/kubesift/internal/controlplane"
)

// The README's commands, run as a user would, so that they cannot rot. `make test` is what CI
// runs; the others run here.

// makeTarget runs make in the repository with extra environment variables and returns its
// combined output.
func makeTarget(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

var _ = Describe("The README's commands", Ordered, func() {
	// A control plane of its own: make undeploy and make uninstall remove the CRDs that the
	// other specs rely on.
	var own *controlplane.ControlPlane
	var env []string

	BeforeAll(func() {
		var err error
		own, err = controlplane.Start(suiteCtx, controlplane.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(own.Stop)
		env = []string{"KUBECONFIG=" + own.Kubeconfig()}
	})

	ownKubectl := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(suiteCtx, kubectlTimeout)
		defer cancel()
		return own.Kubectl(ctx, args...)
	}

	It("installs the CRDs with make install", func() {
		out, err := makeTarget(suiteCtx, env, "install")
		Expect(err).NotTo(HaveOccurred(), out)
		_, err = ownKubectl("wait", "--for=condition=Established", "--timeout=60s",
			"crd/searchqueries.search.kubesift.io", "crd/clustersearchqueries.search.kubesift.io",
			"crd/resourceindices.search.kubesift.io")
		Expect(err).NotTo(HaveOccurred())
		policies, err := ownKubectl("get", "mutatingadmissionpolicybinding,validatingadmissionpolicybinding",
			"-o", "jsonpath={.items[*].spec.policyName}")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(policies)).To(ConsistOf("query-author", "query-access", "query-author-guard", "author-epoch-watch", "author-epoch-watch"))
	})

	It("runs the manager from the host with make run", func() {
		probe, metrics := freeAddr(), freeAddr()
		cmd := exec.Command("make", "run", fmt.Sprintf("RUN_ARGS=--health-probe-bind-address=%s --metrics-bind-address=%s", probe, metrics))
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		// Its own process group, so that the interrupt reaches make, go run and the manager, as a
		// Ctrl-C in a terminal does.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		Expect(cmd.Start()).To(Succeed())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		DeferCleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		})

		Eventually(func() (int, error) {
			resp, err := http.Get("http://" + probe + "/readyz")
			if err != nil {
				return 0, err
			}
			_ = resp.Body.Close()
			return resp.StatusCode, nil
		}, 5*time.Minute, time.Second).Should(Equal(http.StatusOK), func() string { return out.String() })

		Expect(syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)).To(Succeed())
		Eventually(done, 30*time.Second).Should(Receive(), func() string { return out.String() })
		Expect(out.String()).To(ContainSubstring("Manager stopped"))
	})

	It("deploys and removes the manager with make deploy and make undeploy", func() {
		if !own.HasControllerManager() {
			Skip("make undeploy waits for the namespace to be deleted, which takes kube-controller-manager (run make controlplane)")
		}
		out, err := makeTarget(suiteCtx, env, "deploy", "IMG=registry.example.com/kubesift:e2e")
		Expect(err).NotTo(HaveOccurred(), out)

		image, err := ownKubectl("get", "deployment", "kubesift-controller-manager", "-n", "kubesift-system",
			"-o", "jsonpath={.spec.template.spec.containers[0].image}")
		Expect(err).NotTo(HaveOccurred())
		Expect(image).To(Equal("registry.example.com/kubesift:e2e"))

		readOnly, err := ownKubectl("get", "deployment", "kubesift-controller-manager", "-n", "kubesift-system",
			"-o", "jsonpath={.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}")
		Expect(err).NotTo(HaveOccurred())
		Expect(readOnly).To(Equal("true"))

		selector, err := ownKubectl("get", "clusterrole", "kubesift-indexer-role",
			"-o", "jsonpath={.aggregationRule.clusterRoleSelectors[0].matchLabels}")
		Expect(err).NotTo(HaveOccurred())
		Expect(selector).To(ContainSubstring(`"search.kubesift.io/aggregate-to-indexer":"true"`))

		subject, err := ownKubectl("get", "clusterrolebinding", "kubesift-indexer-rolebinding",
			"-o", "jsonpath={.subjects[0].namespace}/{.subjects[0].name}")
		Expect(err).NotTo(HaveOccurred())
		Expect(subject).To(Equal("kubesift-system/kubesift-controller-manager"))

		By("installing the admission policies, cluster-scoped and named with the prefix")
		policies, err := ownKubectl("get", "mutatingadmissionpolicybinding,validatingadmissionpolicybinding",
			"-o", "jsonpath={.items[*].spec.policyName}")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(policies)).To(ContainElements("kubesift-query-author", "kubesift-query-access", "kubesift-query-author-guard"))
		_, err = ownKubectl("get", "mutatingadmissionpolicy", "kubesift-query-author")
		Expect(err).NotTo(HaveOccurred())
		By("naming the author epoch in the manager's namespace, as the manager's flags do")
		for _, b := range []string{"mutatingadmissionpolicybinding/kubesift-query-author", "validatingadmissionpolicybinding/kubesift-query-author-guard"} {
			paramRef, err := ownKubectl("get", b, "-o", "jsonpath={.spec.paramRef.namespace}/{.spec.paramRef.name}")
			Expect(err).NotTo(HaveOccurred())
			Expect(paramRef).To(Equal("kubesift-system/kubesift-author-epoch"), b)
		}
		args, err := ownKubectl("get", "deployment", "kubesift-controller-manager", "-n", "kubesift-system",
			"-o", "jsonpath={.spec.template.spec.containers[0].args}")
		Expect(err).NotTo(HaveOccurred())
		Expect(args).To(And(ContainSubstring("--author-epoch=kubesift-author-epoch"),
			ContainSubstring("--author-policy=kubesift-query-author"), ContainSubstring("--author-guard-policy=kubesift-query-author-guard")))

		// The manager is not granted everything: no rule of its own role names every resource.
		rules, err := ownKubectl("get", "clusterrole", "kubesift-manager-role", "-o", "jsonpath={.rules[*].resources}")
		Expect(err).NotTo(HaveOccurred())
		Expect(rules).NotTo(ContainSubstring(`"*"`))

		// kubectl delete waits for every object to be gone, the namespace included, which
		// kube-controller-manager's namespace controller empties and removes.
		ctx, cancel := context.WithTimeout(suiteCtx, 3*time.Minute)
		defer cancel()
		out, err = makeTarget(ctx, env, "undeploy", "ignore-not-found=true")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(ownKubectl("get", "namespace", "kubesift-system", "--ignore-not-found", "-o", "name")).To(BeEmpty())
		_, err = ownKubectl("get", "crd", "searchqueries.search.kubesift.io")
		Expect(err).To(HaveOccurred(), "make undeploy removes the CRDs too")
	})

	It("uninstalls the CRDs with make uninstall", func() {
		out, err := makeTarget(suiteCtx, env, "install")
		Expect(err).NotTo(HaveOccurred(), out)
		out, err = makeTarget(suiteCtx, env, "uninstall")
		Expect(err).NotTo(HaveOccurred(), out)
		names, err := ownKubectl("get", "crd", "-o", "name")
		Expect(err).NotTo(HaveOccurred())
		Expect(names).NotTo(ContainSubstring("kubesift.io"))
		policies, err := ownKubectl("get", "mutatingadmissionpolicybinding,validatingadmissionpolicybinding", "-o", "name")
		Expect(err).NotTo(HaveOccurred())
		Expect(policies).NotTo(ContainSubstring("query-"))
	})
})

var _ = Describe("make demo", func() {
	It("shows kubesift at work and cleans up after itself", func() {
		ctx, cancel := context.WithTimeout(suiteCtx, 15*time.Minute)
		defer cancel()
		// A second run must work too; a smaller object count keeps it short.
		for run, objects := range []string{"3000", "500"} {
			By(fmt.Sprintf("running make demo with DEMO_EXIT=1 and %s objects (run %d)", objects, run+1))
			out, err := makeTarget(ctx, []string{"DEMO_EXIT=1", "DEMO_OBJECTS=" + objects, "KUBECONFIG="}, "demo")
			Expect(err).NotTo(HaveOccurred(), out)
			for _, want := range []string{
				"Control plane ready at https://127.0.0.1:",
				"export KUBECONFIG=",
				"Created " + objects + " Template objects in 8 namespaces",
				"Every ResourceIndex is Ready",
				"frontends: ", "big-templates: ", "gateways: ", "not-ready: ",
				"Every query is Ready",
				"newest-payments-page-2",
				"status followed the change in",
				"MemberCluster demo-member is Ready",
				"Templates that are not Ready, in both clusters: ",
				"demo-member\tteam-000/",
				"DEMO_EXIT=1: cleaning up now.",
				"Stopping the manager ...",
				"Stopping the control plane and removing its directory ...",
			} {
				Expect(out).To(ContainSubstring(want))
			}
			n, err := strconv.Atoi(objects)
			Expect(err).NotTo(HaveOccurred())
			// The Templates ResourceIndex mirrors the member's 200 next to the local ones.
			Expect(out).To(MatchRegexp(`templates\s+demo-member\s+Synced\s+200\s+%d\n`, n+200))
			Expect(out).NotTo(ContainSubstring("demo failed"))
			// The kubeconfig the demo printed belonged to a directory it removed.
			for _, line := range strings.Split(out, "\n") {
				if path, ok := strings.CutPrefix(strings.TrimSpace(line), "export KUBECONFIG="); ok {
					_, err := os.Stat(path)
					Expect(os.IsNotExist(err)).To(BeTrue(), "the demo left %s behind", path)
				}
			}
		}
	})
})
