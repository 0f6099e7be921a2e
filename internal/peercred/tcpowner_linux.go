package peercred

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// TCPOwners tells who owns the other end of a loopback TCP connection: the
// uid of the process that created the peer's socket, from the kernel.
// Linux answers through sock_diag (NETLINK_SOCK_DIAG, one exact lookup of
// a 4-tuple, a few microseconds), else through /proc/net/tcp and tcp6. It
// is safe for concurrent use.
type TCPOwners struct {
	mu   sync.Mutex
	fd   int // the sock_diag socket; -1: read /proc instead
	seq  uint32
	buf  []byte
	proc bool // sock_diag failed: /proc only
}

// NewTCPOwners opens the kernel's socket table and checks, on a loopback
// connection of its own, that it can tell this process's uid; it fails
// where neither sock_diag nor /proc/net can.
func NewTCPOwners() (*TCPOwners, error) {
	o := &TCPOwners{fd: -1, buf: make([]byte, 8192)}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err == nil {
		// An answer comes at once or not at all.
		tv := unix.Timeval{Sec: 1}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		o.fd = fd
	}
	if err := o.selfTest(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// selfTest looks up a connection of this process: first through sock_diag,
// then, if that fails, through /proc alone.
func (o *TCPOwners) selfTest() error {
	s, done, err := ownConnection()
	if err != nil {
		return err
	}
	defer done()
	uid, err := o.UID(s)
	if err == nil && uid == os.Getuid() {
		return nil
	}
	if o.fd >= 0 {
		o.proc = true
		if puid, perr := o.UID(s); perr == nil && puid == os.Getuid() {
			return nil
		}
	}
	if err == nil {
		err = fmt.Errorf("got uid %d for a connection of uid %d", uid, os.Getuid())
	}
	return fmt.Errorf("cannot learn the owners of TCP peers from the kernel: %w", err)
}

// UID returns the uid owning the peer's end of c, a TCP connection this
// process accepted. ErrNoSocket means the peer's socket is gone or
// belongs to no process any more (its owner closed it).
func (o *TCPOwners) UID(c net.Conn) (int, error) {
	peer, us, err := tcpEnds(c)
	if err != nil {
		return 0, err
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	us = netip.AddrPortFrom(us.Addr().Unmap(), us.Port())
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fd >= 0 && !o.proc {
		uid, err := o.diag(peer, us)
		if !errors.Is(err, syscall.ENOENT) {
			return uid, err
		}
		// ENOENT: no such socket, or no tcp_diag in this kernel; /proc
		// tells them apart.
	}
	return procUID(peer, us)
}

func (o *TCPOwners) diag(peer, us netip.AddrPort) (int, error) {
	o.seq++
	req := diagRequest(o.seq, peer, us)
	if err := unix.Sendto(o.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(o.fd, o.buf, 0)
		if err != nil {
			return 0, fmt.Errorf("sock_diag: %w", err)
		}
		m, err := parseDiagReply(o.buf[:n], o.seq)
		if errors.Is(err, errNotAnswered) {
			continue
		}
		if err != nil {
			return 0, err
		}
		switch {
		case m.errno != 0:
			return 0, fmt.Errorf("sock_diag: %w", syscall.Errno(m.errno))
		case m.done:
			return 0, syscall.ENOENT
		}
		return owner(m.src == peer && m.dst == us, int(m.state), uint64(m.inode), int(m.uid))
	}
}

// owner vets what the kernel said about the peer's socket: the socket
// asked for, held by a process (a socket in TIME_WAIT, or one its owner
// closed, has no inode and reports uid 0).
func owner(same bool, state int, inode uint64, uid int) (int, error) {
	if !same {
		return 0, errors.New("the kernel described another socket")
	}
	if inode == 0 || state == tcpTimeWait || state == tcpNewSynRecv {
		return 0, ErrNoSocket
	}
	return uid, nil
}

// procUID looks the peer's socket up in /proc/net/tcp (or tcp6).
func procUID(peer, us netip.AddrPort) (int, error) {
	files := []string{"/proc/net/tcp6"}
	if peer.Addr().Is4() {
		files = []string{"/proc/net/tcp", "/proc/net/tcp6"}
	}
	for _, f := range files {
		p, u := peer, us
		if f == "/proc/net/tcp6" && peer.Addr().Is4() { // an IPv4 peer on a dual-stack socket
			p = netip.AddrPortFrom(netip.AddrFrom16(peer.Addr().As16()), peer.Port())
			u = netip.AddrPortFrom(netip.AddrFrom16(us.Addr().As16()), us.Port())
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		e, ok, err := parseProcNetTCP(data, p, u)
		if err != nil {
			return 0, err
		}
		if ok {
			return owner(true, e.state, e.inode, e.uid)
		}
	}
	return 0, ErrNoSocket
}

// Close releases the sock_diag socket.
func (o *TCPOwners) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fd < 0 {
		return nil
	}
	err := unix.Close(o.fd)
	o.fd = -1
	return err
}

// ListenerUID returns the uid owning the socket that listens on addr (or on
// the unspecified address at its port, which takes addr too), from
// /proc/net/tcp and tcp6: who holds a port the daemon wants.
func ListenerUID(addr netip.AddrPort) (int, error) {
	var any4, any6 netip.AddrPort
	any4 = netip.AddrPortFrom(netip.IPv4Unspecified(), addr.Port())
	any6 = netip.AddrPortFrom(netip.IPv6Unspecified(), addr.Port())
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var wants []netip.AddrPort
		if f == "/proc/net/tcp" {
			wants = []netip.AddrPort{addr, any4}
		} else {
			wants = []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom16(addr.Addr().As16()), addr.Port()), any6}
			if addr.Addr().Is6() {
				wants[0] = addr
			}
		}
		for _, w := range wants {
			e, ok, err := parseProcNetTCP(data, w, netip.AddrPortFrom(zeroLike(w.Addr()), 0))
			if err != nil {
				return 0, err
			}
			if ok && e.state == tcpListen {
				return e.uid, nil
			}
		}
	}
	return 0, ErrNoSocket
}

// tcpListen is TCP_LISTEN in /proc/net/tcp's st column.
const tcpListen = 0x0A

func zeroLike(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
