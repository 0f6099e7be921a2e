package peercred

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// procSample is /proc/net/tcp and tcp6 as a little-endian Linux prints
// them: a listener on 127.0.0.1:8080, a client 127.0.0.1:41000 of uid 1000
// connected to it, the daemon's end, and a TIME_WAIT leftover.
const procSample = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A028 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:A028 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:A029 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`

const proc6Sample = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:A028 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 4444 1 0000000000000000 20 4 30 10 -1
`

func TestParseProcNetTCP(t *testing.T) {
	if !littleEndian {
		t.Skip("the samples are little-endian")
	}
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name          string
		data          string
		local, remote string
		found         bool
		want          procEntry
	}{
		{"client", procSample, "127.0.0.1:41000", "127.0.0.1:8080", true, procEntry{state: 1, uid: 1000, inode: 2222}},
		{"time wait", procSample, "127.0.0.1:41001", "127.0.0.1:8080", true, procEntry{state: 6, uid: 0, inode: 0}},
		{"the daemon's end is not the peer's", procSample, "127.0.0.1:8080", "127.0.0.1:41002", false, procEntry{}},
		{"ipv6", proc6Sample, "[::1]:41000", "[::1]:8080", true, procEntry{state: 1, uid: 1001, inode: 4444}},
		{"header only", strings.SplitN(procSample, "\n", 2)[0], "127.0.0.1:41000", "127.0.0.1:8080", false, procEntry{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok, err := parseProcNetTCP([]byte(tc.data), ap(tc.local), ap(tc.remote))
			if err != nil || ok != tc.found {
				t.Fatalf("found %v, %v; want %v", ok, err, tc.found)
			}
			if ok && (e.state != tc.want.state || e.uid != tc.want.uid || e.inode != tc.want.inode || e.local != ap(tc.local)) {
				t.Fatalf("entry %+v, want %+v", e, tc.want)
			}
		})
	}
	bad := strings.Replace(procSample, "0100007F:A028", "0100007Z:A028", 1)
	if _, _, err := parseProcNetTCP([]byte(bad), ap("127.0.0.1:41000"), ap("127.0.0.1:8080")); err == nil {
		t.Fatal("a malformed address was accepted")
	}
}

