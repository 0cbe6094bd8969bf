package controlplane

import "syscall"

// childProcAttr puts a child in its own process group, so that a Ctrl-C in the terminal reaches
// only the parent, which then stops the children in order, and asks the kernel to kill the child
// if the parent dies without stopping it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
