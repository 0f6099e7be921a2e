package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/peercred"
	"github.com/tokend/tokend/internal/redact"
)

func mintCap(t testing.TB, h *harness, req wire.CapabilityRequest) wire.Capability {
	t.Helper()
	r := h.post("/v1/capabilities", req)
	var c wire.Capability
	if r.status != 201 || json.Unmarshal(r.body, &c) != nil {
		t.Fatalf("mint: %d %s", r.status, r.body)
	}
	return c
}

// TestSecurityHeadersEverywhere: every answer the daemon writes, on both
// listeners, carries no-store, nosniff and the CSP: tokens, errors, guard
// refusals, metrics, status and event streams.
func TestSecurityHeadersEverywhere(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app"})
	bearer := map[string]string{"Authorization": "Bearer " + cp.Token}
	for _, tc := range []struct {
		name    string
		tcp     bool
		method  string
		path    string
		headers map[string]string
		body    string
		status  int
	}{
		{name: "socket token", path: "/v1/token?profile=app", status: 200},
		{name: "socket status", path: "/v1/status", status: 200},
		{name: "socket metrics", path: "/v1/metrics", status: 200},
		{name: "socket healthz", path: "/healthz", status: 200},
		{name: "socket watch", path: "/v1/watch", status: 200},
		{name: "socket unknown profile", path: "/v1/token?profile=nope", status: 404},
		{name: "socket no such endpoint", path: "/nope", status: 400},
		{name: "socket method not allowed", method: "PUT", path: "/v1/token", status: 405},
		{name: "socket body too large", method: "POST", path: "/v1/capabilities", body: strings.Repeat("x", maxBody+1), status: 413},
		{name: "tcp token", tcp: true, path: "/v1/token", headers: bearer, status: 200},
		{name: "tcp watch", tcp: true, path: "/v1/watch", headers: bearer, status: 200},
		{name: "tcp msi error", tcp: true, path: "/msi/token?api-version=1", headers: map[string]string{"X-IDENTITY-HEADER": cp.Token}, status: 400},
		{name: "tcp msi refusal", tcp: true, path: "/msi/token", status: 401},
		{name: "tcp databricks refusal", tcp: true, path: "/databricks/nope", status: 401},
		{name: "tcp browser refusal", tcp: true, path: "/v1/token", headers: map[string]string{"Origin": "https://evil.example"}, status: 403},
		{name: "tcp socket-only", tcp: true, path: "/v1/status", headers: bearer, status: 403},
		{name: "tcp not JSON", tcp: true, method: "POST", path: "/v1/token", headers: map[string]string{"Content-Type": "text/plain"}, status: 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			base, hc := "http://tokend", h.unix
			if tc.tcp {
				base, hc = "http://"+h.tcp, h.http
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, method, base+tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close() // a stream ends with cancel
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			checkSecurityHeaders(t, resp.Header)
		})
	}
}

