package daemon

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/peercred"
)

// Who may hold TCP connections, and how many.
const (
	// maxTCPConns bounds the TCP connections open at once. The daemon's
	// own uid may use them all.
	maxTCPConns = 256
	// maxGuestConns bounds those of another admitted uid (root, when the
	// daemon is not root), so that it cannot take the owner's.
	maxGuestConns = 64
	// maxIdlePerPeer bounds the kept-alive connections a peer (a uid, or
	// an address where the uid is unknown) leaves idle: beyond it, its
	// longest idle one is closed.
	maxIdlePerPeer = 32
	// newGrace is how long a new connection has to send its request
	// before it counts as idle (a client on loopback needs microseconds),
	// so that a flood of new connections does not close the owner's
	// before it is read.
	newGrace = 100 * time.Millisecond
)

// tcpAdmits is who may connect over TCP when the kernel can tell: the
// daemon's own uid, and root. Root can read the daemon's memory and the
// keychain anyway, so refusing it would protect nothing, and programs that
// run as root on the host network (a container with --network host, a
// command under sudo) are among those that `token exec` serves. Both still
// need a capability. (On Windows, uids are peercred's numbers for SIDs;
// SYSTEM is 0.)
func tcpAdmits(uid int) bool { return uid == peercred.OwnUID() || uid == 0 }

// tcpListener accepts loopback TCP connections for the guards to judge.
//
// Where the kernel says who owns the peer's socket (Linux), it closes the
// connections of other users at once, before a byte is read, and counts
// connections per uid: the daemon's own uid may hold maxTCPConns, another
// admitted uid maxGuestConns (beyond that its longest idle connection is
// closed, or, if none is idle, the new one). Elsewhere (macOS) every
// connection is admitted and judged by its capability.
//
// When all maxTCPConns are taken, the connection idle the longest (kept
// alive after a request, or not yet sent one) is closed to make room, so
// connections held open without a request in flight never lock anyone
// out; only when every connection is busy does Accept wait. A peer leaves
// at most maxIdlePerPeer connections idle.
type tcpListener struct {
	net.Listener
	owners func(net.Conn) (int, error) // nil: the kernel does not say
	admits func(uid int) bool
	owner  int // the daemon's uid
	log    *slog.Logger

	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	conns   map[*tcpConn]struct{}
	perPeer map[string]int    // open connections
	idle    map[string]int    // of which kept alive between requests
	warned  map[int]time.Time // last log line per refused uid
}

// connState is where a connection is in its life (as net/http tells).
type connState int

const (
	connNew    connState = iota // accepted, no request read yet
	connActive                  // reading or serving a request
	connIdle                    // kept alive between requests
)

// tcpConn is an admitted connection.
type tcpConn struct {
	net.Conn
	l    *tcpListener
	uid  int    // -1: unknown
	peer string // "uid N", or the peer's IP where the uid is unknown

	state   connState // guarded by l.mu
	since   time.Time // guarded by l.mu: when state last changed
	closing bool      // guarded by l.mu: chosen to be closed
	once    sync.Once
}

func newTCPListener(ln net.Listener, owners func(net.Conn) (int, error), admits func(int) bool, log *slog.Logger) *tcpListener {
	return &tcpListener{
		Listener: ln, owners: owners, admits: admits, owner: peercred.OwnUID(), log: log,
		slots: make(chan struct{}, maxTCPConns), done: make(chan struct{}),
		conns: map[*tcpConn]struct{}{}, perPeer: map[string]int{}, idle: map[string]int{}, warned: map[int]time.Time{},
	}
}

