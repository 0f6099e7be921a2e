// Package peercred reads the credentials of the process on the other end of
// a unix socket connection from the kernel (SO_PEERCRED on Linux,
// LOCAL_PEERCRED on macOS). The daemon trusts only these, never the request.
package peercred

import (
	"errors"
	"net"
)

// Cred identifies a connected peer. PID is 0 where the OS does not say.
type Cred struct {
	UID int
	PID int
}

// ErrUnsupported is returned on systems without a peer-credential call.
var ErrUnsupported = errors.New("peer credentials are not supported on this system")

// Get returns the credentials of the peer of c, which must be a *net.UnixConn.
func Get(c net.Conn) (Cred, error) {
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
