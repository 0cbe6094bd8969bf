package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is how long a child process gets to exit after SIGTERM before it is killed.
const stopTimeout = 15 * time.Second

// logTailLines is how many lines of a process log an error message quotes.
const logTailLines = 30

// process is one child process (etcd or kube-apiserver) whose output goes to a log file. It can
// be started again after it stopped, with the same arguments.
type process struct {
	name    string
	path    string
	args    []string
	logPath string

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
}

// start launches the process. Earlier output in the log file is kept, so that the log of a
// restarted process still shows why the previous run ended.
func (p *process) start() error {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the %s log: %w", p.name, err)
	}
	_, _ = fmt.Fprintf(log, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339), p.path, strings.Join(p.args, " "))

	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	done := p.done
	go func() {
		err := cmd.Wait()
		_ = log.Close()
		p.waitErr = err
		close(done)
	}()
	return nil
}

// running reports whether the process was started and has not exited.
func (p *process) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitError returns how the process ended, or nil while it runs.
func (p *process) exitError() error {
	if p.running() || p.done == nil {
		return nil
	}
	if p.waitErr == nil {
		return fmt.Errorf("%s exited with code 0", p.name)
	}
	return fmt.Errorf("%s exited: %w", p.name, p.waitErr)
}

// stop sends SIGTERM, waits up to stopTimeout and then kills the process. Stopping a process that
// is not running does nothing.
func (p *process) stop() error {
	if !p.running() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGTERM to %s: %w", p.name, err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing %s: %w", p.name, err)
	}
	<-p.done
	return fmt.Errorf("%s did not exit within %s of SIGTERM and was killed", p.name, stopTimeout)
}

// waitFor polls check until it succeeds. It fails when ctx ends, when timeout passes or when the
// process exits; the error then quotes the end of the process log.
func (p *process) waitFor(ctx context.Context, timeout time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	var lastErr error
	for {
		if lastErr = check(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w before %s; last %d lines of %s:\n%s",
				p.exitError(), what, logTailLines, p.logPath, tailFile(p.logPath, logTailLines))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last check: %w); last %d lines of %s:\n%s",
				what, ctx.Err(), lastErr, logTailLines, p.logPath, tailFile(p.logPath, logTailLines))
		case <-ticker.C:
		}
	}
}

// tailFile returns the last n lines of the file at path, or a note saying why it cannot.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer func() { _ = f.Close() }()
	const maxTail = 64 << 10
	if info, err := f.Stat(); err == nil && info.Size() > maxTail {
		if _, err := f.Seek(-maxTail, io.SeekEnd); err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return lastLines(data, n)
}

// lastLines returns the last n lines of data, without a trailing newline.
func lastLines(data []byte, n int) string {
	data = bytes.TrimRight(data, "\n")
	if n <= 0 || len(data) == 0 {
		return ""
	}
	idx := len(data)
	for range n {
		i := bytes.LastIndexByte(data[:idx], '\n')
		if i < 0 {
			return string(data)
		}
		idx = i
	}
	return string(data[idx+1:])
}