// TestFailedCapabilityRateLimit: a peer that fails failBurst capability
// checks gets 429 with Retry-After for its failures until the daemon's
// clock refills its budget; its valid capability is still served. Where
// the kernel says who owns a TCP peer, budgets are per uid, so another
// uid's failures do not spend the owner's; where it does not (macOS),
// they are per address, and all local users share 127.0.0.1 — but
// nobody's failures refuse a valid capability.
func TestFailedCapabilityRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     harnessOpts
		attacker string // where the failures come from
		owner    string // where the owner's requests come from
		shared   bool   // the owner's budget is the attacker's
	}{
		{"per uid", harnessOpts{noRefresher: true, tcpUIDs: true}, "127.0.0.2", "127.0.0.1", false},
		{"per address where the uid is unknown", harnessOpts{noRefresher: true, tcpUnknown: true}, "127.0.0.1", "127.0.0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app", Kind: wire.CapabilityExec})
			attacker, owner := clientFrom(t, tc.attacker), clientFrom(t, tc.owner)
			ask := func(hc *http.Client, path, header, value string) response {
				t.Helper()
				req, _ := http.NewRequest("GET", "http://"+h.tcp+path, nil)
				if header != "" {
					req.Header.Set(header, value)
				}
				return do(t, hc, req)
			}
			good := func(hc *http.Client) response { return ask(hc, "/v1/token", "Authorization", "Bearer "+cp.Token) }
			// Failures on every endpoint count together.
			bad := []func() response{
				func() response { return ask(attacker, "/v1/token", "Authorization", "Bearer tkd1."+cp.ID+".guess") },
				func() response { return ask(attacker, "/msi/token", "X-IDENTITY-HEADER", "guess") },
				func() response { return ask(attacker, "/databricks/tkd1.guess", "", "") },
				func() response { return ask(attacker, "/v1/token", "", "") },
			}
			for i := range failBurst {
				if r := bad[i%len(bad)](); r.status != 401 {
					t.Fatalf("failure %d: %d %s, want 401", i+1, r.status, r.body)
				}
			}
			for i, r := range []response{bad[0](), bad[1](), bad[2]()} {
				if r.status != 429 {
					t.Fatalf("failure %d over the budget: %d %s, want 429", failBurst+i+1, r.status, r.body)
				}
				if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > int(failRefill/time.Second) {
					t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
				}
				checkSecurityHeaders(t, r.header)
			}
			if r := good(attacker); r.status != 200 {
				t.Fatalf("a valid capability from the limited peer: %d %s, want 200", r.status, r.body)
			}
			if r := ask(attacker, "/msi/token?api-version=2019-08-01&resource=api://msi", "X-IDENTITY-HEADER", cp.Token); r.status != 200 {
				t.Fatalf("MSI with a valid capability from the limited peer: %d %s", r.status, r.body)
			}
			if r := good(owner); r.status != 200 {
				t.Fatalf("the owner: %d %s, want 200", r.status, r.body)
			}
			ownerFails := ask(owner, "/v1/token", "Authorization", "Bearer tkd1."+cp.ID+".mine")
			if want := map[bool]int{false: 401, true: 429}[tc.shared]; ownerFails.status != want {
				t.Fatalf("the owner's own failure: %d, want %d", ownerFails.status, want)
			}
			// Browser-shaped requests are refused before the limiter: still 403.
			if r := ask(attacker, "/v1/token", "Origin", "https://evil.example"); r.status != 403 {
				t.Fatalf("Origin while limited: %d", r.status)
			}

			h.clk.Advance(failRefill)
			if r := bad[0](); r.status != 401 {
				t.Fatalf("one more failure after the refill: %d, want 401", r.status)
			}
			if r := bad[0](); r.status != 429 {
				t.Fatalf("budget used up again: %d, want 429", r.status)
			}
			h.clk.Advance(failBurst * failRefill)
			for i := range failBurst {
				if r := bad[0](); r.status != 401 {
					t.Fatalf("refilled budget, failure %d: %d, want 401", i+1, r.status)
				}
			}
		})
	}
}

// TestTCPRefusesOtherUsers: where the kernel says who owns a TCP peer, a
// connection of another user is closed before a byte of it is read, a
// valid capability notwithstanding, and logged once; the owner and an
// admitted uid are served, and the audit line names their uid.
func TestTCPRefusesOtherUsers(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, harnessOpts{noRefresher: true, tcpUIDs: true, logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app", Kind: wire.CapabilityExec})
	before := h.profileStatus("app").Counters.Served
	for range 3 {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}).Dial("tcp", h.tcp)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /v1/token HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", h.tcp, cp.Token)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if len(got) != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("another user's connection got %q, %v; want it closed unanswered", got, err)
		}
	}
	if n := h.profileStatus("app").Counters.Served; n != before {
		t.Fatalf("%d tokens served to another user", n-before)
	}
	if n := strings.Count(logs.String(), `"msg":"refused TCP peer of another user","uid":4343`); n != 1 {
		t.Fatalf("%d log lines for the refused uid, want 1:\n%s", n, logs.String())
	}
	// Root (the guest) may present only `token exec`'s capabilities: those
	// of shells and files are their owner's alone (TestDatabricksKind for
	// the Databricks kind).
	own := mintCap(t, h, wire.CapabilityRequest{Profile: "app", Kind: wire.CapabilityEnv})
	req, _ := http.NewRequest("GET", "http://"+h.tcp+"/v1/token?resource=api://127.0.0.2", nil)
	req.Header.Set("Authorization", "Bearer "+own.Token)
	if r := do(t, clientFrom(t, "127.0.0.2"), req); r.status != 403 || !strings.Contains(string(r.body), "it works only for the user who minted it") {
		t.Fatalf("env capability from uid %d: %d %s", guestUID, r.status, r.body)
	}
	if !strings.Contains(logs.String(), `"msg":"capability presented by another user: refused","capability":"`+own.ID) {
		t.Fatalf("no log line for the refused capability:\n%s", logs.String())
	}
	for ip, uid := range map[string]int{"127.0.0.1": os.Getuid(), "127.0.0.2": guestUID} {
		req, _ := http.NewRequest("GET", "http://"+h.tcp+"/v1/token?resource=api://"+ip, nil)
		req.Header.Set("Authorization", "Bearer "+cp.Token)
		if r := do(t, clientFrom(t, ip), req); r.status != 200 {
			t.Fatalf("from %s: %d %s", ip, r.status, r.body)
		}
		lines := auditLines(t, logs.String())
		if got := lines[len(lines)-1]["uid"]; got != float64(uid) {
			t.Errorf("audit line of %s: uid %v, want %d", ip, got, uid)
		}
	}
}

