//go:build unix

package safesocket

import (
	"fmt"
	"os"
	"syscall"
)

// checkDir refuses a directory that someone else owns or could write to.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("socket dir %s is owned by uid %d, not by you: refusing to use it", dir, st.Uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("socket dir %s is accessible to others (%v) and cannot be fixed: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return nil
}
