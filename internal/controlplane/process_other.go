//go:build !linux

package controlplane

import "syscall"

// childProcAttr returns no special attributes: only Linux can tie a child's life to its parent.
func childProcAttr() *syscall.SysProcAttr {
	return nil
}
