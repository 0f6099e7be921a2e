package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

const tenantGUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

func TestParseAuthRedirect(t *testing.T) {
	for _, tc := range []struct {
		loc, host, tenant, err string
	}{
		{loc: "https://login.microsoftonline.com/" + tenantGUID + "/oauth2/authorize?client_id=2ff8&redirect_uri=x", host: "login.microsoftonline.com", tenant: tenantGUID},
		{loc: "https://LOGIN.microsoftonline.us/Contoso.onmicrosoft.com/oauth2/v2.0/authorize", host: "login.microsoftonline.us", tenant: "contoso.onmicrosoft.com"},
		{loc: "https://127.0.0.1:8443/" + tenantGUID + "/oauth2/authorize", host: "127.0.0.1:8443", tenant: tenantGUID},
		{loc: "", err: "no Location"},
		{loc: "/relative/oauth2/authorize", err: "not an https URL"},
		{loc: "http://login.microsoftonline.com/" + tenantGUID + "/oauth2/authorize", err: "not an https URL"},
		{loc: "https://user@login.microsoftonline.com/" + tenantGUID + "/oauth2/authorize", err: "not an https URL"},
		{loc: "https://login.microsoftonline.com/common/oauth2/authorize", err: "names no tenant"},
		{loc: "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize", err: "names no tenant"},
		{loc: "https://login.microsoftonline.com/" + tenantGUID + "/saml2", err: "not an Entra ID authorize URL"},
		{loc: "https://login.microsoftonline.com/" + tenantGUID, err: "not an Entra ID authorize URL"},
		{loc: "https://login.microsoftonline.com/ten%20ant/oauth2/authorize", err: "names no tenant"},
		{loc: "https://login.microsoftonline.com/-bad-/oauth2/authorize", err: "names no tenant"},
		{loc: "https://login.microsoftonline.com//oauth2/authorize", err: "names no tenant"},
	} {
		t.Run(tc.loc, func(t *testing.T) {
			host, tenant, err := ParseAuthRedirect(tc.loc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("= %q %q %v, want error %q", host, tenant, err, tc.err)
				}
				return
			}
			if err != nil || host != tc.host || tenant != tc.tenant {
				t.Fatalf("= %q %q %v, want %q %q", host, tenant, err, tc.host, tc.tenant)
			}
		})
	}
}

func FuzzParseAuthRedirect(f *testing.F) {
	for _, s := range []string{
		"https://login.microsoftonline.com/" + tenantGUID + "/oauth2/authorize?x=1",
		"https://login.chinacloudapi.cn/contoso.partner.onmschina.cn/oauth2/authorize",
		"https://a/common/oauth2/authorize", "http://x/y/oauth2/", "", "%", "https://[::1]:1/t/oauth2/a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		host, tenant, err := ParseAuthRedirect(loc)
		if err != nil {
			if host != "" || tenant != "" {
				t.Fatal("values with an error")
			}
			if len(err.Error()) > 300 {
				t.Fatalf("error echoes too much: %d bytes", len(err.Error()))
			}
			return
		}
		if host == "" || !tenantSyntax.MatchString(tenant) || strings.ToLower(tenant) != tenant || strings.ToLower(host) != host {
			t.Fatalf("accepted %q: host %q tenant %q", loc, host, tenant)
		}
		switch tenant {
		case "common", "organizations", "consumers":
			t.Fatalf("accepted a multi-tenant path: %q", loc)
		}
	})
}

// workspace is a fake Azure Databricks workspace: /aad/auth answers with
// the next of its answers (the last repeats).
type workspace struct {
	mu      sync.Mutex
	answers []func(http.ResponseWriter)
	hits    atomic.Int32
	srv     *httptest.Server
}

func newWorkspace(t *testing.T, answers ...func(http.ResponseWriter)) *workspace {
	w := &workspace{answers: answers}
	w.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/aad/auth" || r.Method != http.MethodGet {
			http.NotFound(rw, r)
			return
		}
		w.hits.Add(1)
		w.mu.Lock()
		a := w.answers[0]
		if len(w.answers) > 1 {
			w.answers = w.answers[1:]
		}
		w.mu.Unlock()
		a(rw)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func redirectTo(loc string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	}
}

