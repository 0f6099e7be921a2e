// Package peercred reads the credentials of the process on the other end of
// a unix socket connection from the kernel (SO_PEERCRED on Linux,
// LOCAL_PEERCRED and LOCAL_PEERPID on macOS), or of a Windows named-pipe
// connection (the peer's process id from the pipe, then the user SID of
// that process's token). The daemon trusts only these, never the request.
// Elsewhere Get returns ErrUnsupported, and the daemon refuses every socket
// caller.
//
// TCPOwners does the same for a loopback TCP connection, where Linux can
// say who owns the peer's socket (sock_diag, else /proc/net/tcp) and
// Windows which process does (GetExtendedTcpTable); macOS cannot cheaply,
// and NewTCPOwners returns ErrUnsupported there.
//
// Compare a peer's UID with OwnUID, not with os.Getuid: on Windows, where
// users are SIDs and os.Getuid is -1, UIDs are numbers this package gives
// to SIDs (see sid.go).
package peercred

import (
	"errors"
	"net"
)

// Cred identifies a connected peer. PID is 0 where the OS does not say.
type Cred struct {
	UID int
	PID int
	SID string // Windows: the user's SID; "" elsewhere
}

// ErrUnsupported is returned on systems without a peer-credential call.
var ErrUnsupported = errors.New("peer credentials are not supported on this system")

// Get returns the credentials of the peer of c, which must be a
// *net.UnixConn (or, on Windows, a named-pipe connection of package
// winpipe).
func Get(c net.Conn) (Cred, error) {
	if cred, ok, err := getPipe(c); ok {
		return cred, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Cred{}, errors.New("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var cred Cred
	var credErr error
	if err := raw.Control(func(fd uintptr) { cred, credErr = get(fd) }); err != nil {
		return Cred{}, err
	}
	return cred, credErr
}

// Exe returns the path of the executable that process pid runs, for audit
// lines (/proc/PID/exe on Linux, kern.procargs2 on macOS,
// QueryFullProcessImageName on Windows). It is
// informational: a process can change what it runs after connecting.
func Exe(pid int) (string, error) {
	if pid <= 0 {
		return "", errors.New("no process id")
	}
	return exe(pid)
}
