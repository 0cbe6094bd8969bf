package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// managerProcess is the kubesift manager binary running as a child process.
type managerProcess struct {
	cmd         *exec.Cmd
	done        chan error
	logPath     string
	metricsAddr string
	dir         string
}

// startManager runs the manager; readAPIAddr, when not empty, is where it serves the read API.
func startManager(ctx context.Context, bin string, cl *cluster, readAPIAddr string) (*managerProcess, error) {
	title("3. The kubesift manager")
	dir, err := os.MkdirTemp("", "kubesift-demo-")
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	probe, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--metrics-bind-address=" + metrics, "--health-probe-bind-address=" + probe}
	if cl.kubeconfig != "" {
		args = append(args, "--kubeconfig="+cl.kubeconfig)
	}
	if readAPIAddr != "" {
		args = append(args, "--read-api-bind-address="+readAPIAddr, "--read-api-namespace="+readAPINamespace)
	}
	logPath := filepath.Join(dir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches the demo, which stops the manager in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Printf("$ %s %v\n", filepath.Base(bin), args)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	m := &managerProcess{cmd: cmd, done: make(chan error, 1), logPath: logPath, metricsAddr: metrics, dir: dir}
	go func() { m.done <- cmd.Wait(); _ = logFile.Close() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-m.done:
			m.done <- err
			return nil, fmt.Errorf("the manager exited (%w); see %s", err, logPath)
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), m.stop())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("the manager did not become ready within a minute; see %s", logPath), m.stop())
		}
	}
	fmt.Printf("Manager ready (pid %d); metrics on http://%s/metrics, log in %s\n", cmd.Process.Pid, metrics, logPath)
	return m, nil
}

// stop sends SIGTERM, waits for a clean exit and removes the log directory.
func (m *managerProcess) stop() error {
	fmt.Println("Stopping the manager ...")
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-m.done:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		err = fmt.Errorf("the manager did not stop within 15s of SIGTERM: %w", <-m.done)
	}
	m.done <- err
	if err != nil {
		return fmt.Errorf("manager exit: %w (log kept in %s)", err, m.logPath)
	}
	return os.RemoveAll(m.dir)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}