func status(code int, retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
	}
}

func TestDiscoverTenant(t *testing.T) {
	good := "https://login.microsoftonline.com/" + tenantGUID + "/oauth2/authorize?client_id=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
	for _, tc := range []struct {
		name      string
		answer    func(http.ResponseWriter)
		tenant    string
		err       string
		temporary bool
	}{
		{name: "302", answer: redirectTo(good), tenant: tenantGUID},
		{name: "303", answer: func(w http.ResponseWriter) { w.Header().Set("Location", good); w.WriteHeader(http.StatusSeeOther) }, tenant: tenantGUID},
		{name: "200", answer: status(http.StatusOK, ""), err: "not a redirect to Entra ID"},
		{name: "404", answer: status(http.StatusNotFound, ""), err: "answered HTTP 404"},
		{name: "503", answer: status(http.StatusServiceUnavailable, "7"), err: "HTTP 503", temporary: true},
		{name: "429", answer: status(http.StatusTooManyRequests, ""), err: "HTTP 429", temporary: true},
		{name: "no Location", answer: status(http.StatusFound, ""), err: "no Location"},
		{name: "multi-tenant", answer: redirectTo("https://login.microsoftonline.com/common/oauth2/authorize"), err: "names no tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkspace(t, tc.answer)
			host, tenant, err := DiscoverTenant(context.Background(), ws.srv.Client(), ws.srv.URL+"/")
			if ws.hits.Load() != 1 {
				t.Errorf("%d requests to /aad/auth", ws.hits.Load())
			}
			if tc.err == "" {
				if err != nil || tenant != tc.tenant || host != "login.microsoftonline.com" {
					t.Fatalf("= %q %q %v", host, tenant, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || idp.IsTemporary(err) != tc.temporary {
				t.Fatalf("err = %v (temporary %v), want %q (temporary %v)", err, idp.IsTemporary(err), tc.err, tc.temporary)
			}
			if tc.name == "503" && idp.RetryAfter(err) != 7*time.Second {
				t.Errorf("Retry-After not kept: %v", idp.RetryAfter(err))
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		ws := newWorkspace(t, status(200, ""))
		url := ws.srv.URL
		ws.srv.Close()
		_, _, err := DiscoverTenant(context.Background(), ws.srv.Client(), url)
		if !idp.IsTemporary(err) || !strings.Contains(err.Error(), "cannot connect") {
			t.Fatalf("err = %v, want a temporary connection error", err)
		}
	})
}

// TestDiscoveringFlow: a profile with databricks_host and no tenant signs
// in through the emulator once the tenant is known; a failed discovery is
// retried; a workspace of another cloud is refused with the fix.
func TestDiscoveringFlow(t *testing.T) {
	em := startEmulator(t)
	t.Run("emulator workspace", func(t *testing.T) {
		p := userProfile(em, "device-code")
		p.Authority, p.DatabricksHost = em.URL(), em.URL() // host only: the tenant is discovered
		if !p.NeedsTenant() {
			t.Fatal("profile has a tenant already")
		}
		src := newTestSource(t, em, p, store.NewMemory())
		who := &person{em: em, errs: make(chan error, 1)}
		tok, err := src.Login(testCtx(t, 30*time.Second), idp.LoginRequest{Interact: who.interact})
		if err != nil || tok.TenantID != entraemu.TenantID {
			t.Fatalf("Login = %+v, %v", tok, err)
		}
		if !strings.HasSuffix(src.profile.AuthorityURL(), "/"+entraemu.TenantID) || p.Tenant != "" {
			t.Errorf("authority %s; the configured profile must stay as it was (tenant %q)", src.profile.AuthorityURL(), p.Tenant)
		}
		if _, err := src.Token(testCtx(t, 30*time.Second), []string{"api://x/.default"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("retried", func(t *testing.T) {
		ws := newWorkspace(t, status(503, ""), redirectTo(em.URL()+"/"+entraemu.TenantID+"/oauth2/authorize"))
		p := userProfile(em, "refresh-token")
		p.Authority, p.DatabricksHost = em.URL(), ws.srv.URL
		src, err := New(p, Options{Secrets: store.NewMemory(), HTTPClient: bothTrusted(em, ws.srv)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope}); !idp.IsTemporary(err) {
			t.Fatalf("first Token = %v, want a temporary error", err)
		}
		_, err = src.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope})
		if !errors.Is(err, idp.ErrLoginRequired) || ws.hits.Load() != 2 {
			t.Fatalf("second Token = %v after %d discoveries; want not signed in, after 2", err, ws.hits.Load())
		}
		src.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope})
		if ws.hits.Load() != 2 {
			t.Errorf("discovered again once known (%d requests)", ws.hits.Load())
		}
	})
	t.Run("concurrent first use", func(t *testing.T) {
		ws := newWorkspace(t, redirectTo(em.URL()+"/"+entraemu.TenantID+"/oauth2/authorize"))
		st := store.NewMemory()
		st.Set(context.Background(), "profile/app/client-secret", []byte(entraemu.ClientSecret))
		p := &config.Profile{Name: "app", Flow: "client-secret", ClientID: entraemu.ConfidentialClientID, Cloud: "public",
			Authority: em.URL(), DatabricksHost: ws.srv.URL, Scopes: []string{config.DatabricksScope}}
		src, err := New(p, Options{Secrets: st, HTTPClient: bothTrusted(em, ws.srv)})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				_, err := src.Token(testCtx(t, 30*time.Second), []string{fmt.Sprintf("api://c%d/.default", i)})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if ws.hits.Load() != 1 || p.Tenant != "" {
			t.Errorf("%d discoveries (want 1); configured tenant %q (want it untouched)", ws.hits.Load(), p.Tenant)
		}
	})
	// A user profile whose first refresh discovers the tenant (and builds
	// the flow) while a device-code sign-in starts and the daemon's status
	// asks whether the sign-in is saved: under -race, this failed when the
	// flow's builder made the profile's cache.
	t.Run("sign-in during the first refresh", func(t *testing.T) {
		p := userProfile(em, "device-code")
		p.Authority, p.DatabricksHost = em.URL(), em.URL()
		src := newTestSource(t, em, p, store.NewMemory())
		who := &person{em: em, errs: make(chan error, 1)}
		var wg sync.WaitGroup
		var tokErr, loginErr error
		wg.Go(func() { _, tokErr = src.Token(testCtx(t, 30*time.Second), []string{config.DatabricksScope}) })
		wg.Go(func() { _, loginErr = src.Login(testCtx(t, 30*time.Second), idp.LoginRequest{Interact: who.interact}) })
		wg.Go(func() {
			for range 100 {
				if err := src.Unsaved(); err != nil {
					t.Errorf("Unsaved = %v", err)
				}
			}
		})
		wg.Wait()
		if loginErr != nil {
			t.Fatalf("Login = %v", loginErr)
		}
		if tokErr != nil && !errors.Is(tokErr, idp.ErrLoginRequired) {
			t.Fatalf("Token before the sign-in = %v, want a token or not signed in", tokErr)
		}
		if _, err := src.Token(testCtx(t, 30*time.Second), []string{config.DatabricksScope}); err != nil {
			t.Fatalf("Token after the sign-in = %v", err)
		}
	})
	t.Run("another cloud", func(t *testing.T) {
		ws := newWorkspace(t, redirectTo("https://login.microsoftonline.us/"+tenantGUID+"/oauth2/authorize"))
		p := &config.Profile{Name: "gov", Flow: "browser", ClientID: entraemu.PublicClientID, Cloud: "public",
			DatabricksHost: ws.srv.URL, Scopes: []string{config.DatabricksScope}}
		src, err := New(p, Options{Secrets: store.NewMemory(), HTTPClient: ws.srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope})
		if err == nil || !strings.Contains(err.Error(), `signs in at login.microsoftonline.us, but the profile at login.microsoftonline.com: set cloud = "usgov"`) {
			t.Fatalf("Token = %v", err)
		}
	})
}

// bothTrusted is an HTTP client trusting the emulator's CA and a test
// server's certificate.
func bothTrusted(em *entraemu.Emulator, srv *httptest.Server) *http.Client {
	pool := em.CertPool()
	pool.AddCert(srv.Certificate())
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	return &http.Client{Transport: tr}
}