// TestRefusalsCloseTheConnection: a 401, 403 or 429 says Connection: close
// and the daemon closes the connection after it.
func TestRefusalsCloseTheConnection(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true, tcpUIDs: true})
	cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app", Scopes: []string{"api://one/.default"}})
	for _, tc := range []struct {
		name, headers string
		status        int
	}{
		{"no capability", "", 401},
		{"Origin", "Authorization: Bearer " + cp.Token + "\r\nOrigin: https://evil.example\r\n", 403},
		{"scope not covered", "Authorization: Bearer " + cp.Token + "\r\n", 403},
		{"over the budget", "Authorization: Bearer tkd1.x.y\r\n", 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == 429 {
				for range failBurst {
					do(t, h.http, mustRequest("GET", "http://"+h.tcp+"/v1/token"))
				}
			}
			c, err := net.Dial("tcp", h.tcp)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /v1/token?resource=api://two HTTP/1.1\r\nHost: %s\r\n%s\r\n", h.tcp, tc.headers)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status || !resp.Close {
				t.Fatalf("%d, Connection: close %v; want %d and close", resp.StatusCode, resp.Close, tc.status)
			}
			if n, err := br.Read(make([]byte, 1)); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the connection stayed open: %d, %v", n, err)
			}
		})
	}
}

// tcpIdle is how many connections of peer the TCP listener counts idle.
func (h *harness) tcpIdle(peer string) int {
	h.srv.mu.Lock()
	l := h.srv.tcp
	h.srv.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle[peer]
}

// tcpIdleConn waits until the TCP listener counts the connection from
// addr idle.
func (h *harness) tcpIdleConn(addr string) {
	h.t.Helper()
	h.srv.mu.Lock()
	l := h.srv.tcp
	h.srv.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		idle := false
		for c := range l.conns {
			idle = idle || c.RemoteAddr().String() == addr && c.state == connIdle
		}
		l.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the connection from %s never went idle", addr)
		}
	}
}

// tcpDrained waits until the TCP listener holds no connection (those the
// test closed are closed on the daemon's side too).
func (h *harness) tcpDrained() {
	h.t.Helper()
	h.srv.mu.Lock()
	l := h.srv.tcp
	h.srv.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		n := len(l.conns)
		l.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d TCP connections still open", n)
		}
	}
}

