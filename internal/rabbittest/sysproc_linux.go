//go:build linux

package rabbittest

import "syscall"

// sysProcAttr puts the process in a group of its own (Close kills the
// node's whole tree), makes the kernel kill it if the test binary dies
// without running its cleanups, and runs it as cred when not nil.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}
