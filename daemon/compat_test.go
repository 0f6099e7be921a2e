package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/entra"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/store"
)

const (
	dbxHost     = "https://adb-1234567890123456.7.azuredatabricks.net"
	dbxHost2    = "https://adb-2222222222222222.2.azuredatabricks.net"
	accountHost = "https://accounts.azuredatabricks.net"
	mgmt        = "https://management.azure.com"
	dbxScope    = config.DatabricksScope
)

// compatServer is a second daemon on a harness's emulator, clock and store,
// whose profile "dbx" has a Databricks workspace. "app" has none and "user"
// is not signed in.
type compatServer struct {
	srv  *Server
	tcp  string
	unix *http.Client
}

func newCompatServer(t testing.TB, h *harness) *compatServer {
	t.Helper()
	return newCompatServerOn(t, h, nil)
}

// newCompatServerOn is newCompatServer keeping its capabilities in caps.
func newCompatServerOn(t testing.TB, h *harness, caps SecretStore) *compatServer {
	t.Helper()
	ca := emutest.CAFile(t, h.em)
	auth := h.em.Authority()
	cfg, err := config.Parse("compat.toml", []byte(
		emutest.Profile("dbx", flow.ClientSecret, auth, ca,
			fmt.Sprintf("databricks_host = %q", dbxHost+"/"),
			fmt.Sprintf("databricks_hosts = [%q, %q]", accountHost, dbxHost2),
			`databricks_account_id = "0f0e0d0c-0b0a-4909-8807-060504030201"`)+
			emutest.Profile("app", flow.ClientSecret, auth, ca)+
			emutest.Profile("user", flow.Password, auth, ca)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.Set(t.Context(), "profile/dbx/client-secret", []byte(entraemu.ClientSecret)); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		Config: cfg, Store: h.store, Clock: h.clk, Version: "test", Capabilities: caps,
		Sources: func(p *config.Profile) (Source, error) {
			return entra.New(p, entra.Options{Secrets: h.store, Clock: h.clk})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	sock, err := os.MkdirTemp("", "tkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	sock = filepath.Join(sock, "c.sock")
	sl, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, ln := range []net.Listener{sl, tl} {
		go srv.Run(ctx, ln)
	}
	c := &compatServer{srv: srv, tcp: tl.Addr().String(), unix: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}}
	t.Cleanup(c.unix.CloseIdleConnections)
	return c
}

// mint makes a capability over the socket of hc.
func mint(t testing.TB, hc *http.Client, req wire.CapabilityRequest) wire.Capability {
	t.Helper()
	b, _ := json.Marshal(req)
	hr, _ := http.NewRequest("POST", "http://tokend/v1/capabilities", strings.NewReader(string(b)))
	r := do(t, hc, hr)
	if r.status != 201 {
		t.Fatalf("mint: %d %s", r.status, r.body)
	}
	var c wire.Capability
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func revoke(t *testing.T, hc *http.Client, id string) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", "http://tokend/v1/capabilities/"+id, nil)
	if r := do(t, hc, req); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
}

// msiBody checks the App Service error shape and returns its status code.
func msiBody(t *testing.T, r response) int {
	t.Helper()
	var e struct {
		StatusCode *int    `json:"statusCode"`
		Message    *string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.StatusCode == nil || e.Message == nil || *e.Message == "" {
		t.Fatalf("not an App Service error body (status %d): %s", r.status, r.body)
	}
	if *e.StatusCode != r.status {
		t.Fatalf("statusCode %d in a %d answer", *e.StatusCode, r.status)
	}
	return *e.StatusCode
}

// TestMSI speaks the App Service managed-identity protocol over TCP, as the
// Azure SDKs and MSAL do, and each protocol edge.
func TestMSI(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	app := mint(t, h.unix, wire.CapabilityRequest{Profile: "app"})
	user := mint(t, h.unix, wire.CapabilityRequest{Profile: "user"})
	scoped := mint(t, h.unix, wire.CapabilityRequest{Profile: "app", Scopes: []string{dbxScope}})
	gone := mint(t, h.unix, wire.CapabilityRequest{Profile: "app"})
	revoke(t, h.unix, gone.ID)
	port := h.tcp[strings.LastIndex(h.tcp, ":"):]

	q := "/msi/token?api-version=2019-08-01&resource="
	for _, tc := range []struct {
		name     string
		path     string
		header   map[string]string
		host     string
		status   int
		resource string // on success
	}{
		{"management", q + mgmt, map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 200, mgmt},
		{"databricks guid", q + "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 200, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"},
		{"client_id from AZURE_CLIENT_ID ignored", q + mgmt + "&client_id=11111111-2222-3333-4444-555555555555", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 200, mgmt},
		{"mi_res_id ignored", q + mgmt + "&mi_res_id=/subscriptions/x/rg/y", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 200, mgmt},
		{"object_id ignored", q + mgmt + "&object_id=o", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 200, mgmt},
		{"principal_id ignored", q + mgmt + "&principal_id=p", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 200, mgmt},
		{"scoped capability, its resource", q + "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", map[string]string{"X-IDENTITY-HEADER": scoped.Token}, "", 200, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"},
		{"localhost", q + mgmt, map[string]string{"X-IDENTITY-HEADER": app.Token}, "localhost" + port, 200, mgmt},

		{"no header", q + mgmt, nil, "", 401, ""},
		{"Bearer is not the MSI header", q + mgmt, map[string]string{"Authorization": "Bearer " + app.Token}, "", 401, ""},
		{"wrong secret", q + mgmt, map[string]string{"X-IDENTITY-HEADER": "tkd1." + app.ID + ".AAAA"}, "", 401, ""},
		{"revoked", q + mgmt, map[string]string{"X-IDENTITY-HEADER": gone.Token}, "", 401, ""},
		{"Origin", q + mgmt, map[string]string{"X-IDENTITY-HEADER": app.Token, "Origin": "https://evil.example"}, "", 403, ""},
		{"Sec-Fetch-Site", q + mgmt, map[string]string{"X-IDENTITY-HEADER": app.Token, "Sec-Fetch-Site": "cross-site"}, "", 403, ""},
		{"foreign Host", q + mgmt, map[string]string{"X-IDENTITY-HEADER": app.Token}, "evil.example" + port, 403, ""},
		{"scope outside capability", q + mgmt, map[string]string{"X-IDENTITY-HEADER": scoped.Token}, "", 403, ""},
		{"wrong api-version", "/msi/token?api-version=2017-09-01&resource=" + mgmt, map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 400, ""},
		{"no api-version", "/msi/token?resource=" + mgmt, map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 400, ""},
		{"no resource", "/msi/token?api-version=2019-08-01", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 400, ""},
		{"resource twice", q + mgmt + "&resource=x", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 400, ""},
		{"resource with /.default", q + mgmt + "/.default", map[string]string{"X-IDENTITY-HEADER": app.Token}, "", 400, ""},
		{"profile not signed in", q + mgmt, map[string]string{"X-IDENTITY-HEADER": user.Token}, "", 409, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+h.tcp+tc.path, nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			r := do(t, h.http, req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				msiBody(t, r)
				if strings.Contains(string(r.body), "eyJ") || strings.Contains(string(r.body), app.Token) {
					t.Fatal("error body carries a secret")
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"access_token", "expires_on", "expires_in", "resource", "token_type", "client_id"} {
				if _, ok := m[k].(string); !ok {
					t.Errorf("%s = %#v, want a string", k, m[k])
				}
			}
			for _, k := range []string{"expires_on", "expires_in"} {
				if s, _ := m[k].(string); !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(s) {
					t.Errorf("%s = %q, want an integer string", k, s)
				}
			}
			if m["resource"] != tc.resource || m["token_type"] != "Bearer" || m["client_id"] != entraemu.ConfidentialClientID {
				t.Errorf("answer = %v", m)
			}
			if aud := claims(t, m["access_token"].(string))["aud"]; aud != tc.resource {
				t.Errorf("aud = %v, want %s", aud, tc.resource)
			}
		})
	}

	t.Run("provider down, no valid token: retryable 503", func(t *testing.T) {
		h.clk.Advance(3 * time.Hour)
		h.em.FailNext(1000, entraemu.Fault{Status: 503, RetryAfter: 30 * time.Second})
		defer h.em.FailNext(0, entraemu.Fault{})
		req, _ := http.NewRequest("GET", "http://"+h.tcp+q+mgmt, nil)
		req.Header.Set("X-IDENTITY-HEADER", app.Token)
		r := do(t, h.http, req)
		if r.status != 503 || msiBody(t, r) != 503 || r.header.Get("Retry-After") == "" {
			t.Fatalf("%d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
		}
	})
	t.Run("on the socket", func(t *testing.T) {
		r := h.get(q + mgmt)
		if r.status != 403 || msiBody(t, r) != 403 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("MSI header on /v1/token", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+h.tcp+"/v1/token", nil)
		req.Header.Set("X-IDENTITY-HEADER", app.Token)
		if r := do(t, h.http, req); r.status != 401 || r.errCode(t) != wire.CodeUnauthorized {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

// TestDatabricksMetadataService speaks the Databricks metadata-service
// protocol (version 1) and each of its edges.
func TestDatabricksMetadataService(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	c := newCompatServer(t, h)
	dbx := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx"})
	mgmtOnly := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx", Scopes: []string{mgmt + "/.default"}})
	app := mint(t, c.unix, wire.CapabilityRequest{Profile: "app"})
	gone := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx"})
	revoke(t, c.unix, gone.ID)
	file := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks, Label: "databricks dbx"})
	narrow := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks, Hosts: []string{dbxHost}})
	hc := &http.Client{}
	defer hc.CloseIdleConnections()

	ok := map[string]string{"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": dbxHost}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": dbxHost}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		status  int
		code    string
	}{
		{"ok", "GET", "/databricks/" + dbx.Token, ok, 200, ""},
		{"host with slash and capitals", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", "https://ADB-1234567890123456.7.azuredatabricks.net/"), 200, ""},
		{"host without scheme", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", "adb-1234567890123456.7.azuredatabricks.net"), 200, ""},
		{"another workspace of the profile", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", dbxHost2), 200, ""},
		{"the account console", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", accountHost), 200, ""},
		{"Databricks capability, workspace", "GET", "/databricks/" + file.Token, ok, 200, ""},
		{"Databricks capability, account console", "GET", "/databricks/" + file.Token, with("X-Databricks-Host", accountHost), 200, ""},
		{"Databricks capability for one host, another", "GET", "/databricks/" + narrow.Token, with("X-Databricks-Host", accountHost), 403, wire.CodeForbidden},
		{"Databricks capability for one host, its own", "GET", "/databricks/" + narrow.Token, ok, 200, ""},
		{"Databricks capability on /v1/token", "GET", "/v1/token", with("Authorization", "Bearer "+file.Token), 403, wire.CodeForbidden},
		{"Databricks capability on /v1/watch", "GET", "/v1/watch", with("Authorization", "Bearer "+file.Token), 403, wire.CodeForbidden},
		{"another account host", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", "https://accounts.cloud.databricks.com"), 403, wire.CodeForbidden},

		{"wrong version", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Metadata-Version", "2"), 400, wire.CodeInvalidRequest},
		{"missing version", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Metadata-Version", ""), 400, wire.CodeInvalidRequest},
		{"missing host", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", ""), 400, wire.CodeInvalidRequest},
		{"wrong host", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", "https://adb-666.azuredatabricks.net"), 403, wire.CodeForbidden},
		{"host on another port", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", dbxHost+":8443"), 403, wire.CodeForbidden},
		{"http host", "GET", "/databricks/" + dbx.Token, with("X-Databricks-Host", "http://adb-1234567890123456.7.azuredatabricks.net"), 403, wire.CodeForbidden},
		{"revoked capability", "GET", "/databricks/" + gone.Token, ok, 401, wire.CodeUnauthorized},
		{"wrong secret", "GET", "/databricks/tkd1." + dbx.ID + ".AAAA", ok, 401, wire.CodeUnauthorized},
		{"no capability", "GET", "/databricks/", ok, 401, wire.CodeUnauthorized},
		{"capability as Bearer", "GET", "/databricks/x", with("Authorization", "Bearer "+dbx.Token), 401, wire.CodeUnauthorized},
		{"extra path segment", "GET", "/databricks/" + dbx.Token + "/x", ok, 401, wire.CodeUnauthorized},
		{"profile without databricks_host", "GET", "/databricks/" + app.Token, ok, 400, wire.CodeInvalidRequest},
		{"capability without Databricks scope", "GET", "/databricks/" + mgmtOnly.Token, ok, 403, wire.CodeForbidden},
		{"POST", "POST", "/databricks/" + dbx.Token, with("Content-Type", "application/json"), 405, wire.CodeInvalidRequest},
		{"Referer", "GET", "/databricks/" + dbx.Token, with("Referer", "https://evil.example/"), 403, wire.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://"+c.tcp+tc.path, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			r := do(t, hc, req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" {
				if got := r.errCode(t); got != tc.code {
					t.Fatalf("code %s, want %s", got, tc.code)
				}
				for _, secret := range []string{"eyJ", dbx.Token, gone.Token, app.Token, mgmtOnly.Token, file.Token, narrow.Token} {
					if strings.Contains(string(r.body), secret) {
						t.Fatalf("error body carries a secret: %s", r.body)
					}
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatal(err)
			}
			if len(m) != 3 || m["token_type"] != "Bearer" {
				t.Errorf("answer = %v", m)
			}
			exp, isNumber := m["expires_on"].(float64)
			if !isNumber || exp != float64(int64(exp)) || time.Unix(int64(exp), 0).Before(h.clk.Now().Add(10*time.Minute)) {
				t.Errorf("expires_on = %#v, want an integer JSON number in the future", m["expires_on"])
			}
			if aud := claims(t, m["access_token"].(string))["aud"]; aud != "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d" {
				t.Errorf("aud = %v", aud)
			}
		})
	}
	t.Run("on the socket", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://tokend/databricks/"+dbx.Token, nil)
		for k, v := range ok {
			req.Header.Set(k, v)
		}
		if r := do(t, c.unix, req); r.status != 403 || r.errCode(t) != wire.CodeForbidden {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("a Databricks capability on the managed-identity endpoint", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+c.tcp+"/msi/token?api-version=2019-08-01&resource="+mgmt, nil)
		req.Header.Set("X-IDENTITY-HEADER", file.Token)
		if r := do(t, hc, req); r.status != 403 || msiBody(t, r) != 403 || !strings.Contains(string(r.body), "Databricks metadata service only") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("minting a Databricks capability", func(t *testing.T) {
		for _, tc := range []struct {
			req  wire.CapabilityRequest
			want string
		}{
			{wire.CapabilityRequest{Profile: "app", Kind: wire.CapabilityDatabricks}, "profile app has no Databricks host"},
			{wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks, Hosts: []string{"https://adb-3.azuredatabricks.net"}}, "is not one of profile dbx's Databricks hosts"},
			{wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks, Scopes: []string{mgmt + "/.default"}}, "give no scopes"},
			{wire.CapabilityRequest{Profile: "dbx", Kind: "sudo"}, "want env, exec or databricks"},
			{wire.CapabilityRequest{Profile: "dbx", Label: "a\x1b[31mred"}, "printable"},
			{wire.CapabilityRequest{Profile: "dbx", Label: strings.Repeat("x", 129)}, "at most 128 bytes"},
			{wire.CapabilityRequest{Profile: "dbx", TTLSeconds: 367 * 86400}, "ttl_seconds must be between"},
		} {
			b, _ := json.Marshal(tc.req)
			hr, _ := http.NewRequest("POST", "http://tokend/v1/capabilities", strings.NewReader(string(b)))
			if r := do(t, c.unix, hr); r.status != 400 || !strings.Contains(string(r.body), tc.want) {
				t.Errorf("%+v: %d %s, want 400 %q", tc.req, r.status, r.body, tc.want)
			}
		}
	})
	t.Run("status names the workspace", func(t *testing.T) {
		for _, p := range c.srv.status().Profiles {
			if want := map[string]string{"dbx": dbxHost}[p.Name]; p.DatabricksHost != want {
				t.Errorf("%s: databricks_host %q, want %q", p.Name, p.DatabricksHost, want)
			}
		}
	})
}

// TestRefreshRejected: POST /v1/refresh (git's "erase") replaces a token
// once, however many callers report the same rejected token.
func TestRefreshRejected(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	first := h.get("/v1/token?profile=app").token(t)
	sum := func(s string) string { b := sha256.Sum256([]byte(s)); return hex.EncodeToString(b[:]) }

	h.em.ResetCounts()
	const n = 50
	toks := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, _ := json.Marshal(wire.RefreshRequest{Profile: "app", RejectedSHA256: sum(first.AccessToken)})
			req, _ := http.NewRequest("POST", "http://tokend/v1/refresh", strings.NewReader(string(b)))
			resp, err := h.unix.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var tok wire.Token
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&tok) != nil {
				t.Errorf("status %d", resp.StatusCode)
			}
			toks[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if got := h.em.Counts()["client_credentials"]; got != 1 {
		t.Fatalf("%d callers reporting one rejected token caused %d token requests, want 1", n, got)
	}
	for i, tok := range toks {
		if tok == first.AccessToken || tok != toks[0] {
			t.Fatalf("caller %d got the rejected or a different token", i)
		}
	}
	if got := h.get("/v1/token?profile=app").token(t); got.AccessToken != toks[0] {
		t.Fatal("GET /v1/token does not serve the replacement")
	}

	for _, tc := range []struct {
		name     string
		req      wire.RefreshRequest
		status   int
		requests int // to the identity provider
	}{
		{"no rejected token: always refresh", wire.RefreshRequest{Profile: "app"}, 200, 1},
		{"scopes", wire.RefreshRequest{Profile: "app", Resource: mgmt}, 200, 1},
		{"unknown token: serve current", wire.RefreshRequest{Profile: "app", RejectedSHA256: sum("x")}, 200, 0},
		{"bad hash", wire.RefreshRequest{Profile: "app", RejectedSHA256: "abc"}, 400, 0},
		{"unknown profile", wire.RefreshRequest{Profile: "nope"}, 404, 0},
		{"not signed in", wire.RefreshRequest{Profile: "user"}, 409, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.get("/v1/token?profile=app&resource=" + mgmt)
			h.em.ResetCounts()
			r := h.post("/v1/refresh", tc.req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := h.em.Counts()["client_credentials"]; got != tc.requests {
				t.Fatalf("%d token requests, want %d", got, tc.requests)
			}
		})
	}
	t.Run("provider backing off: no new request", func(t *testing.T) {
		total := func() (n int) {
			for _, v := range h.em.Counts() {
				n += v
			}
			return n
		}
		h.em.FailNext(1, entraemu.Fault{Status: 503, RetryAfter: time.Minute})
		defer h.em.FailNext(0, entraemu.Fault{})
		if r := h.post("/v1/refresh", wire.RefreshRequest{Profile: "app"}); r.status != 503 {
			t.Fatalf("provider down: %d %s", r.status, r.body)
		}
		before := total()
		r := h.post("/v1/refresh", wire.RefreshRequest{Profile: "app"})
		if r.status != 503 || r.header.Get("Retry-After") == "" || total() != before {
			t.Fatalf("during backoff: %d %s, %d more provider requests", r.status, r.body, total()-before)
		}
		h.clk.Advance(backoffMax + time.Minute)
		if r := h.post("/v1/refresh", wire.RefreshRequest{Profile: "app"}); r.status != 200 {
			t.Fatalf("after backoff: %d %s", r.status, r.body)
		}
	})
	t.Run("not on TCP", func(t *testing.T) {
		c := mint(t, h.unix, wire.CapabilityRequest{Profile: "app"})
		req, _ := http.NewRequest("POST", "http://"+h.tcp+"/v1/refresh", strings.NewReader(`{"profile":"app"}`))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Content-Type", "application/json")
		if r := do(t, h.http, req); r.status != 403 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

// BenchmarkCompat measures a cached token through each compatibility
// endpoint over TCP, as SDKs call them.
func BenchmarkCompat(b *testing.B) {
	h := newHarness(b, harnessOpts{noRefresher: true})
	c := newCompatServer(b, h)
	cp := mint(b, c.unix, wire.CapabilityRequest{Profile: "dbx"})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer hc.CloseIdleConnections()
	for _, tc := range []struct {
		name, path string
		header     map[string]string
	}{
		{"msi", "/msi/token?api-version=2019-08-01&resource=" + mgmt, map[string]string{"X-IDENTITY-HEADER": cp.Token}},
		{"databricks", "/databricks/" + cp.Token, map[string]string{"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": dbxHost}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", "http://"+c.tcp+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if r := do(b, hc, req); r.status != 200 {
				b.Fatalf("%d %s", r.status, r.body)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// TestHostOfBoundAddress: a daemon bound to another loopback address (say
// 127.0.0.2) accepts that address as Host, and still no other.
func TestHostOfBoundAddress(t *testing.T) {
	hosts := map[string]bool{"127.0.0.1:4000": true, "localhost:4000": true, "[::1]:4000": true}
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 4000}
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.2:4000", true},
		{"127.0.0.1:4000", true},
		{"127.0.0.3:4000", false},
		{"127.0.0.2:4001", false},
		{"127.0.0.2", false},
		{"evil.example:4000", false},
	} {
		req := httptest.NewRequest("GET", "/v1/token", nil)
		req.Host = tc.host
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, bound))
		if err := browserCheck(req, hosts); (err == nil) != tc.ok {
			t.Errorf("Host %s: %v, want ok=%v", tc.host, err, tc.ok)
		}
	}
}

// TestCapabilityList: GET /v1/capabilities (socket only) describes each live
// capability, never its secret, with its last use; revoking an unknown id
// says what to do.
func TestCapabilityList(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	c := newCompatServer(t, h)
	file := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks, Label: "databricks dbx in /home/me/.databrickscfg", TTLSeconds: 90 * 86400})
	env := mint(t, c.unix, wire.CapabilityRequest{Profile: "app", Label: "env"})
	h.clk.Advance(time.Minute)
	req, _ := http.NewRequest("GET", "http://"+c.tcp+"/databricks/"+file.Token, nil)
	req.Header.Set("X-Databricks-Metadata-Version", "1")
	req.Header.Set("X-Databricks-Host", accountHost)
	if r := do(t, &http.Client{}, req); r.status != 200 {
		t.Fatalf("use: %d %s", r.status, r.body)
	}

	r := c.get(t, "/v1/capabilities")
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	for _, secret := range []string{file.Token, env.Token} {
		if strings.Contains(string(r.body), secret[strings.LastIndex(secret, ".")+1:]) {
			t.Fatal("the list shows a secret")
		}
	}
	var l wire.CapabilityList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Capabilities) != 2 || l.Store != "memory" || !strings.Contains(l.Warning, "memory store") {
		t.Fatalf("list = %+v", l)
	}
	got := l.Capabilities[1] // sorted by profile: app, dbx
	if got.ID != file.ID || got.Kind != "databricks" || got.Label != file.Label || got.Profile != "dbx" ||
		strings.Join(got.Hosts, " ") != dbxHost+" "+accountHost+" "+dbxHost2 || got.UID == nil || *got.UID != os.Getuid() ||
		got.LastUsed != h.clk.Now().Unix() || got.ExpiresOn != got.CreatedOn+90*86400 {
		t.Fatalf("entry = %+v (uid %v)", got, got.UID)
	}
	if l.Capabilities[0].ID != env.ID || l.Capabilities[0].LastUsed != 0 || l.Capabilities[0].Kind != "env" {
		t.Fatalf("entry = %+v", l.Capabilities[0])
	}

	req, _ = http.NewRequest("DELETE", "http://tokend/v1/capabilities/0123456789abcdef", nil)
	if r := do(t, c.unix, req); r.status != 404 || !strings.Contains(string(r.body), "token capabilities list") {
		t.Fatalf("revoke unknown: %d %s", r.status, r.body)
	}
	req, _ = http.NewRequest("GET", "http://"+c.tcp+"/v1/capabilities", nil)
	req.Header.Set("Authorization", "Bearer "+env.Token)
	if r := do(t, &http.Client{}, req); r.status != 403 {
		t.Fatalf("list on TCP: %d %s", r.status, r.body)
	}
}

func (c *compatServer) get(t *testing.T, path string) response {
	req, _ := http.NewRequest("GET", "http://tokend"+path, nil)
	return do(t, c.unix, req)
}

// TestDatabricksHostsFollowTheConfig: a capability minted for all of a
// profile's hosts answers a host added to the config later (reload), and no
// longer one removed; one narrowed to a host keeps to it.
func TestDatabricksHostsFollowTheConfig(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	c := newCompatServer(t, h)
	all := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks})
	narrow := mint(t, c.unix, wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks, Hosts: []string{dbxHost}})
	ask := func(cp wire.Capability, host string) int {
		req, _ := http.NewRequest("GET", "http://"+c.tcp+"/databricks/"+cp.Token, nil)
		req.Header.Set("X-Databricks-Metadata-Version", "1")
		req.Header.Set("X-Databricks-Host", host)
		return do(t, &http.Client{}, req).status
	}
	const added = "https://adb-3333333333333333.3.azuredatabricks.net"
	if ask(all, added) != 403 {
		t.Fatal("a host not in the config answered")
	}
	cfg := *c.srv.profileSet().cfg
	cfg.Profiles = maps.Clone(cfg.Profiles)
	dbx := *cfg.Profiles["dbx"]
	dbx.DatabricksHosts = []string{added}
	cfg.Profiles["dbx"] = &dbx
	c.srv.Reload(&cfg)
	for _, tc := range []struct {
		cp   wire.Capability
		host string
		want int
	}{
		{all, added, 200}, {all, accountHost, 403}, {all, dbxHost, 200},
		{narrow, added, 403}, {narrow, dbxHost, 200},
	} {
		if got := ask(tc.cp, tc.host); got != tc.want {
			t.Errorf("capability for %v, host %s: %d, want %d", tc.cp.Hosts, tc.host, got, tc.want)
		}
	}
}

// TestRestartADayLater: a daemon restarted a day later (on the fake clock
// the emulator shares) on the same store honours the capabilities of the
// one before, through its own listeners: a .databrickscfg's for the
// workspace and the account console, with a token issued that day; one that
// expired meanwhile, and one revoked, stay dead.
func TestRestartADayLater(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	caps := store.NewMemory()
	a := newCompatServerOn(t, h, caps)
	file := mint(t, a.unix, wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks, TTLSeconds: 90 * 86400})
	short := mint(t, a.unix, wire.CapabilityRequest{Profile: "dbx", TTLSeconds: 3600})
	gone := mint(t, a.unix, wire.CapabilityRequest{Profile: "dbx", Kind: wire.CapabilityDatabricks})
	revoke(t, a.unix, gone.ID)
	ask := func(c *compatServer, cp wire.Capability, host string) response {
		req, _ := http.NewRequest("GET", "http://"+c.tcp+"/databricks/"+cp.Token, nil)
		req.Header.Set("X-Databricks-Metadata-Version", "1")
		req.Header.Set("X-Databricks-Host", host)
		return do(t, &http.Client{}, req)
	}
	if r := ask(a, file, dbxHost); r.status != 200 {
		t.Fatalf("before: %d %s", r.status, r.body)
	}
	a.srv.Close()

	h.clk.Advance(24 * time.Hour)
	b := newCompatServerOn(t, h, caps)
	for _, host := range []string{dbxHost, accountHost} {
		r := ask(b, file, host)
		if r.status != 200 {
			t.Fatalf("a day later, %s: %d %s", host, r.status, r.body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal(r.body, &tok)
		if iat := unixClaim(claims(t, tok.AccessToken), "iat"); iat.Before(t0.Add(24 * time.Hour)) {
			t.Fatalf("a token issued at %v, before the day passed", iat)
		}
	}
	for _, cp := range []wire.Capability{short, gone} {
		if r := ask(b, cp, dbxHost); r.status != 401 {
			t.Fatalf("capability %s a day later: %d %s", cp.ID, r.status, r.body)
		}
	}
}

// TestRefreshAfterAnother: a caller that found a token wanting, and asks
// for a refresh only after another caller's refresh has ended, is answered
// with that refresh's token and starts none (the interleaving behind a
// rare second request in TestFanIn and TestRefreshRejected, made certain).
func TestRefreshAfterAnother(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	h.get("/v1/token?profile=app")
	p := h.srv.profile("app")
	sl, err := h.srv.slotFor(p, p.cfg.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	seen := sl.cur.Load() // what the late caller found wanting
	h.clk.Advance(2 * time.Hour)
	h.em.ResetCounts()
	fresh := h.get("/v1/token?profile=app").token(t) // the other caller's refresh
	if n := h.em.Counts()["client_credentials"]; n != 1 {
		t.Fatalf("%d token requests for the first caller, want 1", n)
	}
	got, err := h.srv.refresh(t.Context(), p, sl, false, seen)
	if err != nil || got.AccessToken != fresh.AccessToken {
		t.Fatalf("late caller: %v, %v; want the token of the refresh that ended", got.AccessToken == fresh.AccessToken, err)
	}
	if n := h.em.Counts()["client_credentials"]; n != 1 {
		t.Fatalf("the late caller started a second refresh (%d token requests)", n)
	}
	// A caller that saw the current token still gets a new one.
	if got, err := h.srv.refresh(t.Context(), p, sl, false, sl.cur.Load()); err != nil || got.AccessToken == fresh.AccessToken {
		t.Fatalf("a caller of the current token: same token %v, %v", got.AccessToken == fresh.AccessToken, err)
	}
}
