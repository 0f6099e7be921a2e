package daemon

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/peercred"
)

// TestBadInput: each malformed or unknown request gets its documented code.
func TestBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown profile", "/v1/token?profile=nope", 404, wire.CodeUnknownProfile},
		{"bad escape", "/v1/token?profile=%zz", 400, wire.CodeInvalidRequest},
		{"unknown parameter", "/v1/token?profile=app&scopes=x", 400, wire.CodeInvalidRequest},
		{"profile twice", "/v1/token?profile=app&profile=user", 400, wire.CodeInvalidRequest},
		{"scope and resource", "/v1/token?profile=app&scope=a/.default&resource=b", 400, wire.CodeInvalidRequest},
		{"empty scope", "/v1/token?profile=app&scope=", 400, wire.CodeInvalidRequest},
		{"resource with .default", "/v1/token?profile=app&resource=x/.default", 400, wire.CodeInvalidRequest},
		{"no such endpoint", "/v2/token", 400, wire.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.get(tc.path)
			if r.status != tc.status || r.errCode(t) != tc.code {
				t.Fatalf("%s: %d %s, want %d %s", tc.path, r.status, r.body, tc.status, tc.code)
			}
		})
	}
	t.Run("bad login body", func(t *testing.T) {
		r := h.post("/v1/login", map[string]any{"profile": "user", "pasword": "x"})
		if r.status != 400 || r.errCode(t) != wire.CodeInvalidRequest {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	// What a request sends comes back escaped and cut, in every error.
	long := strings.Repeat("z", 8<<10)
	for _, tc := range []struct{ name, path, want string }{
		{"profile", "/v1/token?profile=a%1B%5B2Jb" + long, `no profile "a\x1b[2Jb` + strings.Repeat("z", 90) + `…" (8198 bytes)`},
		{"parameter", "/v1/token?%E2%80%AEx=1", `unknown query parameter "\u202ex"`},
		{"resource", "/v1/token?profile=app&resource=r%07/.default", `resource "r\a/.default"`},
		{"json field", "", `unknown field "pass\x1bword"`},
	} {
		t.Run("echo "+tc.name, func(t *testing.T) {
			r := h.get(tc.path)
			if tc.path == "" {
				r = h.post("/v1/login", map[string]any{"profile": "user", "pass\x1bword": "x"})
			}
			var e wire.ErrorBody
			if err := jsonDecode(bytesReader(r.body), &e); err != nil || !strings.Contains(e.Description, tc.want) {
				t.Fatalf("%d %.300s, want a description with %s", r.status, r.body, tc.want)
			}
			if len(e.Description) > 300 || strings.ContainsAny(e.Description, "\x1b\a\u202e") {
				t.Fatalf("description echoes raw or long input: %.300q", e.Description)
			}
		})
	}
	t.Run("bad capability ttl", func(t *testing.T) {
		r := h.post("/v1/capabilities", wire.CapabilityRequest{Profile: "app", TTLSeconds: -5})
		if r.status != 400 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

// TestTCPGuards sends what a web page, a DNS-rebinding attack or a stray
// process could send to the TCP listener: every one is refused before a
// token is looked at, and a valid capability works only for its profile.
func TestTCPGuards(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	var app, appScoped, user, expired wire.Capability
	for _, c := range []struct {
		dst *wire.Capability
		req wire.CapabilityRequest
	}{
		{&app, wire.CapabilityRequest{Profile: "app"}},
		{&appScoped, wire.CapabilityRequest{Profile: "app", Scopes: []string{"https://management.core.windows.net//.default"}}},
		{&user, wire.CapabilityRequest{Profile: "user"}},
		{&expired, wire.CapabilityRequest{Profile: "app", TTLSeconds: 60}},
	} {
		r := h.post("/v1/capabilities", c.req)
		if r.status != 201 {
			t.Fatalf("mint: %d %s", r.status, r.body)
		}
		if err := jsonDecode(strings.NewReader(string(r.body)), c.dst); err != nil {
			t.Fatal(err)
		}
	}
	revoked := h.post("/v1/capabilities", wire.CapabilityRequest{Profile: "app"})
	var rv wire.Capability
	jsonDecode(strings.NewReader(string(revoked.body)), &rv)
	req, _ := http.NewRequest("DELETE", "http://tokend/v1/capabilities/"+rv.ID, nil)
	if r := do(t, h.unix, req); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	h.clk.Advance(2 * time.Minute) // expires `expired`, and nothing else

	port := h.tcp[strings.LastIndex(h.tcp, ":"):]
	good := map[string]string{"Authorization": "Bearer " + app.Token}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Authorization": "Bearer " + app.Token}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		method  string // default GET
		host    string
		path    string
		headers map[string]string
		status  int
		code    string
	}{
		{name: "no capability", path: "/v1/token", status: 401, code: wire.CodeUnauthorized},
		{name: "wrong capability", path: "/v1/token", headers: map[string]string{"Authorization": "Bearer tkd1." + app.ID + ".AAAA"}, status: 401, code: wire.CodeUnauthorized},
		{name: "garbage capability", path: "/v1/token", headers: map[string]string{"Authorization": "Bearer x"}, status: 401, code: wire.CodeUnauthorized},
		{name: "basic auth", path: "/v1/token", headers: map[string]string{"Authorization": "Basic " + app.Token}, status: 401, code: wire.CodeUnauthorized},
		{name: "capability in the wrong header", path: "/v1/token", headers: map[string]string{"X-IDENTITY-HEADER": app.Token}, status: 401, code: wire.CodeUnauthorized},
		{name: "expired capability", path: "/v1/token", headers: map[string]string{"Authorization": "Bearer " + expired.Token}, status: 401, code: wire.CodeUnauthorized},
		{name: "revoked capability", path: "/v1/token", headers: map[string]string{"Authorization": "Bearer " + rv.Token}, status: 401, code: wire.CodeUnauthorized},
		{name: "capability of another profile", path: "/v1/token?profile=app", headers: map[string]string{"Authorization": "Bearer " + user.Token}, status: 403, code: wire.CodeForbidden},
		{name: "scope outside capability", path: "/v1/token", headers: map[string]string{"Authorization": "Bearer " + appScoped.Token}, status: 403, code: wire.CodeForbidden},
		{name: "Origin", path: "/v1/token", headers: with("Origin", "https://evil.example"), status: 403, code: wire.CodeForbidden},
		{name: "Origin evil.example", path: "/v1/token", headers: with("Origin", "evil.example"), status: 403, code: wire.CodeForbidden},
		{name: "Origin null", path: "/v1/token", headers: with("Origin", "null"), status: 403, code: wire.CodeForbidden},
		{name: "Origin of the daemon itself", path: "/v1/token", headers: with("Origin", "http://"+h.tcp), status: 403, code: wire.CodeForbidden},
		{name: "Origin on MSI", path: "/msi/token?api-version=2019-08-01&resource=x", headers: map[string]string{"X-IDENTITY-HEADER": app.Token, "Origin": "https://evil.example"}, status: 403},
		{name: "Origin on Databricks", path: "/databricks/" + app.Token, headers: map[string]string{"Origin": "https://evil.example", "X-Databricks-Metadata-Version": "1"}, status: 403, code: wire.CodeForbidden},
		{name: "Referer", path: "/v1/token", headers: with("Referer", "https://evil.example/x"), status: 403, code: wire.CodeForbidden},
		{name: "Sec-Fetch-Site cross-site", path: "/v1/token", headers: with("Sec-Fetch-Site", "cross-site"), status: 403, code: wire.CodeForbidden},
		{name: "Sec-Fetch-Site same-origin", path: "/v1/token", headers: with("Sec-Fetch-Site", "same-origin"), status: 403, code: wire.CodeForbidden},
		{name: "Sec-Fetch-Site empty", path: "/v1/token", headers: with("Sec-Fetch-Site", ""), status: 403, code: wire.CodeForbidden},
		{name: "websocket upgrade", path: "/v1/token", headers: with("Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), status: 403, code: wire.CodeForbidden},
		{name: "h2c upgrade", path: "/v1/token", headers: with("Upgrade", "h2c", "Connection", "Upgrade, HTTP2-Settings"), status: 403, code: wire.CodeForbidden},
		{name: "form POST", method: "POST", path: "/v1/capabilities", headers: with("Content-Type", "application/x-www-form-urlencoded"), status: 415, code: wire.CodeInvalidRequest},
		{name: "text/plain POST", method: "POST", path: "/v1/token", headers: with("Content-Type", "text/plain"), status: 415, code: wire.CodeInvalidRequest},
		{name: "multipart POST", method: "POST", path: "/v1/login", headers: with("Content-Type", "multipart/form-data; boundary=x"), status: 415, code: wire.CodeInvalidRequest},
		{name: "POST without Content-Type", method: "POST", path: "/v1/logout", headers: good, status: 415, code: wire.CodeInvalidRequest},
		{name: "JSON look-alike POST", method: "POST", path: "/v1/capabilities", headers: with("Content-Type", "application/jsonx"), status: 415, code: wire.CodeInvalidRequest},
		{name: "Host evil.example", host: "evil.example" + port, path: "/v1/token", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "Host evil.example without port", host: "evil.example", path: "/v1/token", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "Host rebinding", host: "127.0.0.1.nip.io" + port, path: "/v1/token", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "Host without port", host: "127.0.0.1", path: "/v1/token", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "Host other port", host: "127.0.0.1:1", path: "/v1/token", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "Host 0.0.0.0", host: "0.0.0.0" + port, path: "/v1/token", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "status over TCP", path: "/v1/status", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "metrics over TCP", path: "/v1/metrics", headers: good, status: 403, code: wire.CodeForbidden},
		{name: "capability minting over TCP", method: "POST", path: "/v1/capabilities", headers: with("Content-Type", "application/json"), status: 403, code: wire.CodeForbidden},
		{name: "config reload over TCP", method: "POST", path: "/v1/reload", headers: with("Content-Type", "application/json"), status: 403, code: wire.CodeForbidden},
		{name: "capability revoking over TCP", method: "DELETE", path: "/v1/capabilities/" + app.ID, headers: good, status: 403, code: wire.CodeForbidden},
		{name: "ok", path: "/v1/token", headers: good, status: 200},
		{name: "ok localhost", host: "localhost" + port, path: "/v1/token", headers: good, status: 200},
		{name: "ok LOCALHOST", host: "LOCALHOST" + port, path: "/v1/token", headers: good, status: 200},
		{name: "ok Sec-Fetch-Site none", path: "/v1/token", headers: with("Sec-Fetch-Site", "none"), status: 200},
		{name: "ok scoped capability", path: "/v1/token?resource=https://management.core.windows.net/", headers: map[string]string{"Authorization": "Bearer " + appScoped.Token}, status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			var body io.Reader
			if method == "POST" {
				body = strings.NewReader(`{"profile":"app"}`)
			}
			req, _ := http.NewRequest(method, "http://"+h.tcp+tc.path, body)
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			r := do(t, h.http, req)
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			checkSecurityHeaders(t, r.header)
			if tc.status != 200 {
				if tc.code != "" {
					if got := r.errCode(t); got != tc.code {
						t.Fatalf("code %s, want %s", got, tc.code)
					}
				}
				if strings.Contains(string(r.body), "eyJ") || strings.Contains(string(r.body), "tkd1.") {
					t.Fatal("error body carries a token or a capability")
				}
				return
			}
			if tok := r.token(t); tok.Profile != "app" || tok.AccessToken == "" {
				t.Fatalf("token = %+v", tok)
			}
		})
	}
}

// checkSecurityHeaders fails unless h keeps the response out of caches,
// content sniffing and web pages.
func checkSecurityHeaders(t testing.TB, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestTCPOnlyOnLoopback(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	ln, err := listenTCP("0.0.0.0:0")
	if err != nil {
		t.Fatalf("listen on 0.0.0.0: %v", err)
	}
	defer ln.Close()
	if err := h.srv.Run(t.Context(), ln); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Run on 0.0.0.0 = %v, want a refusal", err)
	}
}

// TestSocketGuardRefusesOtherUsers: the peer credentials the kernel reports
// decide; a process of another uid, or one that cannot be identified, gets
// 403 and no token. (The test of a real second OS user is in the security
// suite; this checks the decision itself.)
func TestSocketGuardRefusesOtherUsers(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	for _, tc := range []struct {
		name string
		c    *caller
		want int
	}{
		{"own uid", &caller{socket: true, cred: peercred.Cred{UID: os.Getuid()}}, 200},
		{"other uid", &caller{socket: true, cred: peercred.Cred{UID: os.Getuid() + 1}}, 403},
		{"root peer of a user daemon", &caller{socket: true, cred: peercred.Cred{UID: 0}}, map[bool]int{true: 200, false: 403}[os.Getuid() == 0]},
		{"unidentified", &caller{socket: true, credErr: peercred.ErrUnsupported}, 403},
		{"not a socket", &caller{}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/token?profile=app", nil)
			req = req.WithContext(context.WithValue(req.Context(), callerKey{}, tc.c))
			rec := httptest.NewRecorder()
			h.srv.socketHandler().ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 403 && strings.Contains(rec.Body.String(), "eyJ") {
				t.Fatal("refusal carries a token")
			}
		})
	}
}
