package peercred

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// tcpTable writes rows as GetExtendedTcpTable does.
func tcpTable(v6 bool, rows ...tcpRow) []byte {
	n := tcpRow4Len
	if v6 {
		n = tcpRow6Len
	}
	b := make([]byte, 4+len(rows)*n)
	le := binary.LittleEndian
	le.PutUint32(b, uint32(len(rows)))
	for i, r := range rows {
		w := b[4+i*n:]
		if !v6 {
			le.PutUint32(w[0:], r.state)
			a, c := r.local.Addr().As4(), r.remote.Addr().As4()
			copy(w[4:], a[:])
			binary.BigEndian.PutUint16(w[8:], r.local.Port())
			copy(w[12:], c[:])
			binary.BigEndian.PutUint16(w[16:], r.remote.Port())
			le.PutUint32(w[20:], r.pid)
			continue
		}
		a, c := r.local.Addr().As16(), r.remote.Addr().As16()
		copy(w[0:], a[:])
		binary.BigEndian.PutUint16(w[20:], r.local.Port())
		copy(w[24:], c[:])
		binary.BigEndian.PutUint16(w[44:], r.remote.Port())
		le.PutUint32(w[48:], r.state)
		le.PutUint32(w[52:], r.pid)
	}
	return b
}

func TestFindTCPRow(t *testing.T) {
	ap := netip.MustParseAddrPort
	daemon := tcpRow{local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:41000"), state: 5, pid: 100}
	client := tcpRow{local: ap("127.0.0.1:41000"), remote: ap("127.0.0.1:8080"), state: 5, pid: 200}
	listener := tcpRow{local: ap("127.0.0.1:8080"), remote: ap("0.0.0.0:0"), state: 2, pid: 100}
	v6 := tcpRow{local: ap("[::1]:41000"), remote: ap("[::1]:8080"), state: 5, pid: 300}
	for _, tc := range []struct {
		name          string
		table         []byte
		v6            bool
		local, remote string
		want          tcpRow
		found         bool
	}{
		{"the peer's socket, not the daemon's", tcpTable(false, listener, daemon, client), false, "127.0.0.1:41000", "127.0.0.1:8080", client, true},
		{"the daemon's end", tcpTable(false, listener, daemon, client), false, "127.0.0.1:8080", "127.0.0.1:41000", daemon, true},
		{"absent", tcpTable(false, listener, daemon), false, "127.0.0.1:41000", "127.0.0.1:8080", tcpRow{}, false},
		{"ipv6", tcpTable(true, v6), true, "[::1]:41000", "[::1]:8080", v6, true},
		{"empty", tcpTable(false), false, "127.0.0.1:41000", "127.0.0.1:8080", tcpRow{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok, err := findTCPRow(tc.table, tc.v6, ap(tc.local), ap(tc.remote))
			if err != nil || ok != tc.found || r != tc.want {
				t.Fatalf("findTCPRow = %+v, %v, %v; want %+v, %v", r, ok, err, tc.want, tc.found)
			}
		})
	}
	short := tcpTable(false, daemon, client)
	binary.LittleEndian.PutUint32(short, 3)
	if _, _, err := findTCPRow(short, false, ap("127.0.0.1:1"), ap("127.0.0.1:2")); err == nil {
		t.Fatal("a count beyond the table was accepted")
	}
	if _, _, err := findTCPRow([]byte{1}, false, ap("127.0.0.1:1"), ap("127.0.0.1:2")); err == nil {
		t.Fatal("a table without a count was accepted")
	}
}

// FuzzTCPTable: any bytes parse without panic, and a row found is the
// one asked for.
func FuzzTCPTable(f *testing.F) {
	ap := netip.MustParseAddrPort
	f.Add(tcpTable(false, tcpRow{local: ap("127.0.0.1:41000"), remote: ap("127.0.0.1:8080"), state: 5, pid: 200}), false)
	f.Add(tcpTable(true, tcpRow{local: ap("[::1]:41000"), remote: ap("[::1]:8080"), state: 5, pid: 300}), true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		local, remote := ap("127.0.0.1:41000"), ap("127.0.0.1:8080")
		if v6 {
			local, remote = ap("[::1]:41000"), ap("[::1]:8080")
		}
		r, ok, err := findTCPRow(b, v6, local, remote)
		if ok && (err != nil || r.local != local || r.remote != remote) {
			t.Fatalf("found %+v (%v)", r, err)
		}
	})
}
