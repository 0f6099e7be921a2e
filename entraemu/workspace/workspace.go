// Package workspace is a fake Azure Databricks workspace for tests of the
// clients of Entra ID tokens: it answers who a bearer token is for, as a
// workspace does, once the token has passed what a relying party checks.
// It knows the identity provider only by its authority URL: it reads the
// OpenID configuration and the JWKS over HTTPS and verifies the RS256
// signature, the issuer (the v2.0 one, or the v1.0 one for v1.0 tokens),
// aud (the Azure Databricks resource) and exp. entraemu serves one at the
// emulator's own address; tests can serve their own with httptest.
//
// What it serves:
//
//	GET /api/2.0/preview/scim/v2/Me     who the token is for (SCIM User), or a SCIM error
//	GET /.well-known/databricks-config  the host metadata the Databricks SDKs and CLI ask for first
//	GET /aad/auth                       the sign-in redirect to the tenant's authorize endpoint,
//	                                    which tools read to discover a workspace's tenant
//
// With AccountID set it plays the account console
// (https://accounts.azuredatabricks.net) instead: its host metadata says
// ACCOUNT_HOST and the account id, and it serves
//
//	GET /api/2.0/accounts/{account_id}/scim/v2/Users   the account's users (the caller, here)
//
// It imports nothing of the emulator: point Authority at any Entra-like
// identity provider.
package workspace

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// MePath is the SCIM "Me" endpoint of a workspace.
	MePath = "/api/2.0/preview/scim/v2/Me"
	// ConfigPath is the host metadata endpoint the Databricks SDKs read
	// before anything else (databricks-sdk-go config/host_metadata.go).
	ConfigPath = "/.well-known/databricks-config"
	// AuthPath is the workspace's sign-in entry point, a redirect to the
	// tenant's authorize endpoint.
	AuthPath = "/aad/auth"

	// DatabricksResource is the Azure Databricks resource (application)
	// id: the audience of the bearer token.
	DatabricksResource = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
	// ManagementResource is Azure Resource Manager: the audience of the
	// X-Databricks-Azure-SP-Management-Token header.
	ManagementResource = "https://management.core.windows.net/"
	// DefaultWorkspaceID is the workspace id when Workspace.WorkspaceID is
	// empty.
	DefaultWorkspaceID = "1234567890123456"
)

// managementAudiences are Azure Resource Manager's names (and app id).
var managementAudiences = []string{ManagementResource, "https://management.core.windows.net", "https://management.azure.com/", "https://management.azure.com", "797f4846-ba00-4fd7-ba43-dac1f8f63013"}

// Workspace is a fake Azure Databricks workspace (an http.Handler).
//
// A service principal that is not a member of the workspace gets in as a
// workspace admin through its Azure role on the workspace resource: with
// RequireAdminHeaders an app token is accepted only with
// X-Databricks-Azure-SP-Management-Token (a token of the same app for
// ManagementResource, verified alike) and
// X-Databricks-Azure-Workspace-Resource-Id equal to ResourceID. User tokens
// need no more than the bearer token.
type Workspace struct {
	Authority           string       // https://HOST/TENANT
	HTTPClient          *http.Client // trusts the authority's CA; nil: http.DefaultClient
	ResourceID          string       // /subscriptions/…/providers/Microsoft.Databricks/workspaces/…
	WorkspaceID         string       // "": DefaultWorkspaceID
	RequireAdminHeaders bool
	Now                 func() time.Time // nil: time.Now
	// AccountID makes it the account console of that account.
	AccountID string

	mu      sync.Mutex
	issuers []string // v2.0 and v1.0
	keys    map[string]*rsa.PublicKey
	calls   int
}

// Calls counts the requests that reached the Me endpoint.
func (w *Workspace) Calls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// AccountUsersPath is the account console's SCIM Users endpoint.
func AccountUsersPath(accountID string) string {
	return "/api/2.0/accounts/" + accountID + "/scim/v2/Users"
}

func (w *Workspace) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch {
	case w.AccountID != "" && r.Method == http.MethodGet && r.URL.Path == ConfigPath:
		w.serveAccountConfig(rw, r)
	case w.AccountID != "" && r.Method == http.MethodGet && r.URL.Path == AccountUsersPath(w.AccountID):
		w.serveAccountUsers(rw, r)
	case w.AccountID != "":
		scimError(rw, http.StatusNotFound, "No API found for '"+sanitize(r.Method+" "+r.URL.Path)+"'")
	case r.Method == http.MethodGet && r.URL.Path == MePath:
		w.serveMe(rw, r)
	case r.Method == http.MethodGet && r.URL.Path == ConfigPath:
		w.serveConfig(rw, r)
	case r.Method == http.MethodGet && r.URL.Path == AuthPath:
		w.serveAuth(rw, r)
	default:
		scimError(rw, http.StatusNotFound, "No API found for '"+sanitize(r.Method+" "+r.URL.Path)+"'")
	}
}

