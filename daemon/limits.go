package daemon

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/clock"
)

// Server hardening beyond the http.Server settings in Run.
const (
	// maxSocketConns bounds the connections served at once on the socket,
	// which admits only the user's own processes (the directory is 0700);
	// further ones wait in the kernel's backlog. TCP: see tcpListener.
	maxSocketConns = 1024
	// maxBody bounds every request body (handlers that read JSON bound it
	// further).
	maxBody = 1 << 20
	// maxHeader bounds a request's head: the request line and the header
	// fields, with their line ends. net/http reads headerSlack bytes more
	// than http.Server.MaxHeaderBytes before it refuses (431), so that is
	// set to the difference.
	maxHeader   = 16 << 10
	headerSlack = 4096

	// A peer may fail this many capability checks in a burst, and then one
	// per failRefill; beyond that its failures get 429 instead of 401
	// until the budget refills. A client retrying a revoked capability
	// once a second is never slowed down; a guessing loop is. A valid
	// capability is served whatever its peer's budget: on macOS, where
	// all local users are one peer (127.0.0.1), another user's guessing
	// must not lock the owner out.
	failBurst  = 20
	failRefill = time.Second
	// failPeers bounds the peers remembered; full buckets are forgotten
	// first.
	failPeers = 4096
)

// limitListener serves at most cap(sem) connections at once: Accept waits
// for a slot, and a connection gives it back when it closes.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitedConn is a connection holding a slot of a limitListener.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets net/http half-close the connection as it does a bare one.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap returns the connection underneath, for the peer credentials.
func (c *limitedConn) Unwrap() net.Conn { return c.Conn }

// failLimiter is a token bucket of failed capability checks per peer (a
// uid, or an address where the uid is unknown), on the daemon's clock.
type failLimiter struct {
	clock clock.Clock
	mu    sync.Mutex
	peers map[string]*failBucket
}

type failBucket struct {
	tokens float64
	at     time.Time
	warned time.Time // last time the peer's refusal was logged
}

func newFailLimiter(c clock.Clock) *failLimiter {
	return &failLimiter{clock: c, peers: map[string]*failBucket{}}
}

// wait returns how long peer must wait before it is heard again, or 0.
func (l *failLimiter) wait(peer string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.peers[peer]
	if b == nil {
		return 0
	}
	l.refill(b)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(failRefill))
}

// fail records a failed check by peer and reports whether that used up the
// peer's budget and it is time to say so in the log (once a minute at most,
// so that a guessing loop does not flood the log).
func (l *failLimiter) fail(peer string) (warn bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.peers[peer]
	if b == nil {
		if len(l.peers) >= failPeers {
			l.forget()
		}
		b = &failBucket{tokens: failBurst, at: l.clock.Now()}
		l.peers[peer] = b
	}
	l.refill(b)
	b.tokens--
	if b.tokens >= 1 || b.at.Sub(b.warned) < time.Minute {
		return false
	}
	b.warned = b.at
	return true
}

func (l *failLimiter) refill(b *failBucket) {
	now := l.clock.Now()
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(failBurst, b.tokens+float64(d)/float64(failRefill))
	}
	b.at = now
}

// forget drops the peers whose budget is whole again, or, if none is, all.
func (l *failLimiter) forget() {
	for p, b := range l.peers {
		if l.refill(b); b.tokens >= failBurst {
			delete(l.peers, p)
		}
	}
	if len(l.peers) >= failPeers {
		clear(l.peers)
	}
}

// peerOf is who a TCP caller's failures count against: its uid where the
// kernel says, else its IP (a new connection has a new port).
func peerOf(r *http.Request) string {
	if p := callerOf(r.Context()).peer; p != "" {
		return p
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
