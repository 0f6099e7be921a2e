//go:build unix

package safesocket

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkDir refuses a directory that someone else owns or could write to. It
// returns the directory's permissions.
func checkDir(dir string) (fs.FileMode, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("socket dir: %w", err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%w: %s is not a directory", ErrUnsafe, dir)
	}
	owner, ok := ownerOf(fi)
	if !ok {
		return 0, fmt.Errorf("%w: cannot read the owner of %s", ErrUnsafe, dir)
	}
	uid := os.Getuid()
	if owner != uid {
		return 0, fmt.Errorf("%w: socket dir %s is owned by %s, not by you (%s): set TOKEND_SOCKET or daemon.socket to a path in a directory of your own", ErrUnsafe, dir, describeUID(owner), describeUID(uid))
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return 0, fmt.Errorf("%w: socket dir %s, owned by you (%s), is writable by others (%v): check what is in it, then `chmod 700 %s`", ErrUnsafe, dir, describeUID(uid), perm, dir)
	}
	return perm, nil
}

// checkSocket refuses a socket path that is not a socket of the user's.
func checkSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s exists and is not a socket (%v): move it away", ErrUnsafe, path, fi.Mode().Type())
	}
	owner, ok := ownerOf(fi)
	if !ok {
		return fmt.Errorf("%w: cannot read the owner of %s", ErrUnsafe, path)
	}
	if uid := os.Getuid(); owner != uid {
		return fmt.Errorf("%w: socket %s is owned by %s, not by you (%s)", ErrUnsafe, path, describeUID(owner), describeUID(uid))
	}
	return nil
}

func ownerOf(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