// Accept returns the next admitted connection.
func (l *tcpListener) Accept() (net.Conn, error) {
	for {
		if err := l.slot(); err != nil {
			return nil, err
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		if tc := l.admit(c); tc != nil {
			return tc, nil
		}
		c.Close()
		<-l.slots
	}
}

// slot takes a free slot, making room by closing the longest idle
// connection when there is none, else waiting for one (or for a new
// connection to outlive its grace).
func (l *tcpListener) slot() error {
	for {
		select {
		case l.slots <- struct{}{}:
			return nil
		default:
		}
		l.mu.Lock()
		victim := l.evict(l.longestIdle("", connNew))
		l.mu.Unlock()
		if victim != nil {
			victim.Close()
			continue
		}
		t := time.NewTimer(newGrace)
		select {
		case l.slots <- struct{}{}:
			t.Stop()
			return nil
		case <-t.C:
		case <-l.done:
			t.Stop()
			return net.ErrClosed
		}
	}
}

// admit identifies the peer of c and decides whether it may stay.
func (l *tcpListener) admit(c net.Conn) *tcpConn {
	tc := &tcpConn{Conn: c, l: l, uid: -1, since: time.Now()}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		tc.peer = a.IP.String()
	}
	if l.owners != nil {
		uid, err := l.owners(c)
		if err != nil { // the peer is gone (its socket closed), or the kernel did not say
			l.log.Debug("TCP peer not identified", "err", err)
			return nil
		}
		if !l.admits(uid) {
			l.refused(uid)
			return nil
		}
		tc.uid, tc.peer = uid, "uid "+strconv.Itoa(uid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if tc.uid >= 0 && tc.uid != l.owner && l.perPeer[tc.peer] >= maxGuestConns {
		victim := l.evict(l.longestIdle(tc.peer, connNew))
		if victim == nil {
			return nil
		}
		l.mu.Unlock()
		victim.Close()
		l.mu.Lock()
	}
	l.perPeer[tc.peer]++
	l.conns[tc] = struct{}{}
	return tc
}

// refused logs a refused uid, once a minute per uid at most.
func (l *tcpListener) refused(uid int) {
	l.mu.Lock()
	now := time.Now()
	last, seen := l.warned[uid]
	if !seen || now.Sub(last) >= time.Minute {
		if len(l.warned) >= 1024 {
			clear(l.warned)
		}
		l.warned[uid] = now
	}
	l.mu.Unlock()
	if !seen || now.Sub(last) >= time.Minute {
		l.log.Warn("refused TCP peer of another user", "uid", uid)
	}
}

// longestIdle returns the connection of peer ("" for any) that has been
// idle the longest: kept alive after a request, or, when or is connNew,
// also one that has sent no request in newGrace. l.mu is held.
func (l *tcpListener) longestIdle(peer string, or connState) *tcpConn {
	var victim *tcpConn
	fresh := time.Now().Add(-newGrace)
	for c := range l.conns {
		if c.closing || c.state != connIdle && c.state != or || peer != "" && c.peer != peer {
			continue
		}
		if c.state == connNew && c.since.After(fresh) {
			continue
		}
		if victim == nil || c.since.Before(victim.since) {
			victim = c
		}
	}
	return victim
}

// track follows net/http's view of each connection (http.Server.ConnState).
func (l *tcpListener) track(c net.Conn, st http.ConnState) {
	tc, ok := c.(*tcpConn)
	if !ok {
		return
	}
	var victim *tcpConn
	l.mu.Lock()
	switch st {
	case http.StateActive:
		l.setState(tc, connActive)
	case http.StateIdle:
		l.setState(tc, connIdle)
		if l.idle[tc.peer] > maxIdlePerPeer {
			victim = l.evict(l.longestIdle(tc.peer, connIdle))
		}
	}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
}

// evict marks c (if not nil) to be closed: it no longer counts as idle
// nor is chosen again. The caller closes it once it lets go of l.mu.
func (l *tcpListener) evict(c *tcpConn) *tcpConn {
	if c != nil {
		l.setState(c, connActive)
		c.closing = true
	}
	return c
}

// setState moves c to st, keeping the idle counts. l.mu is held.
func (l *tcpListener) setState(c *tcpConn, st connState) {
	if c.closing {
		return
	}
	if c.state == connIdle {
		l.idle[c.peer]--
	}
	if st == connIdle {
		l.idle[c.peer]++
	}
	c.state, c.since = st, time.Now()
}

func (l *tcpListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// Close closes the connection and gives its slot back, once.
func (c *tcpConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		l := c.l
		l.mu.Lock()
		l.setState(c, connActive) // out of the idle count
		delete(l.conns, c)
		if l.perPeer[c.peer]--; l.perPeer[c.peer] <= 0 {
			delete(l.perPeer, c.peer)
			delete(l.idle, c.peer)
		}
		l.mu.Unlock()
		<-c.l.slots
	})
	return err
}

// CloseWrite lets net/http half-close the connection as it does a bare one.
func (c *tcpConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap returns the connection underneath.
func (c *tcpConn) Unwrap() net.Conn { return c.Conn }
