package peercred

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// ErrNoSocket means the kernel knows no live socket, owned by a process,
// at the other end of a TCP connection: its owner closed it, or it is not
// on this machine.
var ErrNoSocket = errors.New("no live socket at the other end of the connection")

// TCP states, as Linux numbers them (include/net/tcp_states.h).
const (
	tcpTimeWait   = 6
	tcpNewSynRecv = 12
)

// tcpEnds returns the far end (the peer's socket: its own address first)
// of a TCP connection c accepted by this process: (peer, us).
func tcpEnds(c net.Conn) (peer, us netip.AddrPort, err error) {
	la, ok1 := c.LocalAddr().(*net.TCPAddr)
	ra, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return peer, us, errors.New("not a TCP connection")
	}
	return ra.AddrPort(), la.AddrPort(), nil
}

// diagMsg is what a sock_diag answer says about one socket.
type diagMsg struct {
	family      uint8
	state       uint8
	src, dst    netip.AddrPort
	uid, inode  uint32
	errno       int32 // from an NLMSG_ERROR answer (positive), else 0
	done, found bool
}

// Netlink and sock_diag numbers (linux/netlink.h, linux/sock_diag.h,
// linux/inet_diag.h).
const (
	nlmsgError        = 2
	nlmsgDone         = 3
	nlmFRequest       = 1
	sockDiagByFamily  = 20
	ipprotoTCP        = 6
	afInet            = 2
	afInet6           = 10
	nlmsgHdrLen       = 16
	inetDiagSockIDLen = 48
	inetDiagReqLen    = 8 + inetDiagSockIDLen      // family, protocol, ext, pad, states; id
	inetDiagMsgLen    = 4 + inetDiagSockIDLen + 20 // family, state, timer, retrans; id; expires, rqueue, wqueue, uid, inode
)

// diagRequest is the SOCK_DIAG_BY_FAMILY request for the one TCP socket
// whose own address is src and whose peer is dst.
func diagRequest(seq uint32, src, dst netip.AddrPort) []byte {
	fam := uint8(afInet6)
	if src.Addr().Is4() {
		fam = afInet
	}
	b := make([]byte, nlmsgHdrLen+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest)
	ne.PutUint32(b[8:], seq)
	r := b[nlmsgHdrLen:]
	r[0], r[1] = fam, ipprotoTCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	putSockID(r[8:], src, dst)
	return b
}

// putSockID writes an inet_diag_sockid: ports and addresses in network
// order, no interface, no cookie (INET_DIAG_NOCOOKIE).
func putSockID(b []byte, src, dst netip.AddrPort) {
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	putAddr(b[4:20], src.Addr())
	putAddr(b[20:36], dst.Addr())
	binary.NativeEndian.PutUint32(b[40:], 0xffffffff)
	binary.NativeEndian.PutUint32(b[44:], 0xffffffff)
}

func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

// parseDiagReply reads the netlink messages in b and returns what they say
// about the request numbered seq (messages of other requests, late answers
// to one that timed out, are skipped).
func parseDiagReply(b []byte, seq uint32) (diagMsg, error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		n := int(ne.Uint32(b[0:]))
		if n < nlmsgHdrLen || n > len(b) {
			return diagMsg{}, fmt.Errorf("sock_diag: message length %d of %d bytes", n, len(b))
		}
		typ, mseq, body := ne.Uint16(b[4:]), ne.Uint32(b[8:]), b[nlmsgHdrLen:n]
		b = b[min(len(b), (n+3)&^3):] // messages are 4-byte aligned
		if mseq != seq {
			continue
		}
		switch typ {
		case nlmsgError:
			if len(body) < 4 {
				return diagMsg{}, errors.New("sock_diag: short error message")
			}
			return diagMsg{errno: -int32(ne.Uint32(body))}, nil
		case nlmsgDone:
			return diagMsg{done: true}, nil
		case sockDiagByFamily:
			if len(body) < inetDiagMsgLen {
				return diagMsg{}, fmt.Errorf("sock_diag: answer of %d bytes", len(body))
			}
			m := diagMsg{found: true, family: body[0], state: body[1]}
			id := body[4:]
			var ok bool
			if m.src, m.dst, ok = sockID(m.family, id); !ok {
				return diagMsg{}, fmt.Errorf("sock_diag: address family %d", m.family)
			}
			tail := body[4+inetDiagSockIDLen:]
			m.uid, m.inode = ne.Uint32(tail[12:]), ne.Uint32(tail[16:])
			return m, nil
		}
	}
	return diagMsg{}, errNotAnswered
}

// errNotAnswered: the messages read answer other requests (late answers
// to one that timed out); the answer is still to come.
var errNotAnswered = errors.New("sock_diag: no answer to the request")

func sockID(family uint8, id []byte) (src, dst netip.AddrPort, ok bool) {
	sport, dport := binary.BigEndian.Uint16(id[0:]), binary.BigEndian.Uint16(id[2:])
	var s, d netip.Addr
	switch family {
	case afInet:
		s, d = netip.AddrFrom4([4]byte(id[4:8])), netip.AddrFrom4([4]byte(id[20:24]))
	case afInet6:
		s, d = netip.AddrFrom16([16]byte(id[4:20])), netip.AddrFrom16([16]byte(id[20:36]))
	default:
		return src, dst, false
	}
	return netip.AddrPortFrom(s, sport), netip.AddrPortFrom(d, dport), true
}

// procEntry is one line of /proc/net/tcp or tcp6.
type procEntry struct {
	local, remote netip.AddrPort
	state         int
	uid           int
	inode         uint64
}

// parseProcNetTCP finds, in the text of /proc/net/tcp or /proc/net/tcp6,
// the socket whose own address is local and whose peer is remote. The
// kernel prints each 32-bit word of an address in the machine's byte order.
func parseProcNetTCP(data []byte, local, remote netip.AddrPort) (procEntry, bool, error) {
	first := true
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if first { // the header
			first = false
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 10 {
			continue
		}
		l, err := procAddr(f[1])
		if err != nil {
			return procEntry{}, false, err
		}
		if l != local {
			continue
		}
		r, err := procAddr(f[2])
		if err != nil {
			return procEntry{}, false, err
		}
		if r != remote {
			continue
		}
		st, err1 := strconv.ParseUint(string(f[3]), 16, 8)
		uid, err2 := strconv.ParseUint(string(f[7]), 10, 32)
		ino, err3 := strconv.ParseUint(string(f[9]), 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return procEntry{}, false, fmt.Errorf("/proc/net/tcp: %w", err)
		}
		return procEntry{local: l, remote: r, state: int(st), uid: int(uid), inode: ino}, true, nil
	}
	return procEntry{}, false, nil
}

// procAddr parses "0100007F:1F90" (IPv4) or 32 hex digits and a port
// (IPv6).
func procAddr(s []byte) (netip.AddrPort, error) {
	a, p, ok := bytes.Cut(s, []byte{':'})
	port, err := strconv.ParseUint(string(p), 16, 16)
	if !ok || err != nil || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("/proc/net/tcp: address %q", s)
	}
	raw := make([]byte, len(a)/2)
	if _, err := hex.Decode(raw, a); err != nil {
		return netip.AddrPort{}, fmt.Errorf("/proc/net/tcp: address %q", s)
	}
	// Each word was printed as a number in host order: undo it.
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(raw))
	} else {
		addr = netip.AddrFrom16([16]byte(raw))
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
