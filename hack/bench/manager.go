package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// manager is a running kubesift manager binary.
type manager struct {
	cmd             *exec.Cmd
	metricsURL      string
	readyURL        string
	logPath         string
	exited          chan struct{}
	waitErr         error
	requeryInterval time.Duration
}

// startManager runs the manager binary against the control plane with the admin kubeconfig and
// an in-memory index, or an index in the file indexPath, and waits until it is ready. With
// readAPIAddr it also serves the read API there (see registerReadAPI).
func startManager(ctx context.Context, c *cluster, o options, indexPath, readAPIAddr string) (*manager, error) {
	bin, err := filepath.Abs(o.manager)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", o.manager, err)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the manager binary (make build): %w", err)
	}
	m := &manager{exited: make(chan struct{}), logPath: filepath.Join(c.cp.Dir(), "manager.log")}
	if m.requeryInterval = o.requeryInterval; m.requeryInterval == 0 {
		if m.requeryInterval, err = defaultRequeryInterval(ctx, bin); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	probeAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	m.metricsURL, m.readyURL = "http://"+metricsAddr+"/metrics", "http://"+probeAddr+"/readyz"

	logFile, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the manager log: %w", err)
	}
	defer func() { _ = logFile.Close() }()
	args := []string{
		"--kubeconfig", c.cp.Kubeconfig(),
		"--metrics-bind-address", metricsAddr,
		"--health-probe-bind-address", probeAddr,
		"--requery-interval", m.requeryInterval.String(),
	}
	if indexPath != "" {
		args = append(args, "--index-path", indexPath)
	}
	if readAPIAddr != "" {
		args = append(args, "--read-api-bind-address", readAPIAddr, "--read-api-namespace", readAPINamespace)
	}
	m.cmd = exec.CommandContext(ctx, bin, args...)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.cmd.Cancel = func() error { return m.cmd.Process.Signal(syscall.SIGTERM) }
	m.cmd.WaitDelay = 15 * time.Second
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	go func() {
		m.waitErr = m.cmd.Wait()
		close(m.exited)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := httpGet(ctx, m.readyURL, io.Discard); err == nil {
			break
		}
		select {
		case <-m.exited:
			return nil, fmt.Errorf("the manager exited (%w); see %s", m.waitErr, m.logPath)
		case <-ctx.Done():
			m.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("the manager was not ready within a minute; see %s", m.logPath)
		}
	}
	logf("  manager running (pid %d, requery interval %s, log %s)", m.cmd.Process.Pid, m.requeryInterval, m.logPath)
	return m, nil
}

// requeryDefault finds the default of --requery-interval in the manager's usage text.
var requeryDefault = regexp.MustCompile(`(?s)-requery-interval duration.*?\(default ([^)]+)\)`)

// defaultRequeryInterval asks the manager binary for the default of --requery-interval.
func defaultRequeryInterval(ctx context.Context, bin string) (time.Duration, error) {
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput() // -h exits non-zero
	m := requeryDefault.FindSubmatch(out)
	if m == nil {
		return 0, errors.New("the manager's usage does not show the default --requery-interval")
	}
	d, err := time.ParseDuration(string(m[1]))
	if err != nil {
		return 0, fmt.Errorf("the manager's default --requery-interval: %w", err)
	}
	return d, nil
}

// stop terminates the manager and waits for it to exit.
func (m *manager) stop() {
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// metrics is a scrape of a Prometheus text endpoint.
type metrics []metricSample

type metricSample struct {
	name, labels string
	value        float64
}

// get returns the sum of the series called name whose labels contain every one of match
// (such as `kind="Template"`).
func (ms metrics) get(name string, match ...string) float64 {
	sum := 0.0
	for _, s := range ms {
		if s.name != name {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(s.labels, m)
		}
		if ok {
			sum += s.value
		}
	}
	return sum
}

// scrape reads the manager's /metrics.
func (m *manager) scrape(ctx context.Context) (metrics, error) {
	var b strings.Builder
	if err := httpGet(ctx, m.metricsURL, &b); err != nil {
		return nil, fmt.Errorf("scraping the manager's metrics: %w", err)
	}
	var out metrics
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		name, labels, _ := strings.Cut(series, "{")
		out = append(out, metricSample{name: name, labels: labels, value: v})
	}
	return out, sc.Err()
}

// httpGet copies the body of a 200 response to w.
func httpGet(ctx context.Context, url string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
