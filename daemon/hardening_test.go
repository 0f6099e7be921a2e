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
// checks is answered 429 with Retry-After, without a look at what it
// presents (a valid capability too), until the daemon's clock refills its
// budget; another peer address is not affected.
func TestFailedCapabilityRateLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app"})
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
	}).DialContext}}
	defer other.CloseIdleConnections()

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
		func() response { return ask(h.http, "/v1/token", "Authorization", "Bearer tkd1."+cp.ID+".guess") },
		func() response { return ask(h.http, "/msi/token", "X-IDENTITY-HEADER", "guess") },
		func() response { return ask(h.http, "/databricks/tkd1.guess", "", "") },
		func() response { return ask(h.http, "/v1/token", "", "") },
	}
	for i := range failBurst {
		if r := bad[i%len(bad)](); r.status != 401 {
			t.Fatalf("failure %d: %d %s, want 401", i+1, r.status, r.body)
		}
	}
	for _, tc := range []struct {
		name string
		r    response
	}{
		{"next failure", bad[0]()},
		{"valid capability from the same peer", good(h.http)},
		{"MSI from the same peer", ask(h.http, "/msi/token?api-version=2019-08-01&resource=x", "X-IDENTITY-HEADER", cp.Token)},
	} {
		if tc.r.status != 429 {
			t.Fatalf("%s: %d %s, want 429", tc.name, tc.r.status, tc.r.body)
		}
		if ra, err := strconv.Atoi(tc.r.header.Get("Retry-After")); err != nil || ra < 1 || ra > int(failRefill/time.Second) {
			t.Fatalf("%s: Retry-After %q", tc.name, tc.r.header.Get("Retry-After"))
		}
		checkSecurityHeaders(t, tc.r.header)
	}
	if r := good(other); r.status != 200 {
		t.Fatalf("another peer address: %d %s, want 200", r.status, r.body)
	}
	// Browser-shaped requests are refused before the limiter: still 403.
	if r := ask(h.http, "/v1/token", "Origin", "https://evil.example"); r.status != 403 {
		t.Fatalf("Origin while limited: %d", r.status)
	}

	h.clk.Advance(failRefill)
	if r := good(h.http); r.status != 200 {
		t.Fatalf("after the refill: %d %s, want 200", r.status, r.body)
	}
	if r := bad[0](); r.status != 401 {
		t.Fatalf("one more failure after the refill: %d, want 401", r.status)
	}
	if r := good(h.http); r.status != 429 {
		t.Fatalf("budget used up again: %d, want 429", r.status)
	}
	h.clk.Advance(failBurst * failRefill)
	for i := range failBurst - 1 {
		if r := bad[0](); r.status != 401 {
			t.Fatalf("refilled budget, failure %d: %d, want 401", i+1, r.status)
		}
	}
	if r := good(h.http); r.status != 200 {
		t.Fatalf("within the refilled budget: %d, want 200", r.status)
	}
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

// TestTCPConnectionBound: with maxTCPConns connections open, the daemon
// answers the next request only once one of them closes.
func TestTCPConnectionBound(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	cp := mintCap(t, h, wire.CapabilityRequest{Profile: "app"})
	conns := make([]net.Conn, maxTCPConns)
	for i := range conns {
		c, err := net.Dial("tcp", h.tcp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	answered := make(chan response, 1)
	go func() {
		hc := &http.Client{Transport: &http.Transport{}}
		defer hc.CloseIdleConnections()
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
	select {
	case r := <-answered:
		t.Fatalf("answered (%d %s) with %d connections open", r.status, r.body, maxTCPConns)
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
		}, h.http, map[string]any{"via": "tcp", "capability": cp.ID, "endpoint": "/v1/token"}, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"},
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
	return &Server{clock: clk, log: log, caps: newCapabilities(clk)}
}

// BenchmarkGuards measures what the guards add to a request before the
// route table: security headers, body bound, and the socket guard (peer
// uid) or the TCP guard (Host/Origin/Referer/Sec-Fetch/Upgrade/Content-Type
// checks, the failed-check limiter and the capability check: SHA-256 and a
// constant-time compare). "bare" is the same request without guards.
func BenchmarkGuards(b *testing.B) {
	s := guardServer(clock.Real{}, slog.New(slog.DiscardHandler))
	_, secret := s.caps.mint("app", nil, time.Hour)
	served := 0
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ })
	sockCtx := context.WithValue(context.Background(), callerKey{}, &caller{socket: true, cred: peercred.Cred{UID: os.Getuid(), PID: 1}})
	for _, tc := range []struct {
		name string
		h    http.Handler
		req  *http.Request
	}{
		{"bare", next, httptest.NewRequest("GET", "http://127.0.0.1:8080/v1/token", nil)},
		{"socket", hardened(s.socketGuard(next)), httptest.NewRequestWithContext(sockCtx, "GET", "http://tokend/v1/token?profile=app", nil)},
		{"tcp", hardened(s.tcpGuard(8080, next)), func() *http.Request {
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
		_, secret := s.caps.mint("app", nil, time.Hour)
		raw = strings.ReplaceAll(raw, "CAP", secret)
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:40000"
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
		var got *http.Request
		h := hardened(s.tcpGuard(8080, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
