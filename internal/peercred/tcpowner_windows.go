package peercred

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TCPOwners tells who owns the other end of a loopback TCP connection:
// Windows's table of TCP connections (GetExtendedTcpTable) names the
// process owning the peer's socket, and that process's token its user. It
// is safe for concurrent use.
type TCPOwners struct {
	mu  sync.Mutex
	buf []byte
}

var getExtendedTCPTable = windows.NewLazySystemDLL("iphlpapi.dll").NewProc("GetExtendedTcpTable")

const tcpTableOwnerPIDAll = 5 // TCP_TABLE_OWNER_PID_ALL

// NewTCPOwners checks, on a loopback connection of its own, that it can
// tell this process's user.
// mibTCPStateTimeWait is MIB_TCP_STATE_TIME_WAIT: a closed connection whose
// row lingers (its pid is no longer its owner).
const mibTCPStateTimeWait = 11

func NewTCPOwners() (*TCPOwners, error) {
	if err := getExtendedTCPTable.Find(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	o := &TCPOwners{buf: make([]byte, 16<<10)}
	if err := o.selfTest(); err != nil {
		return nil, fmt.Errorf("cannot learn the owners of TCP peers: %w", err)
	}
	return o, nil
}

func (o *TCPOwners) selfTest() error {
	s, done, err := ownConnection()
	if err != nil {
		return err
	}
	defer done()
	uid, err := o.UID(s)
	if err != nil {
		return err
	}
	if uid != OwnUID() {
		return fmt.Errorf("got uid %d for a connection of uid %d", uid, OwnUID())
	}
	return nil
}

// UID returns the number (see OwnUID) of the user owning the peer's end
// of c, a TCP connection this process accepted. ErrNoSocket means the
// peer's socket is gone or belongs to no process any more; a process
// whose token this user may not read is an error (not identified).
func (o *TCPOwners) UID(c net.Conn) (int, error) {
	cred, err := o.owner(c)
	return cred.UID, err
}

// owner is the process and user owning the peer's end of c.
func (o *TCPOwners) owner(c net.Conn) (Cred, error) {
	peer, us, err := tcpEnds(c)
	if err != nil {
		return Cred{}, err
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	us = netip.AddrPortFrom(us.Addr().Unmap(), us.Port())
	row, found, err := o.find(peer, us)
	if err != nil {
		return Cred{}, err
	}
	if !found || row.pid == 0 || row.state == mibTCPStateTimeWait {
		return Cred{}, ErrNoSocket
	}
	return processCred(int(row.pid))
}

// find looks the peer's socket up in the table of its address family.
func (o *TCPOwners) find(peer, us netip.AddrPort) (tcpRow, bool, error) {
	af, v6 := uint32(windows.AF_INET), false
	if !peer.Addr().Is4() {
		af, v6 = windows.AF_INET6, true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for range 8 { // the table may grow between the calls
		size := uint32(len(o.buf))
		r, _, _ := getExtendedTCPTable.Call(uintptr(unsafe.Pointer(&o.buf[0])), uintptr(unsafe.Pointer(&size)), 0, uintptr(af), tcpTableOwnerPIDAll, 0)
		switch windows.Errno(r) {
		case 0:
			return findTCPRow(o.buf[:min(int(size), len(o.buf))], v6, peer, us)
		case windows.ERROR_INSUFFICIENT_BUFFER:
			o.buf = make([]byte, size+size/4)
		default:
			return tcpRow{}, false, fmt.Errorf("GetExtendedTcpTable: %w", windows.Errno(r))
		}
	}
	return tcpRow{}, false, errors.New("GetExtendedTcpTable: the table keeps growing")
}

// Close releases nothing: there is nothing to release here.
func (*TCPOwners) Close() error { return nil }

// ListenerUID returns ErrUnsupported on Windows: the message about a taken
// port names no owner there.
func ListenerUID(netip.AddrPort) (int, error) { return 0, ErrUnsupported }