func mustRequest(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// TestFailLimiter: the refusal is logged when a peer uses up its budget,
// then at most once a minute; the limiter forgets peers beyond failPeers,
// those whose budget is whole first.
func TestFailLimiter(t *testing.T) {
	clk := clock.NewFake(t0)
	l := newFailLimiter(clk)
	var warns []int
	for i := range failBurst + 70 {
		if i >= failBurst {
			clk.Advance(failRefill) // one more failure allowed each second
		}
		if l.fail("127.0.0.5") {
			warns = append(warns, i)
		}
	}
	if fmt.Sprint(warns) != fmt.Sprint([]int{failBurst - 1, failBurst - 1 + 60}) {
		t.Fatalf("warned at failures %v", warns)
	}
	l = newFailLimiter(clk)
	for i := range failPeers + 10 {
		l.fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if len(l.peers) > failPeers {
		t.Fatalf("%d peers remembered, want at most %d", len(l.peers), failPeers)
	}
	for range failBurst {
		l.fail("127.0.0.1")
	}
	clk.Advance(failBurst * failRefill)
	l.fail("127.0.0.9") // room for it: the whole ones go first
	if l.wait("127.0.0.1") != 0 {
		t.Fatal("a refilled peer is still refused")
	}
}

// TestLimitListener: at most n connections are served at once; the next
// one waits until a slot frees; Close ends a waiting Accept.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2)
	accepted := make(chan net.Conn, 3)
	done := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	<-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two are open")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	third := <-accepted
	if _, ok := third.(*limitedConn).Unwrap().(*net.TCPConn); !ok {
		t.Fatal("Unwrap does not give the TCP connection")
	}
	ln.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
	if len(ln.sem) != 2 {
		t.Fatalf("%d slots held, want 2", len(ln.sem))
	}
}

// TestTCPConnectionBound: with maxTCPConns connections held open without a
// request in flight, a request is answered at once: the longest idle
// connection is closed to make room. With maxTCPConns requests in flight
// (event streams), the next waits until one ends. An admitted uid other than the daemon's
// holds at most maxGuestConns, and a peer at most maxIdlePerPeer idle.
func TestTCPConnectionBound(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true, tcpUIDs: true})
	cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app", Kind: wire.CapabilityExec})
	ask := func(hc *http.Client) chan response {
		answered := make(chan response, 1)
		go func() {
			req, _ := http.NewRequest("GET", "http://"+h.tcp+"/v1/token", nil)
			req.Header.Set("Authorization", "Bearer "+cp.Token)
			resp, err := hc.Do(req)
			if err != nil {
				answered <- response{status: -1, body: []byte(err.Error())}
				return
			}
			resp.Body.Close()
			answered <- response{status: resp.StatusCode}
		}()
		return answered
	}
	fresh := func() *http.Client { return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} }
	// hold opens n connections from ip: idle (no request yet), or busy
	// (an event stream being served).
	hold := func(ip string, n int, busy bool) []net.Conn {
		t.Helper()
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).Dial("tcp", h.tcp)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if busy {
				fmt.Fprintf(c, "GET /v1/watch HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", h.tcp, cp.Token)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("stream %d from %s: %v %v", i, ip, resp, err)
				}
			}
			conns[i] = c
		}
		return conns
	}
	// closedWithin reports whether the daemon closed c (within d).
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	closed := func(c net.Conn) bool { return closedWithin(c, 5*time.Second) }

	t.Run("idle connections make room", func(t *testing.T) {
		conns := hold("127.0.0.1", maxTCPConns, false)
		if r := <-ask(fresh()); r.status != 200 {
			t.Fatalf("with %d idle connections: %d %s", maxTCPConns, r.status, r.body)
		}
		if !closed(conns[0]) {
			t.Fatal("the longest idle connection was not the one closed")
		}
		for _, c := range conns {
			c.Close()
		}
		h.tcpDrained()
	})

	t.Run("busy connections make the next wait", func(t *testing.T) {
		conns := hold("127.0.0.1", maxTCPConns, true)
		answered := ask(fresh())
		select {
		case r := <-answered:
			t.Fatalf("answered (%d %s) with %d requests in flight", r.status, r.body, maxTCPConns)
		case <-time.After(300 * time.Millisecond):
		}
		conns[0].Close()
		select {
		case r := <-answered:
			if r.status != 200 {
				t.Fatalf("after a slot freed: %d %s", r.status, r.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no answer after a slot freed")
		}
		for _, c := range conns {
			c.Close()
		}
		h.tcpDrained()
	})

	t.Run("a guest uid's bound", func(t *testing.T) {
		conns := hold("127.0.0.2", maxGuestConns, true)
		extra := hold("127.0.0.2", 1, false)[0]
		if !closed(extra) {
			t.Fatalf("connection %d of a guest uid was kept", maxGuestConns+1)
		}
		if r := <-ask(fresh()); r.status != 200 {
			t.Fatalf("the owner, while a guest is at its bound: %d %s", r.status, r.body)
		}
		for _, c := range conns {
			c.Close()
		}
		h.tcpDrained()
	})

	t.Run("idle connections per peer", func(t *testing.T) {
		conns := make([]net.Conn, maxIdlePerPeer+8)
		for i := range conns {
			c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).Dial("tcp", h.tcp)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /v1/token HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", h.tcp, cp.Token)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 || resp.Close {
				t.Fatalf("request %d: %v %v", i, resp, err)
			}
			resp.Body.Close()
			conns[i] = c
			// Kept alive, idle: wait until the daemon sees it so, in this order.
			h.tcpIdleConn(c.LocalAddr().String())
		}
		for i, c := range conns {
			if i < len(conns)-maxIdlePerPeer {
				if !closed(c) {
					t.Errorf("idle connection %d is open, want it closed (the longest idle)", i)
				}
			} else if closedWithin(c, 100*time.Millisecond) {
				t.Errorf("idle connection %d was closed", i)
			}
		}
		if n := h.tcpIdle("uid " + strconv.Itoa(guestUID)); n != maxIdlePerPeer {
			t.Fatalf("%d idle connections of one peer, want %d", n, maxIdlePerPeer)
		}
	})
}

