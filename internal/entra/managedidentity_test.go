package entra

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// recorder is a transport that remembers every URL it was asked for.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}

func miSource(t *testing.T, hc *http.Client, p *config.Profile) (*Source, error) {
	t.Helper()
	p.Name, p.Flow, p.Cloud = "mi", "managed-identity", "public"
	if p.Scopes == nil {
		p.Scopes = []string{config.DatabricksScope}
	}
	return New(p, Options{Secrets: store.NewMemory(), HTTPClient: hc})
}

// clearIdentityEnv leaves MSAL only the variables a test sets.
func clearIdentityEnv(t *testing.T) {
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		t.Setenv(k, "")
	}
}

// TestManagedIdentityFlow gets tokens from the emulator's App Service
// endpoint, found by MSAL through IDENTITY_ENDPOINT and IDENTITY_HEADER.
func TestManagedIdentityFlow(t *testing.T) {
	em := startEmulator(t)
	clearIdentityEnv(t)
	t.Setenv("IDENTITY_ENDPOINT", em.URL()+entraemu.ManagedIdentityPath)
	t.Setenv("IDENTITY_HEADER", entraemu.ManagedIdentityHeader)
	rec := &recorder{next: em.HTTPClient().Transport}
	hc := &http.Client{Transport: rec}
	for _, tc := range []struct {
		name    string
		p       config.Profile
		appid   string
		errText string
	}{
		{name: "system-assigned", appid: entraemu.SystemAssignedClientID},
		{name: "by client id", p: config.Profile{ClientID: entraemu.UserAssignedClientID}, appid: entraemu.UserAssignedClientID},
		{name: "by resource id", p: config.Profile{ManagedIdentityResourceID: entraemu.UserAssignedResourceID}, appid: entraemu.UserAssignedClientID},
		{name: "by object id", p: config.Profile{ManagedIdentityObjectID: entraemu.UserAssignedObjectID}, appid: entraemu.UserAssignedClientID},
		{name: "unknown identity", p: config.Profile{ClientID: entraemu.ConfidentialClientID}, errText: "No Managed Identity found for specified ClientId/ResourceId/PrincipalId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := miSource(t, hc, &tc.p)
			if err != nil {
				t.Fatal(err)
			}
			before := len(rec.seen())
			var toks []idp.Token
			for range 2 { // the same resource twice: both reach the endpoint
				tok, err := src.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope})
				if tc.errText != "" {
					var ie *idp.Error
					if !errors.As(err, &ie) || ie.Temporary || ie.LoginNeeded || ie.Status != 400 || !strings.Contains(err.Error(), tc.errText) {
						t.Fatalf("err = %#v, want a permanent %q", err, tc.errText)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				toks = append(toks, tok)
			}
			if c := jwtClaims(t, toks[0].AccessToken); c["appid"] != tc.appid || c["aud"] != entraemu.DatabricksResource {
				t.Errorf("claims %v", c)
			}
			if toks[0].Account != tc.appid || toks[0].TenantID != entraemu.TenantID || time.Until(toks[0].ExpiresOn) < 59*time.Minute {
				t.Errorf("token %+v", toks[0])
			}
			if toks[0].AccessToken == toks[1].AccessToken {
				t.Error("the second call was answered from MSAL's cache")
			}
			urls := rec.seen()[before:]
			if len(urls) != 2 {
				t.Fatalf("%d requests for 2 tokens", len(urls))
			}
			for _, u := range urls {
				if !strings.Contains(u, entraemu.ManagedIdentityPath+"?") || strings.Contains(u, "claims") || strings.Contains(u, noCache) {
					t.Errorf("request %s", u)
				}
			}
		})
	}

	t.Run("one resource at a time", func(t *testing.T) {
		src, _ := miSource(t, hc, &config.Profile{})
		if _, err := src.Token(testCtx(t, 5*time.Second), []string{"User.Read", "Mail.Read"}); err == nil || !strings.Contains(err.Error(), "one resource") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("endpoint unavailable", func(t *testing.T) {
		src, _ := miSource(t, hc, &config.Profile{})
		em.FailNext(1, entraemu.Fault{Status: 503, RetryAfter: 7 * time.Second})
		_, err := src.Token(testCtx(t, 5*time.Second), []string{config.DatabricksScope})
		if !idp.IsTemporary(err) || idp.RetryAfter(err) != 7*time.Second {
			t.Fatalf("err = %#v", err)
		}
		if _, err := src.Token(testCtx(t, 5*time.Second), []string{config.DatabricksScope}); err != nil {
			t.Fatalf("after the fault: %v", err)
		}
	})
	t.Run("wrong identity header", func(t *testing.T) {
		t.Setenv("IDENTITY_HEADER", "stale")
		src, _ := miSource(t, hc, &config.Profile{})
		_, err := src.Token(testCtx(t, 5*time.Second), []string{config.DatabricksScope})
		if err == nil || idp.IsTemporary(err) || !strings.Contains(err.Error(), "X-IDENTITY-HEADER") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("login gets a token", func(t *testing.T) {
		src, _ := miSource(t, hc, &config.Profile{})
		if tok, err := src.Login(testCtx(t, 5*time.Second), idp.LoginRequest{}); err != nil || tok.Account != entraemu.SystemAssignedClientID {
			t.Fatalf("Login = %+v, %v", tok, err)
		}
	})
}

// TestManagedIdentityIMDS: with no endpoint in the environment MSAL calls
// the Instance Metadata Service at 169.254.169.254; the test routes that
// address to the emulator.
func TestManagedIdentityIMDS(t *testing.T) {
	em := startEmulator(t)
	clearIdentityEnv(t)
	imds := httptest.NewServer(em.Handler())
	t.Cleanup(imds.Close)
	var dialed []string
	var mu sync.Mutex
	route := func(up bool) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, addr)
			mu.Unlock()
			if !up {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connect: no route to host")}
			}
			return (&net.Dialer{}).DialContext(ctx, network, imds.Listener.Addr().String())
		}}}
	}
	src, err := miSource(t, route(true), &config.Profile{ManagedIdentityResourceID: entraemu.UserAssignedResourceID})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(testCtx(t, 10*time.Second), []string{"https://management.core.windows.net//.default"})
	if err != nil {
		t.Fatal(err)
	}
	if c := jwtClaims(t, tok.AccessToken); c["appid"] != entraemu.UserAssignedClientID || c["aud"] != "https://management.core.windows.net/" {
		t.Errorf("claims %v", c)
	}
	if len(dialed) != 1 || dialed[0] != "169.254.169.254:80" {
		t.Errorf("dialed %v, want the IMDS address", dialed)
	}

	down, _ := miSource(t, route(false), &config.Profile{})
	_, err = down.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope})
	if !idp.IsTemporary(err) || !strings.Contains(err.Error(), "Instance Metadata Service") {
		t.Fatalf("unreachable IMDS: %v", err)
	}
}

// TestManagedIdentityNoProxy: the endpoints are on the host; a proxy from
// the environment must not see them.
func TestManagedIdentityNoProxy(t *testing.T) {
	clearIdentityEnv(t)
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	src, err := miSource(t, &http.Client{Transport: tr}, &config.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	f := src.flow.(*managedIdentityFlow)
	if got := f.hc.Transport.(*http.Transport); got.Proxy != nil || got == tr {
		t.Errorf("the managed identity client uses a proxy")
	}
	if tr.Proxy == nil {
		t.Error("the daemon's own transport was changed")
	}
}