// serveConfig answers /.well-known/databricks-config with the fields of
// databricks-sdk-go's config.HostMetadata: oidc_endpoint (the workspace's
// OIDC root; the SDK appends /.well-known/oauth-authorization-server),
// workspace_id, cloud, host_type and
// token_federation_default_oidc_audiences ("https://<workspace_host>/oidc/v1/token"
// for a workspace host). A workspace has no account_id to tell.
func (w *Workspace) serveConfig(rw http.ResponseWriter, r *http.Request) {
	base := "https://" + host(r)
	id := w.WorkspaceID
	if id == "" {
		id = DefaultWorkspaceID
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{
		"oidc_endpoint": base + "/oidc",
		"workspace_id":  id,
		"cloud":         "Azure",
		"host_type":     "WORKSPACE_HOST",
		"token_federation_default_oidc_audiences": []string{base + "/oidc/v1/token"},
	})
}

// serveAccountConfig answers the account console's host metadata.
func (w *Workspace) serveAccountConfig(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{
		"oidc_endpoint": "https://" + host(r) + "/oidc/accounts/{account_id}",
		"account_id":    w.AccountID,
		"cloud":         "Azure",
		"host_type":     "ACCOUNT_HOST",
	})
}

// serveAccountUsers lists the account's users: the caller, once its token
// passes.
func (w *Workspace) serveAccountUsers(rw http.ResponseWriter, r *http.Request) {
	c, ok := w.authenticate(rw, r)
	if !ok {
		return
	}
	name := c.UPN
	if name == "" {
		name = c.PreferredUsername
	}
	if name == "" {
		name = c.app()
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": 1,
		"Resources":    []map[string]any{{"userName": name, "active": true}},
	})
}

// serveAuth plays a workspace's sign-in entry point, GET /aad/auth, for
// tenant discovery: a redirect to the tenant's (v1) authorize endpoint, as
// a workspace of that tenant answers.
func (w *Workspace) serveAuth(rw http.ResponseWriter, r *http.Request) {
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {DatabricksResource},
		"redirect_uri":  {"https://" + host(r) + "/aad/redirect"},
		"state":         {newState()},
	}
	rw.Header().Set("Cache-Control", "no-store")
	http.Redirect(rw, r, strings.TrimRight(w.Authority, "/")+"/oauth2/authorize?"+q.Encode(), http.StatusFound)
}

// authenticate counts a call and checks its bearer token as a workspace
// does; a token that does not pass gets the workspace's 401.
func (w *Workspace) authenticate(rw http.ResponseWriter, r *http.Request) (*claims, bool) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		scimError(rw, http.StatusUnauthorized, "Unable to load OAuth Config: no bearer token")
		return nil, false
	}
	c, err := w.verify(bearer, DatabricksResource, "api://"+DatabricksResource)
	if err != nil {
		scimError(rw, http.StatusUnauthorized, "Invalid access token: "+err.Error())
		return nil, false
	}
	return c, true
}

func (w *Workspace) serveMe(rw http.ResponseWriter, r *http.Request) {
	c, ok := w.authenticate(rw, r)
	if !ok {
		return
	}
	app := c.Idtyp == "app" || c.UPN == "" && c.PreferredUsername == ""
	if app && w.RequireAdminHeaders {
		if msg := w.checkAdminHeaders(r, c); msg != "" {
			scimError(rw, http.StatusForbidden, msg)
			return
		}
	}
	name, display := c.UPN, c.Name
	if name == "" {
		name = c.PreferredUsername
	}
	if app {
		name, display = c.app(), "service principal "+c.app()
	}
	sum := sha256.Sum256([]byte("workspace user\x00" + c.OID))
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"id":          fmt.Sprintf("%x", sum[:8]),
		"userName":    name,
		"displayName": display,
		"active":      true,
	})
}

