package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel stop a server when the test process ends
// without its cleanups (a timeout, a kill), so that none is left behind.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
