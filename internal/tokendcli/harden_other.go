//go:build unix && !linux

package tokendcli

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// harden writes no core file if the daemon crashes (RLIMIT_CORE 0). macOS
// has no PR_SET_DUMPABLE; there, reading another process's memory
// (task_for_pid) needs root or a debugger's entitlement anyway.
func harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("no core files: %w", err)
	}
	return nil
}
