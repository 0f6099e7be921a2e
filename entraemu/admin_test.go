package entraemu

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tokend/tokend/internal/clock"
)

func TestAdminAPI(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e := start(t, Config{Clock: clock.NewFake(t0)})
	ccForm := clientCredentialsForm(DatabricksResource + "/.default")

	t.Run("fixture", func(t *testing.T) {
		r := get(t, e, "/_emulator/fixture")
		want := map[string]string{
			"tenant_id": TenantID, "authority": e.Authority(), "public_client_id": PublicClientID,
			"confidential_client_id": ConfidentialClientID, "client_secret": ClientSecret,
			"username": Username, "password": Password,
		}
		for k, v := range want {
			if r.str(k) != v {
				t.Errorf("%s = %q, want %q", k, r.str(k), v)
			}
		}
		if f := e.Fixture(); f.Authority != e.Authority() || f.CAFile != "" {
			t.Errorf("Fixture() = %+v", f)
		}
	})

	t.Run("fail", func(t *testing.T) {
		if r := postJSON(t, e, "/_emulator/fail", `{"count":1,"status":429,"retry_after_seconds":3}`); r.status != 200 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		if r := post(t, e, v2Token, ccForm); r.status != 429 || r.header.Get("Retry-After") != "3" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		if r := post(t, e, v2Token, ccForm); r.status != 200 {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})

	t.Run("counts and reset", func(t *testing.T) {
		r := get(t, e, "/_emulator/counts")
		if r.body["faulted"] != 1.0 || r.body["client_credentials"] != 1.0 {
			t.Fatalf("counts %v", r.body)
		}
		postJSON(t, e, "/_emulator/counts/reset", "")
		if r := get(t, e, "/_emulator/counts"); len(r.body) != 0 {
			t.Fatalf("after reset: %v", r.body)
		}
	})

	t.Run("lifetime", func(t *testing.T) {
		postJSON(t, e, "/_emulator/lifetime", `{"min_seconds":120,"max_seconds":120}`)
		if r := post(t, e, v2Token, ccForm); r.body["expires_in"] != 120.0 {
			t.Fatalf("expires_in %v", r.body["expires_in"])
		}
	})

	t.Run("clock shift", func(t *testing.T) {
		r := postJSON(t, e, "/_emulator/clock/shift", `{"seconds":3600}`)
		if r.str("now") != "2030-01-01T01:00:00Z" || r.body["offset_seconds"] != 3600.0 {
			t.Fatalf("%v", r.body)
		}
		if r := get(t, e, "/_emulator/clock"); r.str("now") != "2030-01-01T01:00:00Z" {
			t.Fatalf("%v", r.body)
		}
		c := claims(t, post(t, e, v2Token, ccForm).str("access_token"))
		if unix(t, c, "iat") != t0.Add(time.Hour).Unix() {
			t.Errorf("iat %v", c["iat"])
		}
	})

	t.Run("device code approve", func(t *testing.T) {
		dc := post(t, e, "/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {PublicClientID}, "scope": {DatabricksResource + "/.default offline_access"}})
		if dc.status != 200 {
			t.Fatalf("%d %v", dc.status, dc.body)
		}
		if r := postJSON(t, e, "/_emulator/devicecode/approve", `{"user_code":"WRONGCODE"}`); r.status != 400 || r.str("error") == "" {
			t.Fatalf("%d %v", r.status, r.body)
		}
		if r := postJSON(t, e, "/_emulator/devicecode/approve", `{"user_code":"`+dc.str("user_code")+`","username":"`+SecondUsername+`"}`); r.status != 200 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		form := url.Values{"grant_type": {"device_code"}, "client_id": {PublicClientID}, "device_code": {dc.str("device_code")}}
		r := post(t, e, v2Token, form)
		if r.status != 200 || claims(t, r.str("access_token"))["upn"] != SecondUsername {
			t.Fatalf("%d %v", r.status, r.body)
		}
		if r := post(t, e, v2Token, form); r.str("error") != "invalid_grant" {
			t.Fatalf("redeemed twice: %d %v", r.status, r.body)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		login := post(t, e, v2Token, url.Values{"grant_type": {"password"}, "client_id": {PublicClientID}, "username": {Username}, "password": {Password}, "scope": {"openid offline_access"}})
		if r := postJSON(t, e, "/_emulator/revoke", `{"username":"`+Username+`"}`); r.status != 200 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		r := post(t, e, v2Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {PublicClientID}, "refresh_token": {login.str("refresh_token")}})
		if r.str("error") != "invalid_grant" || r.errorCode() != 50173 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		if r := postJSON(t, e, "/_emulator/revoke", `{"username":"nobody@tokend.test"}`); r.status != 400 {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		for _, tc := range []struct{ path, body string }{
			{"/_emulator/fail", `{"cuont":1}`},
			{"/_emulator/fail", `{"count":1,"delay_ms":-5}`},
			{"/_emulator/lifetime", `not json`},
			{"/_emulator/clock/shift", `{"seconds":"soon"}`},
		} {
			if r := postJSON(t, e, tc.path, tc.body); r.status != 400 || r.str("error") == "" {
				t.Errorf("%s %s: %d %v", tc.path, tc.body, r.status, r.body)
			}
		}
	})
}

func TestDeviceLoginPage(t *testing.T) {
	e := start(t, Config{})
	dc := post(t, e, "/common/oauth2/v2.0/devicecode", url.Values{"client_id": {PublicClientID}, "scope": {"openid"}})
	page, err := e.HTTPClient().Get(e.URL() + "/devicelogin")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 {
		t.Fatalf("GET /devicelogin: %d", page.StatusCode)
	}
	resp, err := e.HTTPClient().PostForm(e.URL()+"/devicelogin", url.Values{"user_code": {strings.ToLower(dc.str("user_code"))}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /devicelogin: %d", resp.StatusCode)
	}
	r := post(t, e, v2Token, url.Values{"grant_type": {"device_code"}, "client_id": {PublicClientID}, "device_code": {dc.str("device_code")}, "scope": {"openid"}})
	if r.status != 200 {
		t.Fatalf("%d %v", r.status, r.body)
	}
}

func TestDiscovery(t *testing.T) {
	e := start(t, Config{})
	host := strings.TrimPrefix(e.URL(), "https://")
	for _, tenant := range []string{TenantID, "common", "organizations", "consumers", strings.ToUpper(TenantID)} {
		t.Run(tenant, func(t *testing.T) {
			r := get(t, e, "/"+tenant+"/v2.0/.well-known/openid-configuration")
			base := "https://" + host + "/" + strings.ToLower(tenant)
			want := map[string]string{
				"issuer":                        "https://" + host + "/" + TenantID + "/v2.0",
				"token_endpoint":                base + "/oauth2/v2.0/token",
				"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
				"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
				"jwks_uri":                      base + "/discovery/v2.0/keys",
			}
			for k, v := range want {
				if r.str(k) != v {
					t.Errorf("%s = %q, want %q", k, r.str(k), v)
				}
			}
		})
	}
	if r := get(t, e, "/contoso.example/v2.0/.well-known/openid-configuration"); r.status != 400 || r.errorCode() != 90002 {
		t.Errorf("unknown tenant: %d %v", r.status, r.body)
	}
	r := get(t, e, "/common/discovery/instance?api-version=1.1&authorization_endpoint="+url.QueryEscape("https://"+host+"/"+TenantID+"/oauth2/v2.0/authorize"))
	md, _ := r.body["metadata"].([]any)
	if r.str("tenant_discovery_endpoint") != "https://"+host+"/"+TenantID+"/v2.0/.well-known/openid-configuration" || len(md) != 1 {
		t.Errorf("instance discovery %v", r.body)
	}
	r = get(t, e, "/common/UserRealm/"+Username+"?api-version=1.0")
	if r.str("account_type") != "Managed" || r.str("domain_name") != TenantDomain || r.str("cloud_audience_urn") != "urn:federation:MicrosoftOnline" || r.str("ver") != "1.0" {
		t.Errorf("user realm %v", r.body)
	}
}

func TestTLS(t *testing.T) {
	e := start(t, Config{})
	if _, err := http.Get(e.URL() + "/common/v2.0/.well-known/openid-configuration"); err == nil {
		t.Error("the default client trusted the emulator")
	}
	pool := e.CertPool()
	block := parseCertPEM(e.CAPEM())
	if block == nil || !block.IsCA {
		t.Fatal("CAPEM is not a CA certificate")
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		leaf := e.pki.server.Leaf
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if e.Authority() != e.URL()+"/"+TenantID || !strings.HasPrefix(e.URL(), "https://127.0.0.1:") {
		t.Errorf("URL %q Authority %q", e.URL(), e.Authority())
	}
	if err := e.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start worked")
	}
}

func TestDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "emu")
	e1, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"ca.pem": 0o644, "ca-key.pem": 0o600, "client.pem": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	f := e1.Fixture()
	if f.CAFile != filepath.Join(dir, "ca.pem") || f.ClientCertificateFile != filepath.Join(dir, "client.pem") {
		t.Errorf("fixture %+v", f)
	}
	// The CA and the client certificate survive a restart.
	if err := os.Chmod(filepath.Join(dir, "client.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	e2, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e1.CAPEM(), e2.CAPEM()) {
		t.Error("CA not reused")
	}
	c1, _ := e1.ClientCertificate()
	c2, k2 := e2.ClientCertificate()
	if !bytes.Equal(c1, c2) {
		t.Error("client certificate not reused")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "client.pem")); fi.Mode().Perm() != 0o600 {
		t.Errorf("client.pem mode %v after rewrite", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(filepath.Join(dir, "client.pem"))
	if !bytes.Equal(data, append(c2, k2...)) {
		t.Error("client.pem is not cert + key")
	}
	if _, _, err := confidential.CertFromPEM(data, ""); err != nil {
		t.Errorf("MSAL cannot read client.pem: %v", err)
	}
	// A broken key is replaced.
	if err := os.WriteFile(filepath.Join(dir, "ca-key.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	e3, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(e1.CAPEM(), e3.CAPEM()) {
		t.Error("CA with a broken key reused")
	}
	if onDisk, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(onDisk, e3.CAPEM()) {
		t.Error("ca.pem not rewritten")
	}
}
