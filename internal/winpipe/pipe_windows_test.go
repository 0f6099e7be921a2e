package winpipe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// Owner and SYSTEM: any descriptor will do for the transport's tests.
const testSDDL = "D:P(A;;GA;;;OW)(A;;GA;;;SY)"

var seq atomic.Int64

func pipeName() string {
	return fmt.Sprintf(`\\.\pipe\winpipe-test-%d-%d`, os.Getpid(), seq.Add(1))
}

// pair returns both ends of one connection.
func pair(t *testing.T) (*Listener, net.Conn, *Conn) {
	t.Helper()
	name := pipeName()
	l, err := Listen(name, testSDDL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return l, s, c
}

func TestRoundTripAndPeers(t *testing.T) {
	_, s, c := pair(t)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(s).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("server read %q, %v", line, err)
	}
	if _, err := s.Write([]byte("pong\n")); err != nil {
		t.Fatal(err)
	}
	line, err = bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "pong\n" {
		t.Fatalf("client read %q, %v", line, err)
	}
	for side, conn := range map[string]*Conn{"server": s.(*Conn), "client": c} {
		pid, err := conn.PeerPID()
		if err != nil || pid != os.Getpid() {
			t.Errorf("%s: PeerPID = %d, %v; want %d", side, pid, err, os.Getpid())
		}
	}
	if a, ok := s.LocalAddr().(*net.UnixAddr); !ok || a.Net != "pipe" {
		t.Errorf("LocalAddr = %#v", s.LocalAddr())
	}
	// The client leaves: the server reads EOF.
	c.Close()
	if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after the client closed = %d, %v; want EOF", n, err)
	}
}

// TestFirstInstance: a second listener on a taken name fails instead of
// sharing the name.
func TestFirstInstance(t *testing.T) {
	name := pipeName()
	l, err := Listen(name, testSDDL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l2, err := Listen(name, testSDDL); !errors.Is(err, ErrExists) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second Listen = %v, want ErrExists", err)
	}
	l.Close()
	l3, err := Listen(name, testSDDL)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	l3.Close()
}

func TestCloseWakesAccept(t *testing.T) {
	l, err := Listen(pipeName(), testSDDL)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Accept wait; the test holds either way
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener = %v", err)
	}
}

// TestReadWhileWriting: a read pending on one goroutine does not hold up a
// write on another (net/http reads in the background while a handler
// writes), and a deadline in the past ends the pending read.
func TestReadWhileWriting(t *testing.T) {
	_, s, c := pair(t)
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		readErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := s.Write([]byte("answer\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "answer\n" {
		t.Fatalf("client read %q, %v", line, err)
	}
	s.SetReadDeadline(time.Unix(1, 0))
	if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("pending read after a past deadline = %v", err)
	}
}

func TestDialMissing(t *testing.T) {
	_, err := Dial(t.Context(), pipeName())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dial of a missing pipe = %v, want fs.ErrNotExist", err)
	}
	if _, err := Dial(t.Context(), `C:\tokend.sock`); err == nil {
		t.Fatal("Dial of a file path succeeded")
	}
}

// TestHTTP: net/http serves over the pipe, many requests on one
// connection and several connections at once.
func TestHTTP(t *testing.T) {
	name := pipeName()
	l, err := Listen(name, testSDDL)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
	})}
	go srv.Serve(l)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return Dial(ctx, name) },
	}}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 20 {
				want := fmt.Sprintf("hello %d-%d", g, i)
				resp, err := hc.Get(fmt.Sprintf("http://tokend/?n=%d-%d", g, i))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					errs <- fmt.Errorf("got %q, %v; want %q", b, err, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestClientGoneBeforeAccept: what a client wrote before it closed, all
// before the server accepted, is read, then EOF.
func TestClientGoneBeforeAccept(t *testing.T) {
	name := pipeName()
	l, err := Listen(name, testSDDL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, err := io.ReadAll(s); string(b) != "hello" || err != nil {
		t.Fatalf("read %q, %v; want hello", b, err)
	}
}
