package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// lockDir takes an exclusive lock (LockFileEx) on dir's lock file, so that
// one process at a time writes refresh tokens there. Closing the file
// releases it, and so does the end of the process.
func lockDir(dir string) (func() error, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock secrets dir: %w", err)
	}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, fmt.Errorf("another tokend is using %s (stop it, or give this one its own TOKEND_STATE_DIR)", dir)
		}
		return nil, fmt.Errorf("lock secrets dir: %w", err)
	}
	return f.Close, nil
}

// ownedByMe reports whether this user owns the file: a file in the user's
// own secrets directory (its DACL is the user's) is taken to be the user's.
func ownedByMe(fs.FileInfo) bool { return true }
