package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/user"
	"strconv"
	"syscall"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/peercred"
	"github.com/tokend/tokend/internal/quote"
)

// ListenTCP opens the daemon's TCP listeners at addr (HOST:PORT on
// loopback; from says where addr came from, for messages): one, or, when
// addr is a loopback address other than 127.0.0.1 (such as [::1]), also a
// companion on 127.0.0.1 at the same port. The Databricks SDKs accept a
// metadata-service URL on 127.0.0.1 or localhost only, and localhost names
// only 127.0.0.1 in many containers, so the URLs tokend hands out for them
// name 127.0.0.1 (client.ChildEnv) and it must answer there. A taken port
// is an error that says who holds it (where the kernel tells) and what to
// do.
func ListenTCP(addr, from string) ([]net.Listener, error) {
	if err := config.CheckLoopback(addr); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	tries := 1
	if port == "0" {
		tries = 8 // a port free on the first address may be taken on 127.0.0.1
	}
	var err error
	for range tries {
		var lns []net.Listener
		if lns, err = listenPair(addr); err == nil {
			return lns, nil
		}
		if !errors.Is(err, errCompanionTaken) || port != "0" {
			break
		}
	}
	var te *takenError
	if errors.As(err, &te) {
		return nil, te.explain(from)
	}
	return nil, fmt.Errorf("listen on %s (%s): %w", addr, from, err)
}

var errCompanionTaken = errors.New("127.0.0.1 companion port taken")

// takenError is a listen that failed because the address was in use.
type takenError struct {
	addr      string // what was asked for
	companion bool   // the 127.0.0.1 companion of another address
	err       error
}

func (e *takenError) Error() string { return e.addr + ": " + e.err.Error() }
func (e *takenError) Unwrap() []error {
	if e.companion {
		return []error{e.err, errCompanionTaken}
	}
	return []error{e.err}
}

func listenPair(addr string) ([]net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if addrInUse(err) {
			return nil, &takenError{addr: addr, err: err}
		}
		return nil, err
	}
	a := ln.Addr().(*net.TCPAddr)
	if a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		return []net.Listener{ln}, nil
	}
	v4 := net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
	c, err := net.Listen("tcp4", v4)
	if err != nil {
		ln.Close()
		if addrInUse(err) {
			return nil, &takenError{addr: v4, companion: true, err: err}
		}
		return nil, fmt.Errorf("listen on %s (next to %s, for the Databricks SDKs): %w", v4, a, err)
	}
	return []net.Listener{ln, c}, nil
}

// explain says who holds the port and what to do.
func (e *takenError) explain(from string) error {
	who := "another program"
	if ap, err := netip.ParseAddrPort(e.addr); err == nil {
		if uid, err := peercred.ListenerUID(ap); err == nil {
			who = "another program of uid " + strconv.Itoa(uid)
			if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
				who += " (" + quote.String(u.Username) + ")"
			}
			if uid == peercred.OwnUID() {
				who = "another program of yours (another tokend?)"
			}
		}
	}
	what := e.addr
	if e.companion {
		what = e.addr + " (which tokend opens next to an IPv6 address, for the Databricks SDKs: they accept only 127.0.0.1 and localhost)"
	}
	return fmt.Errorf("cannot listen on %s, from %s: the port is taken by %s. Stop it, or give tokend another loopback port: daemon.http = \"127.0.0.1:PORT\" in its config (or $%s); URLs handed out for the old port (`token env`, `token databricks configure`) then need to be made again",
		what, from, who, config.HTTPEnv)
}

// addrInUse reports whether err is EADDRINUSE (WSAEADDRINUSE on Windows).
func addrInUse(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && (errno == syscall.EADDRINUSE || errno == 10048)
}
