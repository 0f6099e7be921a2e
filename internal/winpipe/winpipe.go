// Package winpipe is a Windows named-pipe listener and dialer on
// golang.org/x/sys/windows: the transport of tokend's local endpoint on
// Windows. It knows pipes, not users: the caller passes the pipe's
// security descriptor and decides, from the peer's process id, whom to
// serve (see internal/safesocket and internal/peercred).
//
// Listen creates the first instance of the pipe (FILE_FLAG_FIRST_PIPE_INSTANCE:
// if anyone, of any user, already has a pipe of that name, Listen fails
// with ErrExists instead of joining it; Listen also tries to open the name
// first, which is what keeps a second listener out under Wine 8, where
// the flag is not enforced) that rejects remote clients
// (PIPE_REJECT_REMOTE_CLIENTS). Accept waits for a client with a
// ConnectNamedPipe on an event, in the calling goroutine; Close wakes it.
// Connected handles are handed to the Go runtime (os.NewFile on an
// overlapped handle), so reads, writes and deadlines are the runtime's,
// as for a socket. Dial opens the pipe without letting the server
// impersonate the client (SECURITY_SQOS_PRESENT | SECURITY_ANONYMOUS).
//
// Why not github.com/Microsoft/go-winio: its ListenPipe waits for clients
// on its own I/O completion port, and under Wine 8, where this package is
// tested, that Accept never returns (real Windows is fine). An event per
// listener works on both, and the runtime already does the rest.
//
// Addresses are *net.UnixAddr with Net "pipe" and the pipe's name, so code
// that tells the local endpoint from TCP by address type (the daemon's
// guards) treats a pipe as its socket.
package winpipe

import (
	"errors"
	"net"
	"strings"
)

// Prefix starts every local pipe name.
const Prefix = `\\.\pipe\`

// ErrExists means a pipe of that name exists already: another instance
// of the server, or someone else's pipe.
var ErrExists = errors.New("a pipe of that name exists already")

// Addr is the address of the pipe name.
func Addr(name string) *net.UnixAddr { return &net.UnixAddr{Name: name, Net: "pipe"} }

// CheckName refuses names that are not local pipes: `\\.\pipe\` and a
// name of 1 to 256 characters without a backslash (a remote pipe,
// `\\host\pipe\…`, is not local).
func CheckName(name string) error {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		if len(name) > len(Prefix) && strings.EqualFold(name[:len(Prefix)], Prefix) {
			rest, ok = name[len(Prefix):], true
		}
	}
	switch {
	case !ok:
		return errors.New(`a pipe name starts with \\.\pipe\`)
	case rest == "" || len(rest) > 256:
		return errors.New("a pipe name has 1 to 256 characters after " + `\\.\pipe\`)
	case strings.ContainsAny(rest, "\\\x00"):
		return errors.New(`a pipe name has no backslash after \\.\pipe\`)
	}
	return nil
}
