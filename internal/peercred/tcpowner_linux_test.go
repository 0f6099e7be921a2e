package peercred

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as a helper: with PEERCRED_CONNECT=ADDR the test binary
// connects to ADDR, says so, and holds the connection until stdin closes.
func TestMain(m *testing.M) {
	if addr := os.Getenv("PEERCRED_CONNECT"); addr != "" {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("connected")
		io.Copy(io.Discard, os.Stdin)
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// both runs fn with the sock_diag lookup and with /proc alone.
func both(t *testing.T, fn func(t *testing.T, o *TCPOwners)) {
	o, err := NewTCPOwners()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.fd < 0 || o.proc {
		t.Errorf("sock_diag is not used (fd %d, proc %v)", o.fd, o.proc)
	}
	t.Run("sock_diag", func(t *testing.T) { fn(t, o) })
	t.Run("proc", func(t *testing.T) {
		o.mu.Lock()
		o.proc = true
		o.mu.Unlock()
		fn(t, o)
	})
}

func TestTCPOwnersSelf(t *testing.T) {
	both(t, func(t *testing.T, o *TCPOwners) {
		for _, network := range []string{"127.0.0.1:0", "[::1]:0"} {
			ln, err := net.Listen("tcp", network)
			if err != nil {
				t.Logf("%s: %v", network, err)
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
			if uid, err := o.UID(s); err != nil || uid != os.Getuid() {
				t.Fatalf("%s: UID = %d, %v; want %d", network, uid, err, os.Getuid())
			}
			// The client closes: its socket belongs to no process any more.
			c.Close()
			time.Sleep(20 * time.Millisecond)
			if uid, err := o.UID(s); !errors.Is(err, ErrNoSocket) {
				t.Fatalf("%s after the peer closed: UID = %d, %v; want ErrNoSocket", network, uid, err)
			}
		}
	})
}

// TestTCPOwnersOtherUser: a connection from a process of another uid is
// reported as that uid.
func TestTCPOwnersOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root: the other-uid lookup must be tested")
		}
		t.Skip("running a helper as another uid needs root")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "peercred")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, "helper")
	if err := os.WriteFile(helper, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(helper)
	cmd.Env = []string{"PEERCRED_CONNECT=" + ln.Addr().String()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "connected\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	both(t, func(t *testing.T, o *TCPOwners) {
		if uid, err := o.UID(s); err != nil || uid != nobody {
			t.Fatalf("UID = %d, %v; want %d", uid, err, nobody)
		}
	})
}

// BenchmarkTCPOwners: what the lookup adds to each accepted connection.
func BenchmarkTCPOwners(b *testing.B) {
	o, err := NewTCPOwners()
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	s, _ := ln.Accept()
	defer s.Close()
	for _, mode := range []string{"sock_diag", "proc"} {
		o.proc = mode == "proc"
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if _, err := o.UID(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestListenerUID: the owner of a listening socket, on its address or on
// the unspecified address at its port; none for a free port.
func TestListenerUID(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network]
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Skipf("%s: %v", network, err)
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		if uid, err := ListenerUID(ap); err != nil || uid != os.Getuid() {
			t.Errorf("%s: ListenerUID(%s) = %d, %v", network, ap, uid, err)
		}
		ln.Close()
		if _, err := ListenerUID(ap); !errors.Is(err, ErrNoSocket) {
			t.Errorf("%s: closed listener: %v", network, err)
		}
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ln.Addr().(*net.TCPAddr).Port))
	if uid, err := ListenerUID(ap); err != nil || uid != os.Getuid() {
		t.Errorf("a listener on 0.0.0.0: ListenerUID(%s) = %d, %v", ap, uid, err)
	}
}
