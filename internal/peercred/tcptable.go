package peercred

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Windows's table of TCP connections with their owning processes
// (GetExtendedTcpTable, TCP_TABLE_OWNER_PID_ALL): a 4-byte count, then
// rows of MIB_TCPROW_OWNER_PID (IPv4) or MIB_TCP6ROW_OWNER_PID (IPv6).
// Numbers are in the machine's order (little-endian), addresses and ports
// in network order.
const (
	tcpRow4Len = 24 // state, local addr, local port, remote addr, remote port, pid
	tcpRow6Len = 56 // local addr[16], scope, port; remote addr[16], scope, port; state, pid
)

// tcpRow is what the table says about one connection.
type tcpRow struct {
	local, remote netip.AddrPort
	state, pid    uint32
}

// findTCPRow finds, in a table as GetExtendedTcpTable writes it, the
// connection whose own address is local and whose peer is remote.
func findTCPRow(b []byte, v6 bool, local, remote netip.AddrPort) (tcpRow, bool, error) {
	if len(b) < 4 {
		return tcpRow{}, false, fmt.Errorf("TCP table of %d bytes", len(b))
	}
	rowLen := tcpRow4Len
	if v6 {
		rowLen = tcpRow6Len
	}
	n := binary.LittleEndian.Uint32(b)
	rows := b[4:] // rows are 4-byte aligned
	if uint64(n)*uint64(rowLen) > uint64(len(rows)) {
		return tcpRow{}, false, fmt.Errorf("TCP table: %d rows in %d bytes", n, len(rows))
	}
	for i := range int(n) {
		r := parseTCPRow(rows[i*rowLen:(i+1)*rowLen], v6)
		if r.local == local && r.remote == remote {
			return r, true, nil
		}
	}
	return tcpRow{}, false, nil
}

func parseTCPRow(b []byte, v6 bool) tcpRow {
	le := binary.LittleEndian
	port := func(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
	if !v6 {
		return tcpRow{
			state:  le.Uint32(b[0:]),
			local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port(b[8:])),
			remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), port(b[16:])),
			pid:    le.Uint32(b[20:]),
		}
	}
	return tcpRow{
		local:  netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[0:16])), port(b[20:])),
		remote: netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), port(b[44:])),
		state:  le.Uint32(b[48:]),
		pid:    le.Uint32(b[52:]),
	}
}
