package entraemu

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// start makes and starts an emulator that is closed when the test ends.
func start(t testing.TB, cfg Config) *Emulator {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publicClient is a real MSAL public client pointed at e, with a cache
// that forgets access tokens (as the daemon's does) so that every
// AcquireTokenSilent redeems the refresh token.
func publicClient(t testing.TB, e *Emulator, clientID string) (public.Client, *dropATCache) {
	t.Helper()
	c := &dropATCache{}
	pca, err := public.New(clientID,
		public.WithAuthority(e.Authority()),
		public.WithHTTPClient(e.HTTPClient()),
		public.WithInstanceDiscovery(false),
		public.WithCache(c),
	)
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	return pca, c
}

func confidentialClient(t testing.TB, e *Emulator, cred confidential.Credential) confidential.Client {
	t.Helper()
	cca, err := confidential.New(e.Authority(), ConfidentialClientID, cred,
		confidential.WithHTTPClient(e.HTTPClient()),
		confidential.WithInstanceDiscovery(false),
	)
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	return cca
}

// dropATCache is a cache.ExportReplace that drops the "AccessToken" section
// on Replace, so MSAL never answers from cached access tokens.
type dropATCache struct {
	mu   sync.Mutex
	data []byte
}

func (c *dropATCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data == nil {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(c.data, &m); err != nil {
		return err
	}
	delete(m, "AccessToken")
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return u.Unmarshal(b)
}

func (c *dropATCache) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = b
	return nil
}

// refreshToken returns the one refresh token in the cache.
func (c *dropATCache) refreshToken(t testing.TB) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var m struct {
		RefreshToken map[string]struct {
			Secret string `json:"secret"`
		}
	}
	if err := json.Unmarshal(c.data, &m); err != nil {
		t.Fatalf("cache: %v", err)
	}
	if len(m.RefreshToken) != 1 {
		t.Fatalf("cache holds %d refresh tokens, want 1", len(m.RefreshToken))
	}
	for _, rt := range m.RefreshToken {
		return rt.Secret
	}
	return ""
}

// response is a decoded JSON response.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (r response) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

// errorCode is the first of error_codes, or 0.
func (r response) errorCode() int {
	codes, _ := r.body["error_codes"].([]any)
	if len(codes) == 0 {
		return 0
	}
	f, _ := codes[0].(float64)
	return int(f)
}

func doJSON(t testing.TB, e *Emulator, req *http.Request) response {
	t.Helper()
	resp, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%s %s: status %d, non-JSON body %q", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return r
}

// post sends a form to path on e.
func post(t testing.TB, e *Emulator, path string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return doJSON(t, e, req)
}

func get(t testing.TB, e *Emulator, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return doJSON(t, e, req)
}

// postJSON sends a JSON body (admin API).
func postJSON(t testing.TB, e *Emulator, path, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return doJSON(t, e, req)
}

const (
	v2Token = "/" + TenantID + "/oauth2/v2.0/token"
	v1Token = "/" + TenantID + "/oauth2/token"
)

func clientCredentialsForm(scope string) url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {ConfidentialClientID},
		"client_secret": {ClientSecret},
		"scope":         {scope},
	}
}

// claims decodes a JWT's payload without verifying it.
func claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	c, err := DecodeClaims(jwt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func unix(t testing.TB, c map[string]any, k string) int64 {
	t.Helper()
	f, ok := c[k].(float64)
	if !ok {
		t.Fatalf("claim %s = %v, want a number", k, c[k])
	}
	return int64(f)
}

// verifyWithJWKS checks jwt's RS256 signature against the JWKS e
// publishes over HTTP (found through the OpenID configuration) and returns
// the claims and the configuration's issuer.
func verifyWithJWKS(t testing.TB, e *Emulator, jwt string) (map[string]any, string) {
	t.Helper()
	conf := get(t, e, "/"+TenantID+"/v2.0/.well-known/openid-configuration")
	jwksURL, err := url.Parse(conf.str("jwks_uri"))
	if err != nil || jwksURL.Host != strings.TrimPrefix(e.URL(), "https://") {
		t.Fatalf("jwks_uri %q", conf.str("jwks_uri"))
	}
	keys := get(t, e, jwksURL.Path)
	parts := strings.Split(jwt, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var header struct{ Alg, Kid string }
	if err := json.Unmarshal(hb, &header); err != nil || header.Alg != "RS256" || header.Kid == "" {
		t.Fatalf("JWT header %s", hb)
	}
	list, _ := keys.body["keys"].([]any)
	for _, k := range list {
		k := k.(map[string]any)
		if k["kid"] != header.Kid {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
		eb, _ := base64.RawURLEncoding.DecodeString(k["e"].(string))
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(eb).Int64())}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			t.Fatalf("signature: %v", err)
		}
		return claims(t, jwt), conf.str("issuer")
	}
	t.Fatalf("kid %q not in JWKS", header.Kid)
	return nil, ""
}

func withAccount(r public.AuthResult) public.AcquireSilentOption {
	return public.WithSilentAccount(r.Account)
}

// ropc signs in with MSAL's username/password grant, which MSAL deprecates
// (https://aka.ms/msal-ropc-migration) but Entra still serves: the
// emulator answers it as Entra does, so its tests call it.
func ropc(app public.Client, ctx context.Context, scopes []string, username, password string, opts ...public.AcquireByUsernamePasswordOption) (public.AuthResult, error) {
	//lint:ignore SA1019 the emulator serves the grant; see above
	return app.AcquireTokenByUsernamePassword(ctx, scopes, username, password, opts...)
}