// TestHeaderLimit: a request head of exactly maxHeader bytes (16 KiB, as
// documented) is read (and answered, on TCP with 401); one byte more is
// refused with 431, on both listeners.
func TestHeaderLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	head := func(host string, size int) string {
		prefix := "GET /healthz HTTP/1.1\r\nHost: " + host + "\r\nX-Pad: "
		const end = "\r\n\r\n"
		return prefix + strings.Repeat("a", size-len(prefix)-len(end)) + end
	}
	for _, tc := range []struct {
		name string
		dial func() (net.Conn, error)
		host string
	}{
		{"socket", func() (net.Conn, error) { return net.Dial("unix", h.sock) }, "tokend"},
		{"tcp", func() (net.Conn, error) { return net.Dial("tcp", h.tcp) }, h.tcp},
	} {
		for size, refused := range map[int]bool{maxHeader - 1: false, maxHeader: false, maxHeader + 1: true, 20 << 10: true} {
			c, err := tc.dial()
			if err != nil {
				t.Fatal(err)
			}
			req := head(tc.host, size)
			if len(req) != size {
				t.Fatalf("built %d bytes, want %d", len(req), size)
			}
			io.WriteString(c, req)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
			if err != nil || (resp.StatusCode == 431) != refused {
				t.Errorf("%s, a head of %d bytes: %v %v, want refused: %v", tc.name, size, resp, err, refused)
			}
		}
	}
}

// TestHeaderAndBodyLimits: oversized headers and bodies are refused.
func TestHeaderAndBodyLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	for _, tc := range []struct {
		name   string
		build  func() *http.Request
		status int
	}{
		{"64 KiB header", func() *http.Request {
			req, _ := http.NewRequest("GET", "http://tokend/v1/token?profile=app", nil)
			req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
			return req
		}, 431},
		{"64 KiB URL", func() *http.Request {
			req, _ := http.NewRequest("GET", "http://tokend/v1/token?profile=app&scope="+strings.Repeat("a", 64<<10), nil)
			return req
		}, 431},
		{"declared body over the bound", func() *http.Request {
			req, _ := http.NewRequest("POST", "http://tokend/v1/logout", strings.NewReader(strings.Repeat(" ", maxBody+1)))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, 413},
		{"chunked body over the bound", func() *http.Request {
			req, _ := http.NewRequest("POST", "http://tokend/v1/logout", io.MultiReader(strings.NewReader(`{"profile":"app"`), strings.NewReader(strings.Repeat(" ", maxBody+1)), strings.NewReader("}")))
			req.ContentLength = -1
			req.Header.Set("Content-Type", "application/json")
			return req
		}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(t, h.unix, tc.build()); r.status != tc.status {
				t.Fatalf("%d %.200s, want %d", r.status, r.body, tc.status)
			}
		})
	}
	if p := h.profileStatus("app"); p.State == wire.StateLoginRequired {
		t.Fatal("an oversized logout went through")
	}
}

