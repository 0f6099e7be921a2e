package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// diskError explains a failed file-system operation on the sealed store as
// ErrUnavailable: what was done, the path, the operating system's words and
// what to do about it. A full disk, a read-only or over-quota file system, a
// permission problem or a vanished directory are all "the store cannot keep
// secrets right now", never a network or identity-provider problem.
func diskError(op, path string, err error) error {
	cause := err // the OS's words, without the path repeated
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		cause = pe.Err
	case errors.As(err, &le):
		cause = le.Err
	}
	return fmt.Errorf("%w: %s %s: %w; %s", ErrUnavailable, op, path, cause, diskFix(path, err))
}

// diskFix is the advice for a file-system error at path.
func diskFix(path string, err error) string {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errno == syscall.ENOSPC:
		return "the file system is full: free some space there (tokend retries by itself), or set TOKEND_STATE_DIR to a directory with room and restart tokend"
	case errno == syscall.EDQUOT:
		return "your disk quota is used up: free some space (tokend retries by itself)"
	case errno == syscall.EROFS:
		return "the file system is read-only: remount it read-write, or set TOKEND_STATE_DIR to a writable directory and restart tokend"
	case errors.Is(err, fs.ErrPermission):
		return "tokend may not write there: the secrets directory must be yours (`chmod 700` it, and `chmod 600` the files in it)"
	case errors.Is(err, fs.ErrNotExist):
		return "the secrets directory was removed while tokend ran: restart tokend to create it again, then sign in again"
	}
	return "check the disk and the permissions of the state directory (TOKEND_STATE_DIR)"
}
