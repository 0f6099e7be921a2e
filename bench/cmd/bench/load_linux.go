package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tokend/tokend/bench/rawhttp"
)

// loader drives all the connections of a run from one thread with epoll,
// as wrk does: answers are taken in the order they arrive and the next
// request goes out at once, with no goroutine scheduling between the
// daemon and the clock. (Goroutines per connection, on a 2-core machine
// shared with the daemon, put milliseconds of the load generator's own
// scheduling into the daemon's tail latency.)
type loader struct {
	epfd     int
	conns    []lconn
	req      []byte
	rate     float64
	interval time.Duration // paced: between two requests of one connection
	base     time.Time     // monotonic origin of the nanosecond clock
	events   []unix.EpollEvent
	lat      []time.Duration
}

// lconn is one connection of the loader.
type lconn struct {
	fd      int
	buf     []byte // what arrived of the answer
	body    []byte
	busy    bool          // a request is out
	counted bool          // it went out while measuring
	sent    time.Duration // when it went out (paced: when it was due)
	due     time.Duration // paced: when the next one is due
}

func newLoader(t target, clients int, rate float64) (*loader, error) {
	l := &loader{epfd: -1, req: t.req, rate: rate, base: time.Now(), events: make([]unix.EpollEvent, clients)}
	if rate > 0 {
		l.interval = time.Duration(float64(clients) / rate * float64(time.Second))
	}
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	sa, err := sockaddr(t)
	if err != nil {
		l.close()
		return nil, err
	}
	for i := range clients {
		fd, err := dialFD(sa)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("%s: connect: %w", t.name, err)
		}
		l.conns = append(l.conns, lconn{fd: fd, buf: make([]byte, 0, 16<<10), body: make([]byte, 0, 8<<10)})
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			l.close()
			return nil, err
		}
		// Paced: spread the connections' first requests over one interval.
		l.conns[i].due = l.interval * time.Duration(i) / time.Duration(clients)
	}
	l.lat = make([]time.Duration, 0, 1<<18)
	return l, nil
}

func sockaddr(t target) (unix.Sockaddr, error) {
	if t.network == "unix" {
		return &unix.SockaddrUnix{Name: t.addr}, nil
	}
	a, err := net.ResolveTCPAddr("tcp", t.addr)
	if err != nil {
		return nil, err
	}
	ip4 := a.IP.To4()
	if ip4 == nil || !ip4.IsLoopback() {
		return nil, fmt.Errorf("%s: the load generator only loads 127.0.0.0/8", t.addr)
	}
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], ip4)
	return sa, nil
}

// dialFD connects a blocking socket, then makes it non-blocking.
func dialFD(sa unix.Sockaddr) (int, error) {
	family := unix.AF_UNIX
	if _, ok := sa.(*unix.SockaddrInet4); ok {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err = unix.Connect(fd, sa); err == nil && family == unix.AF_INET {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as Go's own connections
	}
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (l *loader) now() time.Duration { return time.Since(l.base) }

// run drives the connections until the deadline; answers to requests sent
// while measuring count.
func (l *loader) run(ctx context.Context, until time.Time, measuring bool) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	end := until.Sub(l.base)
	if l.rate == 0 {
		for i := range l.conns {
			if c := &l.conns[i]; !c.busy {
				if err := l.send(c, l.now(), measuring); err != nil {
					return err
				}
			}
		}
	}
	timeout := 1 // ms: closed loop, wake up to see the deadline
	if l.rate > 0 {
		timeout = 0 // paced: spin, to send each request when it is due
		// The schedule goes on from now: the time between two calls (the
		// daemon being sampled) is no one's latency.
		now, first := l.now(), end
		for _, c := range l.conns {
			first = min(first, c.due)
		}
		if lag := now - first; lag > 0 {
			for i := range l.conns {
				l.conns[i].due += lag
			}
		}
	}
	for iter := 0; ; iter++ {
		now := l.now()
		if now >= end {
			return nil
		}
		if iter%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if l.rate > 0 {
			for i := range l.conns {
				if c := &l.conns[i]; !c.busy && c.due <= now {
					if err := l.send(c, c.due, measuring); err != nil {
						return err
					}
					c.due += l.interval
				}
			}
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range l.events[:n] {
			if err := l.receive(&l.conns[ev.Fd], measuring); err != nil {
				return err
			}
		}
	}
}

func (l *loader) send(c *lconn, at time.Duration, measuring bool) error {
	for b := l.req; len(b) > 0; {
		n, err := unix.Write(c.fd, b)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		b = b[n:]
	}
	c.busy, c.counted, c.sent = true, measuring, at
	return nil
}

// receive reads what arrived on c and, once the answer is whole, checks
// it, times it, and (closed loop) sends the next request.
func (l *loader) receive(c *lconn, measuring bool) error {
	for {
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, 0)[:len(c.buf)]
		}
		n, err := unix.Read(c.fd, c.buf[len(c.buf):cap(c.buf)])
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if n == 0 {
			return errors.New("the daemon closed a connection")
		}
		c.buf = c.buf[:len(c.buf)+n]
	}
	m, status, body, err := rawhttp.Parse(c.buf, c.body[:0])
	if err != nil {
		return err
	}
	if m == 0 {
		return nil // more to come
	}
	if m != len(c.buf) || !c.busy {
		return errors.New("an answer nobody asked for")
	}
	if err := checkAnswer(status, body); err != nil {
		return err
	}
	done := l.now()
	if c.counted {
		l.lat = append(l.lat, done-c.sent)
	}
	c.buf, c.busy = c.buf[:0], false
	if l.rate == 0 {
		return l.send(c, done, measuring)
	}
	return nil
}

func (l *loader) latencies() []time.Duration { return l.lat }

func (l *loader) close() {
	for _, c := range l.conns {
		unix.Close(c.fd)
	}
	if l.epfd >= 0 {
		unix.Close(l.epfd)
	}
}
