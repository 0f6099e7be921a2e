package entraemu

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ManagementResource is the Azure Resource Manager resource: the audience
// of the X-Databricks-Azure-SP-Management-Token header.
const ManagementResource = "https://management.core.windows.net/"

// Workspace is a fake Azure Databricks workspace for tests of the clients
// of tokens: GET /api/2.0/preview/scim/v2/Me answers who the bearer token
// is for, as a workspace does, once the token has passed what a relying
// party checks. It knows the identity provider only by its authority URL:
// it reads the OpenID configuration and the JWKS over HTTPS (with
// HTTPClient) and verifies the RS256 signature, the issuer, aud (the Azure
// Databricks resource, as a GUID or api:// URI) and exp.
//
// A service principal that is not a member of the workspace gets in as a
// workspace admin through its Azure role on the workspace resource: with
// RequireAdminHeaders an app token is accepted only with
// X-Databricks-Azure-SP-Management-Token (a token of the same app for
// ManagementResource, verified alike) and X-Databricks-Azure-Workspace-Resource-Id
// equal to ResourceID. User tokens need no more than the bearer token.
type Workspace struct {
	Authority           string       // https://HOST/TENANT
	HTTPClient          *http.Client // trusts the authority's CA
	ResourceID          string       // /subscriptions/…/providers/Microsoft.Databricks/workspaces/…
	RequireAdminHeaders bool
	Now                 func() time.Time // nil: time.Now

	mu     sync.Mutex
	issuer string
	keys   map[string]*rsa.PublicKey
	calls  int
}

// WorkspaceMePath is the SCIM "Me" endpoint of a workspace.
const WorkspaceMePath = "/api/2.0/preview/scim/v2/Me"

// Calls counts the requests that reached the Me endpoint.
func (w *Workspace) Calls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

func (w *Workspace) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != WorkspaceMePath || r.Method != http.MethodGet {
		scimError(rw, http.StatusNotFound, "No API found for '"+sanitize(r.Method+" "+r.URL.Path)+"'")
		return
	}
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		scimError(rw, http.StatusUnauthorized, "Unable to load OAuth Config: no bearer token")
		return
	}
	c, err := w.verify(bearer, DatabricksResource, "api://"+DatabricksResource)
	if err != nil {
		scimError(rw, http.StatusUnauthorized, "Invalid access token: "+err.Error())
		return
	}
	app := c.Idtyp == "app" || c.UPN == ""
	if app && w.RequireAdminHeaders {
		if msg := w.checkAdminHeaders(r, c); msg != "" {
			scimError(rw, http.StatusForbidden, msg)
			return
		}
	}
	name, display := c.UPN, c.Name
	if app {
		name, display = c.AppID, "service principal "+c.AppID
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"id":          derivedGUID("workspace user", c.OID)[:16],
		"userName":    name,
		"displayName": display,
		"active":      true,
	})
}

// checkAdminHeaders says what is wrong with the SP-admin headers, or "".
func (w *Workspace) checkAdminHeaders(r *http.Request, c *wsClaims) string {
	mgmt := r.Header.Get("X-Databricks-Azure-SP-Management-Token")
	rid := r.Header.Get("X-Databricks-Azure-Workspace-Resource-Id")
	switch {
	case mgmt == "" || rid == "":
		return "Service principal " + c.AppID + " is not a member of this workspace: send X-Databricks-Azure-SP-Management-Token and X-Databricks-Azure-Workspace-Resource-Id to act as workspace admin"
	case !strings.EqualFold(rid, w.ResourceID):
		return "X-Databricks-Azure-Workspace-Resource-Id " + sanitize(rid) + " is not this workspace"
	}
	mc, err := w.verify(mgmt, ManagementResource, strings.TrimSuffix(ManagementResource, "/"))
	switch {
	case err != nil:
		return "Invalid X-Databricks-Azure-SP-Management-Token: " + err.Error()
	case mc.AppID != c.AppID:
		return "X-Databricks-Azure-SP-Management-Token belongs to another application"
	}
	return ""
}

// wsClaims are the claims the workspace reads.
type wsClaims struct {
	Aud   string `json:"aud"`
	Iss   string `json:"iss"`
	Exp   int64  `json:"exp"`
	AppID string `json:"appid"`
	OID   string `json:"oid"`
	UPN   string `json:"upn"`
	Name  string `json:"name"`
	Idtyp string `json:"idtyp"`
}

// verify checks a JWT as a relying party does and returns its claims.
func (w *Workspace) verify(tok string, audiences ...string) (*wsClaims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	var h struct{ Alg, Kid string }
	var c wsClaims
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return nil, errors.New("malformed JWT")
	}
	if h.Alg != "RS256" {
		return nil, fmt.Errorf("alg %q", sanitize(h.Alg))
	}
	key, issuer, err := w.key(h.Kid)
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
	case c.Iss != issuer:
		return nil, fmt.Errorf("issuer %q is not %q", sanitize(c.Iss), issuer)
	case !contains(audiences, c.Aud):
		return nil, fmt.Errorf("audience %q is not %s", sanitize(c.Aud), audiences[0])
	case now().Unix() >= c.Exp:
		return nil, errors.New("token expired")
	}
	return &c, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// key returns the signing key kid of the authority and its issuer,
// fetching the OpenID configuration and JWKS on first use and again for a
// key it does not know (keys roll over).
func (w *Workspace) key(kid string) (*rsa.PublicKey, string, error) {
	w.mu.Lock()
	k, issuer := w.keys[kid], w.issuer
	w.mu.Unlock()
	if k != nil {
		return k, issuer, nil
	}
	var conf struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := w.getJSON(strings.TrimRight(w.Authority, "/")+"/v2.0/.well-known/openid-configuration", &conf); err != nil {
		return nil, "", err
	}
	var set struct {
		Keys []struct{ Kid, Kty, N, E string }
	}
	if err := w.getJSON(conf.JWKSURI, &set); err != nil {
		return nil, "", err
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
	w.mu.Lock()
	w.keys, w.issuer = keys, conf.Issuer
	w.mu.Unlock()
	if keys[kid] == nil {
		return nil, "", fmt.Errorf("signing key %q is not in the JWKS of %s", sanitize(kid), w.Authority)
	}
	return keys[kid], conf.Issuer, nil
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
