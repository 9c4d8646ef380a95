//go:build linux

package pypeer

import "syscall"

// sysProcAttr puts the peer in its own process group (so that it and its
// children, e.g. prefork pool processes, can be signalled together) and has
// the kernel kill it if the test binary dies without running cleanups.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
