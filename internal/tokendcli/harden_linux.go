package tokendcli

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// harden keeps the daemon's memory, which holds refresh tokens, secrets and
// certificate keys, to itself: no core file is written if it crashes
// (RLIMIT_CORE 0), and it is not dumpable (PR_SET_DUMPABLE 0), so that
// another process of the same uid cannot attach to it (ptrace) nor read its
// /proc/PID/mem, environ or file descriptors. Root still can.
func harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("no core files: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_DUMPABLE: %w", err)
	}
	return nil
}
