package peercred

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestGetReportsOwnUID(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("no peer credentials on " + runtime.GOOS)
	}
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("unix", path)
		if err == nil {
			defer c.Close()
			buf := make([]byte, 1)
			c.Read(buf)
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cred, err := Get(c)
	if err != nil {
		t.Fatal(err)
	}
	if cred.UID != os.Getuid() || cred.PID != os.Getpid() {
		t.Fatalf("cred = %+v, want uid %d pid %d", cred, os.Getuid(), os.Getpid())
	}
}

func TestGetRejectsTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go net.Dial("tcp", ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Get(c); err == nil {
		t.Fatal("Get on a TCP connection succeeded")
	}
}

func TestExe(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("no executable lookup on " + runtime.GOOS)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Exe(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := filepath.EvalSymlinks(got)
	b, _ := filepath.EvalSymlinks(self)
	if a != b {
		t.Fatalf("Exe = %q, want %q", got, self)
	}
	if _, err := Exe(0); err == nil {
		t.Fatal("Exe(0) succeeded")
	}
}
