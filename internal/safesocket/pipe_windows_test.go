package safesocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/peercred"
	"github.com/tokend/tokend/internal/winpipe"
)

var pipeSeq atomic.Int64

func testPipe() string {
	return fmt.Sprintf(`\\.\pipe\safesocket-test-%d-%d`, os.Getpid(), pipeSeq.Add(1))
}

func own(t *testing.T) string {
	t.Helper()
	sid, err := peercred.OwnSID()
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

// serveOne accepts one connection on ln and reports what it read.
func serveOne(ln net.Listener) <-chan string {
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	return got
}

func TestPipeListenDial(t *testing.T) {
	name := testPipe()
	ln, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if a, ok := ln.Addr().(*net.UnixAddr); !ok || a.Name != name {
		t.Fatalf("Addr = %#v", ln.Addr())
	}
	got := serveOne(ln)
	c, cred, err := Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if cred.SID != own(t) || cred.PID != os.Getpid() || cred.UID != peercred.OwnUID() {
		t.Fatalf("cred = %+v", cred)
	}
	c.Write([]byte("hello"))
	c.Close()
	if s := <-got; s != "hello" {
		t.Fatalf("server read %q", s)
	}
	go func() { // the daemon goes on accepting
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := Listen(name); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen = %v, want ErrInUse", err)
	}
}

// TestPipeSecurity: the pipe's owner and DACL, read back from the kernel,
// are the user's alone; a pipe whose DACL also admits Everyone fails the
// same check.
func TestPipeSecurity(t *testing.T) {
	sddl, err := pipeSDDL(own(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := winpipe.Listen(testPipe(), sddl)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := checkPipeSecurity(ln, own(t)); err != nil {
		t.Fatalf("owner-only pipe: %v", err)
	}
	open, err := winpipe.Listen(testPipe(), "O:"+own(t)+"D:P(A;;GA;;;"+own(t)+")(A;;GRGW;;;WD)")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := checkPipeSecurity(open, own(t)); err == nil || !strings.Contains(err.Error(), "S-1-1-0") {
		t.Fatalf("a pipe open to Everyone passed: %v", err)
	}
	if err := checkPipeSecurity(ln, otherSID); err == nil {
		t.Fatal("the pipe passed as another user's")
	}
}

// TestPipeDialRefusesOtherUser: a client that expects another user's
// SID than the server's sends nothing and says why. (Wine runs every
// process as one user: the test asks for another SID instead.)
func TestPipeDialRefusesOtherUser(t *testing.T) {
	name := testPipe()
	ln, err := winpipe.Listen(name, "D:P(A;;GA;;;OW)")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := serveOne(ln)
	c, _, err := dialPipeAs(t.Context(), name, otherSID)
	if !errors.Is(err, ErrUnsafe) || c != nil {
		t.Fatalf("dialPipeAs = %v, %v; want ErrUnsafe", c, err)
	}
	for _, want := range []string{name, own(t), otherSID} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %s: %v", want, err)
		}
	}
	if s := <-got; s != "" {
		t.Fatalf("the refused server read %q", s)
	}
}

// TestPipeListenerRefusesOtherUser: a connection from a process that does
// not run as the daemon's user is closed unread and never handed out.
func TestPipeListenerRefusesOtherUser(t *testing.T) {
	name := testPipe()
	raw, err := winpipe.Listen(name, "D:P(A;;GA;;;OW)")
	if err != nil {
		t.Fatal(err)
	}
	ln := &pipeListener{Listener: raw, own: otherSID}
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			c.Close()
			err = errors.New("a connection of another user was handed out")
		}
		accepted <- err
	}()
	c, err := winpipe.Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /v1/token HTTP/1.1\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("refused client read %d, %v; want EOF", n, err)
	}
	ln.Close()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept = %v, want net.ErrClosed", err)
	}
}

func TestPipeNames(t *testing.T) {
	for _, bad := range []string{`C:\Users\a\tokend.sock`, `\\host\pipe\tokend`} {
		if ln, err := Listen(bad); err == nil || !strings.Contains(err.Error(), "TOKEND_SOCKET") {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q) = %v", bad, err)
		}
		if _, _, err := Dial(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "TOKEND_SOCKET") {
			t.Errorf("Dial(%q) = %v", bad, err)
		}
	}
}
