package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client"
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
		{"unknown profile", "/v1/token?profile=nope", 404, client.CodeUnknownProfile},
		{"bad escape", "/v1/token?profile=%zz", 400, client.CodeInvalidRequest},
		{"unknown parameter", "/v1/token?profile=app&scopes=x", 400, client.CodeInvalidRequest},
		{"profile twice", "/v1/token?profile=app&profile=user", 400, client.CodeInvalidRequest},
		{"scope and resource", "/v1/token?profile=app&scope=a/.default&resource=b", 400, client.CodeInvalidRequest},
		{"empty scope", "/v1/token?profile=app&scope=", 400, client.CodeInvalidRequest},
		{"resource with .default", "/v1/token?profile=app&resource=x/.default", 400, client.CodeInvalidRequest},
		{"no such endpoint", "/v2/token", 400, client.CodeInvalidRequest},
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
		if r.status != 400 || r.errCode(t) != client.CodeInvalidRequest {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("bad capability ttl", func(t *testing.T) {
		r := h.post("/v1/capabilities", client.CapabilityRequest{Profile: "app", TTLSeconds: -5})
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
	var app, appScoped, user, expired client.Capability
	for _, c := range []struct {
		dst *client.Capability
		req client.CapabilityRequest
	}{
		{&app, client.CapabilityRequest{Profile: "app"}},
		{&appScoped, client.CapabilityRequest{Profile: "app", Scopes: []string{"https://management.core.windows.net//.default"}}},
		{&user, client.CapabilityRequest{Profile: "user"}},
		{&expired, client.CapabilityRequest{Profile: "app", TTLSeconds: 60}},
	} {
		r := h.post("/v1/capabilities", c.req)
		if r.status != 201 {
			t.Fatalf("mint: %d %s", r.status, r.body)
		}
		if err := jsonDecode(strings.NewReader(string(r.body)), c.dst); err != nil {
			t.Fatal(err)
		}
	}
	revoked := h.post("/v1/capabilities", client.CapabilityRequest{Profile: "app"})
	var rv client.Capability
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
		host    string
		path    string
		headers map[string]string
		status  int
		code    string
	}{
		{"no capability", "", "/v1/token", nil, 401, client.CodeUnauthorized},
		{"wrong capability", "", "/v1/token", map[string]string{"Authorization": "Bearer tkd1." + app.ID + ".AAAA"}, 401, client.CodeUnauthorized},
		{"garbage capability", "", "/v1/token", map[string]string{"Authorization": "Bearer x"}, 401, client.CodeUnauthorized},
		{"basic auth", "", "/v1/token", map[string]string{"Authorization": "Basic " + app.Token}, 401, client.CodeUnauthorized},
		{"expired capability", "", "/v1/token", map[string]string{"Authorization": "Bearer " + expired.Token}, 401, client.CodeUnauthorized},
		{"revoked capability", "", "/v1/token", map[string]string{"Authorization": "Bearer " + rv.Token}, 401, client.CodeUnauthorized},
		{"capability of another profile", "", "/v1/token?profile=app", map[string]string{"Authorization": "Bearer " + user.Token}, 403, client.CodeForbidden},
		{"scope outside capability", "", "/v1/token", map[string]string{"Authorization": "Bearer " + appScoped.Token}, 403, client.CodeForbidden},
		{"Origin", "", "/v1/token", with("Origin", "https://evil.example"), 403, client.CodeForbidden},
		{"Referer", "", "/v1/token", with("Referer", "https://evil.example/x"), 403, client.CodeForbidden},
		{"Sec-Fetch-Site cross-site", "", "/v1/token", with("Sec-Fetch-Site", "cross-site"), 403, client.CodeForbidden},
		{"Sec-Fetch-Site same-origin", "", "/v1/token", with("Sec-Fetch-Site", "same-origin"), 403, client.CodeForbidden},
		{"Host evil.example", "evil.example" + port, "/v1/token", good, 403, client.CodeForbidden},
		{"Host rebinding", "127.0.0.1.nip.io" + port, "/v1/token", good, 403, client.CodeForbidden},
		{"Host without port", "127.0.0.1", "/v1/token", good, 403, client.CodeForbidden},
		{"Host other port", "127.0.0.1:1", "/v1/token", good, 403, client.CodeForbidden},
		{"status over TCP", "", "/v1/status", good, 403, client.CodeForbidden},
		{"capability minting over TCP", "", "/v1/capabilities", good, 403, client.CodeForbidden},
		{"ok", "", "/v1/token", good, 200, ""},
		{"ok localhost", "localhost" + port, "/v1/token", good, 200, ""},
		{"ok Sec-Fetch-Site none", "", "/v1/token", with("Sec-Fetch-Site", "none"), 200, ""},
		{"ok scoped capability", "", "/v1/token?resource=https://management.core.windows.net/", map[string]string{"Authorization": "Bearer " + appScoped.Token}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.path == "/v1/capabilities" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, "http://"+h.tcp+tc.path, nil)
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
			if tc.code != "" {
				if got := r.errCode(t); got != tc.code {
					t.Fatalf("code %s, want %s", got, tc.code)
				}
				if strings.Contains(string(r.body), "eyJ") {
					t.Fatal("error body carries a token")
				}
				return
			}
			if tok := r.token(t); tok.Profile != "app" || tok.AccessToken == "" {
				t.Fatalf("token = %+v", tok)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Error("token response is cacheable")
			}
		})
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
			h.srv.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 403 && strings.Contains(rec.Body.String(), "eyJ") {
				t.Fatal("refusal carries a token")
			}
		})
	}
}