// diagAnswer builds a netlink message as the kernel sends it.
func diagAnswer(typ uint16, seq uint32, body []byte) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(body)+3)
	binary.NativeEndian.PutUint32(b[0:], uint32(nlmsgHdrLen+len(body)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func diagBody(state uint8, src, dst netip.AddrPort, uid, inode uint32) []byte {
	b := make([]byte, inetDiagMsgLen+8) // and an attribute's worth
	b[0], b[1] = afInet, state
	if !src.Addr().Is4() {
		b[0] = afInet6
	}
	putSockID(b[4:], src, dst)
	tail := b[4+inetDiagSockIDLen:]
	binary.NativeEndian.PutUint32(tail[12:], uid)
	binary.NativeEndian.PutUint32(tail[16:], inode)
	return b
}

func TestParseDiagReply(t *testing.T) {
	src, dst := netip.MustParseAddrPort("127.0.0.1:41000"), netip.MustParseAddrPort("127.0.0.1:8080")
	src6, dst6 := netip.MustParseAddrPort("[::1]:41000"), netip.MustParseAddrPort("[::1]:8080")
	errMsg := make([]byte, 20)
	binary.NativeEndian.PutUint32(errMsg, uint32(0xfffffffe)) // -ENOENT
	for _, tc := range []struct {
		name string
		b    []byte
		want diagMsg
		err  error
	}{
		{"answer", diagAnswer(sockDiagByFamily, 7, diagBody(1, src, dst, 1000, 99)), diagMsg{found: true, family: afInet, state: 1, src: src, dst: dst, uid: 1000, inode: 99}, nil},
		{"ipv6 answer", diagAnswer(sockDiagByFamily, 7, diagBody(1, src6, dst6, 1001, 98)), diagMsg{found: true, family: afInet6, state: 1, src: src6, dst: dst6, uid: 1001, inode: 98}, nil},
		{"late answer first", append(diagAnswer(sockDiagByFamily, 6, diagBody(1, src, dst, 0, 1)), diagAnswer(sockDiagByFamily, 7, diagBody(1, src, dst, 1000, 99))...), diagMsg{found: true, family: afInet, state: 1, src: src, dst: dst, uid: 1000, inode: 99}, nil},
		{"only a late answer", diagAnswer(sockDiagByFamily, 6, diagBody(1, src, dst, 0, 1)), diagMsg{}, errNotAnswered},
		{"error", diagAnswer(nlmsgError, 7, errMsg), diagMsg{errno: 2}, nil},
		{"done", diagAnswer(nlmsgDone, 7, make([]byte, 4)), diagMsg{done: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseDiagReply(tc.b, 7)
			if !errors.Is(err, tc.err) || m != tc.want {
				t.Fatalf("parse = %+v, %v; want %+v, %v", m, err, tc.want, tc.err)
			}
		})
	}
	good := diagAnswer(sockDiagByFamily, 7, diagBody(1, src, dst, 1000, 99))
	for name, b := range map[string][]byte{
		"short body":   diagAnswer(sockDiagByFamily, 7, make([]byte, 10)),
		"length > buf": append(bytes.Clone(good[:4]), good[4:40]...),
		"length < hdr": func() []byte { b := bytes.Clone(good); binary.NativeEndian.PutUint32(b, 3); return b }(),
		"family":       func() []byte { b := bytes.Clone(good); b[nlmsgHdrLen] = 99; return b }(),
	} {
		if _, err := parseDiagReply(b, 7); err == nil || errors.Is(err, errNotAnswered) {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestDiagRequest(t *testing.T) {
	src, dst := netip.MustParseAddrPort("127.0.0.1:41000"), netip.MustParseAddrPort("127.0.0.2:8080")
	b := diagRequest(9, src, dst)
	if len(b) != 72 || binary.NativeEndian.Uint32(b) != 72 || binary.NativeEndian.Uint16(b[4:]) != sockDiagByFamily || binary.NativeEndian.Uint32(b[8:]) != 9 {
		t.Fatalf("header % x", b[:16])
	}
	r := b[nlmsgHdrLen:]
	if r[0] != afInet || r[1] != ipprotoTCP {
		t.Fatalf("family %d protocol %d", r[0], r[1])
	}
	s, d, ok := sockID(afInet, r[8:])
	if !ok || s != src || d != dst {
		t.Fatalf("id %v %v", s, d)
	}
	if b6 := diagRequest(1, netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::1]:2")); b6[nlmsgHdrLen] != afInet6 {
		t.Fatal("IPv6 request not AF_INET6")
	}
}

// FuzzDiagReply: any bytes from the netlink socket parse without panic,
// and an answer is only taken from a whole message of the request.
func FuzzDiagReply(f *testing.F) {
	src, dst := netip.MustParseAddrPort("127.0.0.1:41000"), netip.MustParseAddrPort("127.0.0.1:8080")
	f.Add(diagAnswer(sockDiagByFamily, 7, diagBody(1, src, dst, 1000, 99)))
	f.Add(diagAnswer(nlmsgError, 7, make([]byte, 20)))
	f.Add(append(diagAnswer(nlmsgDone, 6, nil), diagAnswer(sockDiagByFamily, 7, diagBody(1, src, dst, 1, 1))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseDiagReply(b, 7)
		if err != nil && (m.found || m.done || m.errno != 0) {
			t.Fatalf("an error with a result: %+v, %v", m, err)
		}
		if m.found && (!m.src.IsValid() || !m.dst.IsValid()) {
			t.Fatalf("found an invalid address: %+v", m)
		}
	})
}

// FuzzProcNetTCP: any text in /proc/net/tcp parses without panic, and a
// socket found is the one asked for.
func FuzzProcNetTCP(f *testing.F) {
	f.Add([]byte(procSample), "127.0.0.1:41000", "127.0.0.1:8080")
	f.Add([]byte(proc6Sample), "[::1]:41000", "[::1]:8080")
	f.Fuzz(func(t *testing.T, data []byte, local, remote string) {
		l, err1 := netip.ParseAddrPort(local)
		r, err2 := netip.ParseAddrPort(remote)
		if err1 != nil || err2 != nil {
			return
		}
		e, ok, err := parseProcNetTCP(data, l, r)
		if ok && (err != nil || e.local != l || e.remote != r) {
			t.Fatalf("found %+v (%v) for %v → %v", e, err, l, r)
		}
	})
}