// syncBuffer is a log destination read while the daemon writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// auditLines returns the "token issued" lines of a JSON log.
func auditLines(t testing.TB, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(log) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line not JSON: %q", line)
		}
		if m["msg"] == "token issued" {
			out = append(out, m)
		}
	}
	return out
}

// TestAuditLine: each token handed out, on every endpoint, is one log line
// naming the profile, the caller (uid, pid and program on the socket; the
// capability's id and peer on TCP), the scopes and the expiry, and never
// the token. The logger here does no redaction: the line itself is clean.
func TestAuditLine(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, harnessOpts{noRefresher: true, logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app"})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		hc     *http.Client
		want   map[string]any
		scopes string
	}{
		{"socket", func() *http.Request {
			req, _ := http.NewRequest("GET", "http://tokend/v1/token?profile=app&resource=api://audit", nil)
			return req
		}, h.unix, map[string]any{"via": "socket", "uid": float64(os.Getuid()), "pid": float64(os.Getpid()), "exe": self, "endpoint": "/v1/token"}, "api://audit/.default"},
		{"socket refresh", func() *http.Request {
			req, _ := http.NewRequest("POST", "http://tokend/v1/refresh", strings.NewReader(`{"profile":"app","resource":"api://audit"}`))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, h.unix, map[string]any{"via": "socket", "pid": float64(os.Getpid()), "endpoint": "/v1/refresh"}, "api://audit/.default"},
		{"tcp", func() *http.Request {
			req, _ := http.NewRequest("GET", "http://"+h.tcp+"/v1/token", nil)
			req.Header.Set("Authorization", "Bearer "+cp.Token)
			return req
		}, h.http, map[string]any{"via": "tcp", "capability": cp.ID, "endpoint": "/v1/token", "uid": float64(os.Getuid())}, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"},
		{"msi", func() *http.Request {
			req, _ := http.NewRequest("GET", "http://"+h.tcp+"/msi/token?api-version=2019-08-01&resource=api://msi", nil)
			req.Header.Set("X-IDENTITY-HEADER", cp.Token)
			return req
		}, h.http, map[string]any{"via": "tcp", "capability": cp.ID, "endpoint": "/msi/token"}, "api://msi/.default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(auditLines(t, logs.String()))
			r := do(t, tc.hc, tc.req())
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			json.Unmarshal(r.body, &tok)
			tokens = append(tokens, tok.AccessToken)
			lines := auditLines(t, logs.String())
			if len(lines) != before+1 {
				t.Fatalf("%d audit lines for one token:\n%s", len(lines)-before, logs.String())
			}
			got := lines[len(lines)-1]
			if got["profile"] != "app" || fmt.Sprint(got["scopes"]) != "["+tc.scopes+"]" {
				t.Errorf("profile/scopes: %v", got)
			}
			if exp, err := time.Parse(time.RFC3339, fmt.Sprint(got["expires_on"])); err != nil || !exp.After(h.clk.Now()) {
				t.Errorf("expires_on %v", got["expires_on"])
			}
			for k, v := range tc.want {
				if a, b := got[k], v; fmt.Sprint(a) != fmt.Sprint(b) {
					if k == "exe" {
						ea, _ := filepath.EvalSymlinks(fmt.Sprint(a))
						eb, _ := filepath.EvalSymlinks(fmt.Sprint(b))
						if ea == eb {
							continue
						}
					}
					t.Errorf("%s = %v, want %v", k, a, b)
				}
			}
			if tc.want["via"] == "tcp" && !strings.HasPrefix(fmt.Sprint(got["peer"]), "127.0.0.1:") {
				t.Errorf("peer = %v", got["peer"])
			}
		})
	}
	// The same caller asking again for the token it has is not logged again
	// (a keep-alive client polling must not put a log write on every
	// request); a new caller is.
	before := len(auditLines(t, logs.String()))
	for range 4 {
		req, _ := http.NewRequest("GET", "http://"+h.tcp+"/v1/token", nil)
		req.Header.Set("Authorization", "Bearer "+cp.Token)
		if r := do(t, h.http, req); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	// One line: the capability's last token was the /msi one.
	if n := len(auditLines(t, logs.String())); n != before+1 {
		t.Fatalf("%d audit lines for four requests of one token by one capability", n-before)
	}
	before++
	other := mintCap(t, h, wire.CapabilityRequest{Profile: "app"})
	req, _ := http.NewRequest("GET", "http://"+h.tcp+"/v1/token", nil)
	req.Header.Set("Authorization", "Bearer "+other.Token)
	do(t, h.http, req)
	if n := len(auditLines(t, logs.String())); n != before+1 {
		t.Fatalf("a new capability's first token gave %d audit lines", n-before)
	}

	// Refusals are not audited as tokens, and nothing secret is in the log.
	before = len(auditLines(t, logs.String()))
	req, _ = http.NewRequest("GET", "http://"+h.tcp+"/v1/token", nil)
	req.Header.Set("Authorization", "Bearer tkd1."+cp.ID+".guess")
	do(t, h.http, req)
	if n := len(auditLines(t, logs.String())); n != before {
		t.Fatal("a refused request was audited")
	}
	for _, s := range append(append(tokens, h.em.Issued()...), cp.Token) {
		if s != "" && strings.Contains(logs.String(), s) {
			t.Fatalf("log holds a secret (%d bytes)", len(s))
		}
	}
}

// discardWriter is the cheapest ResponseWriter, for the guard benchmark.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// guardServer is a Server with just what the guards use, in front of next.
func guardServer(clk clock.Clock, log *slog.Logger) *Server {
	return &Server{clock: clk, log: log, caps: newCapabilities(clk, nil, nil)}
}

// BenchmarkGuards measures what the guards add to a request before the
// route table: security headers, body bound, and the socket guard (peer
// uid) or the TCP guard (Host/Origin/Referer/Sec-Fetch/Upgrade/Content-Type
// checks, the failed-check limiter and the capability check: SHA-256 and a
// constant-time compare). "bare" is the same request without guards.
func BenchmarkGuards(b *testing.B) {
	s := guardServer(clock.Real{}, slog.New(slog.DiscardHandler))
	_, secret := s.caps.testMint("app", nil, time.Hour)
	served := 0
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ })
	sockCtx := context.WithValue(context.Background(), callerKey{}, &caller{socket: true, cred: peercred.Cred{UID: os.Getuid(), PID: 1}})
	for _, tc := range []struct {
		name string
		h    http.Handler
		req  *http.Request
	}{
		{"bare", next, httptest.NewRequest("GET", "http://127.0.0.1:8080/v1/token", nil)},
		{"socket", s.hardened(s.socketGuard(next)), httptest.NewRequestWithContext(sockCtx, "GET", "http://tokend/v1/token?profile=app", nil)},
		{"tcp", s.hardened(s.tcpGuard(8080, next)), func() *http.Request {
			r := httptest.NewRequest("GET", "http://127.0.0.1:8080/v1/token", nil)
			r.Header.Set("Authorization", "Bearer "+secret)
			r.Header.Set("User-Agent", "azsdk-go-azidentity/v1.8.0 (go1.26; linux)")
			r.Header.Set("Accept", "application/json")
			return r
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				tc.req.Body = http.NoBody
				tc.h.ServeHTTP(w, tc.req)
			}
		})
	}
	if served == 0 {
		b.Fatal("nothing served")
	}
}

