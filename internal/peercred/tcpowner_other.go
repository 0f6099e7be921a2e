//go:build !linux && !windows

package peercred

import (
	"net"
	"net/netip"
)

// TCPOwners tells who owns the other end of a loopback TCP connection. Only
// Linux says so cheaply; elsewhere NewTCPOwners returns ErrUnsupported.
type TCPOwners struct{}

// NewTCPOwners returns ErrUnsupported on this system.
func NewTCPOwners() (*TCPOwners, error) { return nil, ErrUnsupported }

// UID returns ErrUnsupported on this system.
func (*TCPOwners) UID(net.Conn) (int, error) { return 0, ErrUnsupported }

// Close does nothing on this system.
func (*TCPOwners) Close() error { return nil }

// ListenerUID returns ErrUnsupported on this system.
func ListenerUID(netip.AddrPort) (int, error) { return 0, ErrUnsupported }
