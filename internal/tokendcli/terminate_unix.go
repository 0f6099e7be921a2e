//go:build unix

package tokendcli

import "syscall"

// terminate asks the process pid to stop (SIGTERM: tokend shuts down
// gracefully).
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