// BenchmarkAudit measures one audit line as tokend logs it, through the
// redacting text handler, and through a bare text handler for comparison
// (io.Discard stands in for stderr).
func BenchmarkAudit(b *testing.B) {
	h := newHarness(b, harnessOpts{noRefresher: true})
	p := h.srv.profile("app")
	c := &caller{socket: true, cred: peercred.Cred{UID: os.Getuid(), PID: os.Getpid()}}
	r := httptest.NewRequestWithContext(context.WithValue(context.Background(), callerKey{}, c), "GET", "/v1/token", nil)
	scopes := []string{"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"}
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		h    slog.Handler
	}{
		{"text", slog.NewTextHandler(io.Discard, nil)},
		{"redacted", redact.NewHandler(slog.NewTextHandler(io.Discard, nil),
			"profile", "scopes", "expires_on", "endpoint", "via", "uid", "pid", "exe", "capability", "peer")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := guardServer(clock.Real{}, slog.New(tc.h))
			b.ReportAllocs()
			for b.Loop() {
				s.audit(r, p, scopes, exp)
			}
		})
	}
}

// FuzzGuards sends arbitrary requests, parsed by net/http's own parser,
// through the TCP guards in front of a handler that records what reaches
// it. Invariants: a request reaches the route table only with the
// daemon's Host, no Origin, no Referer, Sec-Fetch-Site none or absent, no
// Upgrade, a JSON body type on POST/PUT/PATCH, and the valid capability
// where its endpoint carries it; every answer carries the security
// headers; no answer echoes the capability. "CAP" in the input stands for
// the valid capability, so the fuzzer can reach the served paths.
func FuzzGuards(f *testing.F) {
	for _, seed := range []string{
		"GET /v1/token HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer CAP\r\n\r\n",
		"GET /v1/token HTTP/1.1\r\nHost: localhost:8080\r\nAuthorization: bearer CAP\r\nSec-Fetch-Site: none\r\n\r\n",
		"GET /msi/token?api-version=2019-08-01&resource=x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-IDENTITY-HEADER: CAP\r\n\r\n",
		"GET /databricks/CAP HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Databricks-Metadata-Version: 1\r\n\r\n",
		"POST /v1/token HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer CAP\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"GET /v1/token HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer CAP\r\nOrigin: https://evil.example\r\n\r\n",
		"GET /v1/token HTTP/1.1\r\nHost: evil.example:8080\r\nAuthorization: Bearer CAP\r\n\r\n",
		"GET /v1/token HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer CAP\r\nReferer: http://127.0.0.1:8080/\r\n\r\n",
		"GET /v1/watch HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer CAP\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"POST /v1/capabilities HTTP/1.1\r\nHost: [::1]:8080\r\nAuthorization: Bearer CAP\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
		"GET /v1/token HTTP/1.0\r\nAuthorization: Bearer CAP\r\n\r\n",
		"GET http://127.0.0.1:8080/v1/token HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer CAP\r\n\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s := guardServer(clock.NewFake(t0), slog.New(slog.DiscardHandler))
		_, secret := s.caps.testMint("app", nil, time.Hour)
		raw = strings.ReplaceAll(raw, "CAP", secret)
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:40000"
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
		var got *http.Request
		h := s.hardened(s.tcpGuard(8080, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r
			w.WriteHeader(299)
		})))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		checkSecurityHeaders(t, rec.Header())
		if strings.Contains(rec.Body.String(), secret) {
			t.Fatalf("answer echoes the capability: %s", rec.Body)
		}
		if got == nil {
			if rec.Code < 400 {
				t.Fatalf("refused with status %d", rec.Code)
			}
			return
		}
		hdr := req.Header
		switch host := strings.ToLower(req.Host); {
		case host != "127.0.0.1:8080" && host != "localhost:8080" && host != "[::1]:8080":
			t.Fatalf("served with Host %q", req.Host)
		case len(hdr.Values("Origin")) > 0 || len(hdr.Values("Referer")) > 0:
			t.Fatalf("served with Origin %q Referer %q", hdr.Values("Origin"), hdr.Values("Referer"))
		case len(hdr.Values("Upgrade")) > 0:
			t.Fatalf("served an upgrade to %q", hdr.Values("Upgrade"))
		}
		for _, v := range hdr.Values("Sec-Fetch-Site") {
			if v != "none" {
				t.Fatalf("served with Sec-Fetch-Site %q", v)
			}
		}
		if hasBody(req.Method) && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(hdr.Get("Content-Type"))), "application/json") {
			t.Fatalf("served %s with Content-Type %q", req.Method, hdr.Get("Content-Type"))
		}
		c := callerOf(got.Context()).cap
		if c == nil || c.profile != "app" {
			t.Fatal("served without the capability")
		}
		if p, _ := presented(req); p != secret {
			t.Fatalf("served with %q presented", p)
		}
	})
}
