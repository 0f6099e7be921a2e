//go:build unix

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir, so that one process at a time
// writes refresh tokens there.
func lockDir(dir string) (func() error, error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if errors.Is(err, syscall.EROFS) {
		// A read-only state directory still serves the sign-ins in it
		// (writes fail with the fix); flock works on a read-only file.
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock secrets dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another tokend is using %s (stop it, or give this one its own TOKEND_STATE_DIR)", dir)
		}
		return nil, fmt.Errorf("lock secrets dir: %w", err)
	}
	return f.Close, nil
}

// ownedByMe reports whether this user owns the file.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
