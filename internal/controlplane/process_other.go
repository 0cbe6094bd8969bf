//go:build !linux

package controlplane

import (
	"errors"
	"syscall"
	"time"
)

// childProcAttr returns no special attributes: only Linux can tie a child's life to its parent.
func childProcAttr() *syscall.SysProcAttr {
	return nil
}

// processCPU is not available: only Linux has /proc.
func processCPU(int) (time.Duration, error) {
	return 0, errors.New("a process's CPU time is read from /proc, which only Linux has")
}
