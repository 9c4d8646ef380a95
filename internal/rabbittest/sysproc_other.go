//go:build !linux

package rabbittest

import "syscall"

// sysProcAttr puts the process in a group of its own (Close kills the
// node's whole tree) and runs it as cred when not nil.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}