// checkAdminHeaders says what is wrong with the SP-admin headers, or "".
func (w *Workspace) checkAdminHeaders(r *http.Request, c *claims) string {
	mgmt := r.Header.Get("X-Databricks-Azure-SP-Management-Token")
	rid := r.Header.Get("X-Databricks-Azure-Workspace-Resource-Id")
	switch {
	case mgmt == "" || rid == "":
		return "Service principal " + c.app() + " is not a member of this workspace: send X-Databricks-Azure-SP-Management-Token and X-Databricks-Azure-Workspace-Resource-Id to act as workspace admin"
	case !strings.EqualFold(rid, w.ResourceID):
		return "X-Databricks-Azure-Workspace-Resource-Id " + sanitize(rid) + " is not this workspace"
	}
	mc, err := w.verify(mgmt, managementAudiences...)
	switch {
	case err != nil:
		return "Invalid X-Databricks-Azure-SP-Management-Token: " + err.Error()
	case mc.app() != c.app():
		return "X-Databricks-Azure-SP-Management-Token belongs to another application"
	}
	return ""
}

// claims are the claims the workspace reads, of v1.0 and v2.0 tokens.
type claims struct {
	Aud               string `json:"aud"`
	Iss               string `json:"iss"`
	Exp               int64  `json:"exp"`
	AppID             string `json:"appid"` // v1.0
	AZP               string `json:"azp"`   // v2.0
	OID               string `json:"oid"`
	UPN               string `json:"upn"`                // v1.0
	PreferredUsername string `json:"preferred_username"` // v2.0
	Name              string `json:"name"`
	Idtyp             string `json:"idtyp"`
}

// app is the client application's id, whatever the token's version.
func (c *claims) app() string {
	if c.AppID != "" {
		return c.AppID
	}
	return c.AZP
}

// verify checks a JWT as a relying party does and returns its claims.
func (w *Workspace) verify(tok string, audiences ...string) (*claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	var h struct{ Alg, Kid string }
	var c claims
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return nil, errors.New("malformed JWT")
	}
	if h.Alg != "RS256" {
		return nil, fmt.Errorf("alg %q", sanitize(h.Alg))
	}
	key, issuers, err := w.key(h.Kid)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return nil, errors.New("signature verification failed")
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	switch {
	case !slices.Contains(issuers, c.Iss):
		return nil, fmt.Errorf("issuer %q is not %q", sanitize(c.Iss), strings.Join(issuers, `" or "`))
	case !slices.Contains(audiences, c.Aud):
		return nil, fmt.Errorf("audience %q is not %s", sanitize(c.Aud), audiences[0])
	case now().Unix() >= c.Exp:
		return nil, errors.New("token expired")
	}
	return &c, nil
}

// key returns the signing key kid of the authority and its issuers,
// fetching the OpenID configurations (v2.0 and v1.0) and the JWKS on first
// use and again for a key it does not know (keys roll over).
func (w *Workspace) key(kid string) (*rsa.PublicKey, []string, error) {
	w.mu.Lock()
	k, issuers := w.keys[kid], w.issuers
	w.mu.Unlock()
	if k != nil {
		return k, issuers, nil
	}
	var conf, conf1 struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	authority := strings.TrimRight(w.Authority, "/")
	if err := w.getJSON(authority+"/v2.0/.well-known/openid-configuration", &conf); err != nil {
		return nil, nil, err
	}
	if err := w.getJSON(authority+"/.well-known/openid-configuration", &conf1); err != nil {
		return nil, nil, err
	}
	var set struct {
		Keys []struct{ Kid, Kty, N, E string }
	}
	if err := w.getJSON(conf.JWKSURI, &set); err != nil {
		return nil, nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if j.Kty != "RSA" || err1 != nil || err2 != nil {
			continue
		}
		keys[j.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	issuers = []string{conf.Issuer, conf1.Issuer}
	w.mu.Lock()
	w.keys, w.issuers = keys, issuers
	w.mu.Unlock()
	if keys[kid] == nil {
		return nil, nil, fmt.Errorf("signing key %q is not in the JWKS of %s", sanitize(kid), w.Authority)
	}
	return keys[kid], issuers, nil
}

func (w *Workspace) getJSON(url string, v any) error {
	hc := w.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Get(url)
	if err != nil {
		return fmt.Errorf("identity provider unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered HTTP %d", url, resp.StatusCode)
	}
	return json.Unmarshal(body, v)
}

func scimError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"detail":  detail,
		"status":  fmt.Sprint(status),
	})
}

// sanitize trims text from a request echoed in an answer.
func sanitize(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// host is the host (and port) the client addressed.
func host(r *http.Request) string {
	h := r.Host
	if h == "" || strings.ContainsAny(h, "/\\?#@ \"'<>") {
		return "127.0.0.1"
	}
	return h
}

func newState() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
