package peercred

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/winpipe"
	"github.com/tokend/tokend/internal/wintest"
)

func TestOwnSID(t *testing.T) {
	sid, err := OwnSID()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSID(sid); err != nil {
		t.Fatal(err)
	}
	if OwnUID() < 0 || OwnUID() == otherSIDs {
		t.Fatalf("OwnUID = %d", OwnUID())
	}
}

// TestGetPipe: both ends of a pipe connection identify this process and
// its user.
func TestGetPipe(t *testing.T) {
	name := fmt.Sprintf(`\\.\pipe\peercred-test-%d`, os.Getpid())
	l, err := winpipe.Listen(name, "D:P(A;;GA;;;OW)")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := winpipe.Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.Fatal("Accept failed")
	}
	defer s.Close()
	own, _ := OwnSID()
	for side, conn := range map[string]net.Conn{"server": s, "client": c} {
		cred, err := Get(conn)
		if err != nil {
			t.Fatalf("%s: %v", side, err)
		}
		if cred.UID != OwnUID() || cred.PID != os.Getpid() || cred.SID != own {
			t.Fatalf("%s: cred = %+v, want uid %d pid %d sid %s", side, cred, OwnUID(), os.Getpid(), own)
		}
	}
}

func TestProcessCredUnknownProcess(t *testing.T) {
	// Process ids are multiples of 4 on Windows: 3 names no process.
	if cred, err := processCred(3); err == nil {
		t.Fatalf("processCred(3) = %+v", cred)
	}
}

func TestTCPOwnersWindows(t *testing.T) {
	o, err := NewTCPOwners()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		if addr == "[::1]:0" && wintest.UnderWine() {
			t.Log("Wine 8 gives no owning process for IPv6 connections (pid 0): IPv6 is checked on Windows only")
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("%s: %v", addr, err)
			continue
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cred, err := o.owner(s)
		if err != nil || cred.UID != OwnUID() || cred.PID != os.Getpid() {
			t.Fatalf("%s: owner = %+v, %v; want uid %d pid %d", addr, cred, err, OwnUID(), os.Getpid())
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
		if uid, err := o.UID(s); !errors.Is(err, ErrNoSocket) {
			t.Fatalf("%s after the peer closed: UID = %d, %v; want ErrNoSocket", addr, uid, err)
		}
	}
}

func TestExeWindows(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Exe(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(filepath.Clean(got), filepath.Clean(self)) {
		t.Fatalf("Exe = %q, want %q", got, self)
	}
}

// BenchmarkTCPOwnersWindows: what the lookup adds to each accepted
// connection.
func BenchmarkTCPOwnersWindows(b *testing.B) {
	o, err := NewTCPOwners()
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	s, _ := ln.Accept()
	defer s.Close()
	for b.Loop() {
		if _, err := o.UID(s); err != nil {
			b.Fatal(err)
		}
	}
}
