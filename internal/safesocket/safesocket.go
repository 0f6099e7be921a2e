// Package safesocket keeps the daemon's unix socket the user's alone, on
// both ends.
//
// Listen creates the socket in a directory that only the user can enter
// (0700, owned by the user), with the socket itself 0600, replacing a stale
// socket but never a live daemon's. A directory that the user owns but that
// others may read or enter is tightened to 0700: nobody else can have put
// anything in it. A directory that someone else owns, or that others may
// write to, is refused: whatever they may have planted there (a socket of
// their own, a symlink) would survive a chmod. Something other than a
// socket at the socket's path is refused too, never deleted.
//
// Dial is the client's side of the same rules: before a client sends a
// byte, the directory must pass the same check (it is not tightened), the
// path must be a socket the user owns, and the kernel's peer credentials
// must show that the process that accepted the connection runs as the
// user. Someone who created the directory or the socket first (the
// fallback directory under /tmp is the classic place) gets nothing: not a
// password, not a token request.
//
// On Windows, which gives no peer credentials for AF_UNIX sockets, the
// endpoint is a named pipe (\\.\pipe\tokend-<user SID> by default) with the
// same rules in Windows terms: Listen creates it with a DACL that admits
// the user alone (pipeSDDL), refuses a name that exists already (the
// user's own daemon: ErrInUse; anyone else's pipe: ErrUnsafe), rejects
// remote clients, and closes, before reading a byte, any connection from
// a process that does not run as the user (the process's token user SID).
// Dial requires that the process serving the pipe runs as the user before
// it returns the connection.
package safesocket

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tokend/tokend/internal/peercred"
)

// ErrInUse means another daemon answers on the socket.
var ErrInUse = errors.New("another tokend is already listening")

// ErrUnsafe means the socket's directory or path is not the user's alone,
// or another user's process serves it.
var ErrUnsafe = errors.New("unsafe socket location")

// ErrUnsupported means this system cannot identify socket peers.
var ErrUnsupported = errors.New("the tokend socket needs peer credentials, which this system does not provide (supported: Linux, macOS, Windows)")

// Listen creates the socket at path (on Windows: the pipe).
func Listen(path string) (net.Listener, error) {
	if pipes {
		return listenPipe(path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	perm, err := checkDir(dir)
	if err != nil {
		return nil, err
	}
	if perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("socket dir %s is readable by others (%v) and cannot be tightened: %w", dir, perm, err)
		}
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

// CheckDir refuses a directory for the socket that someone else owns or
// that others may write to (errors wrapping ErrUnsafe).
func CheckDir(dir string) error {
	_, err := checkDir(dir)
	return err
}

// dialTimeout bounds the connect: a daemon whose backlog is full does not
// get the rest of a caller's deadline.
const dialTimeout = 2 * time.Second

// Dial connects to the daemon's socket at path, having checked that its
// directory and the socket are the user's alone, and then that the process
// at the other end runs as the user. It returns that process's credentials
// (its pid names it in messages). Nothing is written to the connection.
//
// Errors that mean the socket is someone else's wrap ErrUnsafe; a missing
// socket or a refused connection is an ordinary error (no daemon).
func Dial(ctx context.Context, path string) (net.Conn, peercred.Cred, error) {
	if pipes {
		return dialPipe(ctx, path)
	}
	if err := CheckDir(filepath.Dir(path)); err != nil {
		return nil, peercred.Cred{}, err
	}
	if err := checkSocket(path); err != nil {
		return nil, peercred.Cred{}, err
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, peercred.Cred{}, err
	}
	cred, err := peercred.Get(c)
	if err != nil {
		c.Close()
		return nil, peercred.Cred{}, fmt.Errorf("%w: cannot identify the process serving %s: %w", ErrUnsafe, path, err)
	}
	if uid := os.Getuid(); cred.UID != uid {
		c.Close()
		return nil, peercred.Cred{}, fmt.Errorf("%w: %s is served by %s (pid %d), not by you (%s)", ErrUnsafe, path, describeUID(cred.UID), cred.PID, describeUID(uid))
	}
	return c, cred, nil
}

// describeUID is "uid 1000 (alice)", or "uid 1000" when the user database
// does not say. Only refusals call it.
func describeUID(uid int) string {
	s := "uid " + strconv.Itoa(uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		s += " (" + u.Username + ")"
	}
	return s
}
