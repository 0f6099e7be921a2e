// Package safesocket creates the daemon's unix socket safely: in a directory
// that only the user can enter (0700, owned by the user), with the socket
// itself 0600, replacing a stale socket but never a live daemon's.
//
// A directory that the user owns but that others may read or enter is
// tightened to 0700: nobody else can have put anything in it. A directory
// that someone else owns, or that others may write to, is refused: whatever
// they may have planted there (a socket of their own, a symlink) would
// survive a chmod. Something other than a socket at the socket's path is
// refused too, never deleted.
//
// Windows has no peer credentials for AF_UNIX sockets, so the daemon could
// not tell its user from anyone else's: Listen refuses with ErrUnsupported.
package safesocket

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ErrInUse means another daemon answers on the socket.
var ErrInUse = errors.New("another tokend is already listening")

// ErrUnsafe means the socket's directory or path is not the user's alone.
var ErrUnsafe = errors.New("unsafe socket location")

// ErrUnsupported means this system cannot identify socket peers.
var ErrUnsupported = errors.New("the tokend socket needs peer credentials, which this system does not provide (supported: Linux, macOS)")

// Listen creates the socket at path.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%w: %s exists and is not a socket (%v): move it away", ErrUnsafe, path, fi.Mode().Type())
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", path, ErrInUse)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	return ln, nil
}
