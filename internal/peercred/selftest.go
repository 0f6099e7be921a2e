package peercred

import "net"

// ownConnection connects this process to itself over loopback TCP and
// returns the accepted end, for a lookup whose answer is known: its owner
// is this process's user. done closes everything.
func ownConnection() (accepted net.Conn, done func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return s, func() { s.Close(); c.Close() }, nil
}
