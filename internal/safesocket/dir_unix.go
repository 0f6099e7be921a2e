//go:build unix

package safesocket

import (
	"fmt"
	"os"
	"syscall"
)

// checkDir refuses a directory that someone else owns or could write to,
// and tightens one of ours that others could read or enter.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafe, dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: cannot read the owner of %s", ErrUnsafe, dir)
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%w: socket dir %s is owned by uid %d, not by you (uid %d): set TOKEND_SOCKET or daemon.socket to a path in a directory of your own", ErrUnsafe, dir, st.Uid, uid)
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return fmt.Errorf("%w: socket dir %s is writable by others (%v): check what is in it, then `chmod 700 %s`", ErrUnsafe, dir, perm, dir)
	}
	if perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("socket dir %s is readable by others (%v) and cannot be tightened: %w", dir, perm, err)
		}
	}
	return nil
}
