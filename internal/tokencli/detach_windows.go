package tokencli

import (
	"os/exec"
	"syscall"
)

// detachedProcess (DETACHED_PROCESS) starts a console program without a
// console.
const detachedProcess = 0x00000008

// detach starts cmd without token's console and outside its process
// group, so that it outlives token and its window (and Ctrl-C there).
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP | detachedProcess, HideWindow: true}
}
