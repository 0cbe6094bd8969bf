package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubesift/kubesift/internal/admission"
)

// failureLogLines is how much of a manager log a failed spec prints.
const failureLogLines = 80

// kubectlTimeout bounds one kubectl call, so that a hung apiserver fails a spec instead of the
// whole run.
const kubectlTimeout = 90 * time.Second

// kubectl runs kubectl as the cluster admin, fails the spec if it fails, and returns its output.
func kubectl(args ...string) string {
	GinkgoHelper()
	out, err := kubectlErr(args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// kubectlErr runs kubectl as the cluster admin and returns its output and error.
func kubectlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(suiteCtx, kubectlTimeout)
	defer cancel()
	return cp.Kubectl(ctx, args...)
}

// kubectlStdin runs kubectl with stdin as its standard input and fails the spec if it fails.
func kubectlStdin(stdin string, args ...string) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(suiteCtx, kubectlTimeout)
	defer cancel()
	cmd := cp.KubectlCmd(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	Expect(err).NotTo(HaveOccurred(), "kubectl %s: %s", strings.Join(args, " "), stderr.String())
}

// apply applies YAML manifests with kubectl.
func apply(manifests string) {
	GinkgoHelper()
	kubectlStdin(manifests, "apply", "-f", "-")
}

// jsonPath returns a function for Eventually that reads one JSONPath of an object with kubectl.
// args name the object, for example "sq", "q1", "-n", "ns".
func jsonPath(path string, args ...string) func() (string, error) {
	return func() (string, error) {
		return kubectlErr(append(append([]string{"get"}, args...), "-o", "jsonpath="+path)...)
	}
}

// createNamespace creates a namespace for one container of specs.
func createNamespace(name string) {
	GinkgoHelper()
	kubectl("create", "namespace", name)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// managerProcess is the manager binary running as a child process against the control plane.
type managerProcess struct {
	name        string
	logPath     string
	metricsAddr string
	probeAddr   string
	cmd         *exec.Cmd
	done        chan struct{}
	waitErr     error     // valid after done is closed
	exitedAt    time.Time // valid after done is closed
}

var (
	managersMu sync.Mutex
	// managers are every manager the suite started, for log dumps and cleanup.
	managers []*managerProcess
)

// startManager starts the manager with the admin kubeconfig, free metrics and probe ports and
// the extra flags, logging to name.log in the work directory, and waits until it is ready.
func startManager(name string, extraArgs ...string) *managerProcess {
	GinkgoHelper()
	return startManagerAs(name, cp.Kubeconfig(), extraArgs...)
}

// startManagerAs is startManager with the credentials of another kubeconfig.
func startManagerAs(name, kubeconfig string, extraArgs ...string) *managerProcess {
	GinkgoHelper()
	m := &managerProcess{
		name:        name,
		logPath:     filepath.Join(workDir, name+".log"),
		metricsAddr: freeAddr(),
		probeAddr:   freeAddr(),
		done:        make(chan struct{}),
	}
	log, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	Expect(err).NotTo(HaveOccurred())
	args := append([]string{
		"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=" + m.metricsAddr,
		"--health-probe-bind-address=" + m.probeAddr,
	}, extraArgs...)
	_, _ = fmt.Fprintf(log, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339), managerBin, strings.Join(args, " "))
	m.cmd = exec.Command(managerBin, args...)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	m.cmd.Env = append(os.Environ(), "KUBECONFIG=")
	Expect(m.cmd.Start()).To(Succeed())
	go func() {
		m.waitErr = m.cmd.Wait()
		m.exitedAt = time.Now()
		_ = log.Close()
		close(m.done)
	}()
	managersMu.Lock()
	managers = append(managers, m)
	managersMu.Unlock()

	Eventually(func() error {
		if m.exited() {
			return StopTrying(fmt.Sprintf("the manager exited: %v", m.waitErr))
		}
		return m.probe("/readyz")
	}).Should(Succeed(), "the manager did not become ready")
	return m
}

// exited reports whether the process has ended.
func (m *managerProcess) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// probe fails unless GET path on the probe address answers 200.
func (m *managerProcess) probe(path string) error {
	_, err := httpGet("http://" + m.probeAddr + path)
	return err
}

// metrics returns the body of /metrics.
func (m *managerProcess) metrics() (string, error) {
	return httpGet("http://" + m.metricsAddr + "/metrics")
}

// stop sends SIGTERM and waits for the process to exit, killing it after timeout. It returns
// the exit code (-1 when killed) and how long the exit took.
func (m *managerProcess) stop(timeout time.Duration) (int, time.Duration) {
	if m.exited() {
		return m.cmd.ProcessState.ExitCode(), 0
	}
	start := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintf(GinkgoWriter, "Sending SIGTERM to %s: %v\n", m.name, err)
	}
	select {
	case <-m.done:
	case <-time.After(timeout):
		_ = m.cmd.Process.Kill()
		<-m.done
		return -1, time.Since(start)
	}
	return m.cmd.ProcessState.ExitCode(), time.Since(start)
}

// stopAllManagers stops every manager that still runs.
func stopAllManagers() {
	managersMu.Lock()
	defer managersMu.Unlock()
	for _, m := range managers {
		m.stop(20 * time.Second)
	}
}

// managersRunningSince returns the managers that ran at some point after t.
func managersRunningSince(t time.Time) []*managerProcess {
	managersMu.Lock()
	defer managersMu.Unlock()
	var ms []*managerProcess
	for _, m := range managers {
		if !m.exited() || m.exitedAt.After(t) {
			ms = append(ms, m)
		}
	}
	return ms
}

func httpGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(suiteCtx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// waitForAdmissionPolicies waits until the API server records the author of a new query in the
// current author epoch, which it starts doing a moment after the policies and the epoch are
// created: a query created before would never be answered. It probes with a server-side dry run,
// which stores nothing.
func waitForAdmissionPolicies() {
	GinkgoHelper()
	probe := `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata: {name: admission-probe, namespace: default}
spec:
  target: {apiVersion: admission-probe.kubesift.io/v1, kind: Probe}
`
	Eventually(func(g Gomega) {
		epoch := currentAuthorEpoch()
		g.Expect(epoch).NotTo(BeEmpty(), "no author epoch")
		ctx, cancel := context.WithTimeout(suiteCtx, kubectlTimeout)
		defer cancel()
		cmd := cp.KubectlCmd(ctx, "create", "--dry-run=server", "-f", "-", "-o",
			`jsonpath={.metadata.annotations.search\.kubesift\.io/author}|{.metadata.annotations.search\.kubesift\.io/author-epoch}`)
		cmd.Stdin = strings.NewReader(probe)
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, exit.Stderr)
		}
		g.Expect(err).NotTo(HaveOccurred())
		author, got, _ := strings.Cut(string(out), "|")
		g.Expect(author).NotTo(BeEmpty(), "the admission policies do not record the author of new queries")
		g.Expect(got).To(Equal(epoch), "the admission policies do not record the current author epoch")
	}).Should(Succeed())
}

// currentAuthorEpoch returns the UID of the author epoch ConfigMap, or "" when there is none.
func currentAuthorEpoch() string {
	out, err := kubectlErr("get", "configmap", admission.PlainEpoch.Name, "-n", admission.PlainEpoch.Namespace,
		"--ignore-not-found", "-o", "jsonpath={.metadata.uid}")
	if err != nil {
		return ""
	}
	return out
}
