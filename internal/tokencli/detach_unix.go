//go:build unix

package tokencli

import (
	"os/exec"
	"syscall"
)

// detach makes cmd a session of its own, so that it outlives token and its
// terminal (no SIGHUP when the terminal closes, no Ctrl-C of token's).
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
