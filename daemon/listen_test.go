package daemon

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
)

// TestListenTCP: 127.0.0.1 alone; another loopback address (IPv6) with a
// companion on 127.0.0.1 at the same port; a taken port, or a taken
// companion, is an error naming the address, where it came from and what to
// do; a non-loopback address is refused.
func TestListenTCP(t *testing.T) {
	lns, err := ListenTCP("127.0.0.1:0", "test")
	if err != nil || len(lns) != 1 {
		t.Fatalf("127.0.0.1:0: %v %v", lns, err)
	}
	port := lns[0].Addr().(*net.TCPAddr).Port
	_, err = ListenTCP(fmt.Sprintf("127.0.0.1:%d", port), `daemon.http in c.toml`)
	lns[0].Close()
	for _, want := range []string{fmt.Sprintf("cannot listen on 127.0.0.1:%d, from daemon.http in c.toml: the port is taken by another program", port), "daemon.http = \"127.0.0.1:PORT\"", "$TOKEND_HTTP", "token databricks configure"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("taken port: %v, want %q", err, want)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(err.Error(), "taken by another program of yours (another tokend?)") {
		t.Fatalf("the owner is not named: %v", err)
	}

	if _, err := ListenTCP("0.0.0.0:0", "$TOKEND_HTTP"); err == nil || !strings.Contains(err.Error(), "$TOKEND_HTTP") || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("0.0.0.0: %v", err)
	}

	six, err := ListenTCP("[::1]:0", "test")
	if err != nil {
		if strings.Contains(err.Error(), "cannot assign") || strings.Contains(err.Error(), "address family") {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	defer func() {
		for _, ln := range six {
			ln.Close()
		}
	}()
	if len(six) != 2 {
		t.Fatalf("[::1]:0 gave %d listeners, want 2", len(six))
	}
	a, b := six[0].Addr().(*net.TCPAddr), six[1].Addr().(*net.TCPAddr)
	if !a.IP.Equal(net.IPv6loopback) || b.IP.String() != "127.0.0.1" || a.Port != b.Port {
		t.Fatalf("listeners %s and %s, want [::1]:P and 127.0.0.1:P", a, b)
	}

	// The companion's port taken: an IPv6 address of a fixed port fails,
	// naming the companion.
	hold, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	p := hold.Addr().(*net.TCPAddr).Port
	_, err = ListenTCP(fmt.Sprintf("[::1]:%d", p), "test")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d (which tokend opens next to an IPv6 address", p)) {
		t.Fatalf("taken companion: %v", err)
	}
}
