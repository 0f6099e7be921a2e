package entraemu

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Grant names as counted (and as MSAL Go sends them).
const (
	grantAuthCode     = "authorization_code"
	grantRefresh      = "refresh_token"
	grantPassword     = "password"
	grantClientCreds  = "client_credentials"
	grantDeviceCode   = "device_code"
	grantUnknown      = "unknown"
	deviceCodeURNForm = "urn:ietf:params:oauth:grant-type:device_code"
)

// grantName normalizes grant_type; unsupported ones are grantUnknown.
func grantName(g string) string {
	switch g {
	case grantAuthCode, grantRefresh, grantPassword, grantClientCreds, grantDeviceCode:
		return g
	case deviceCodeURNForm:
		return grantDeviceCode
	}
	return grantUnknown
}

// scopeSet is a parsed scope request. A request names at most one
// resource: the part of a scope before its last "/" ("<guid>/.default" →
// "<guid>", "https://management.core.windows.net//.default" →
// "https://management.core.windows.net/"). Scopes without "/" are
// Microsoft Graph permissions.
type scopeSet struct {
	resource string    // the resource as named; "" when only OIDC scopes were asked
	res      *Resource // the registered resource (resolveScopes)
	perms    []string  // permissions on resource: ".default", "User.Read", …
	raw      []string  // resource scopes as requested
	oidc     []string  // openid, profile, email, offline_access
}

func isOIDCScope(s string) bool {
	switch strings.ToLower(s) {
	case "openid", "profile", "email", "offline_access":
		return true
	}
	return false
}

func parseScopes(s string) (scopeSet, *oauthError) {
	var ss scopeSet
	for _, sc := range strings.Fields(s) {
		if isOIDCScope(sc) {
			ss.oidc = append(ss.oidc, strings.ToLower(sc))
			continue
		}
		res, perm := GraphResource, sc
		if i := strings.LastIndex(sc, "/"); i >= 0 {
			res, perm = sc[:i], sc[i+1:]
		}
		if !validResource(res) || perm == "" || !utf8Printable(sc) {
			return scopeSet{}, errInvalidScope(70011, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope '%s' is not valid.", sanitize(sc))
		}
		if ss.resource != "" && resourceKey(ss.resource) != resourceKey(res) {
			return scopeSet{}, errInvalidScope(28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", sanitize(s))
		}
		ss.resource = res
		ss.perms = append(ss.perms, perm)
		ss.raw = append(ss.raw, sc)
	}
	return ss, nil
}

func validResource(r string) bool {
	if r == "" {
		return false
	}
	if scheme, rest, ok := strings.Cut(r, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		return scheme != "" && host != ""
	}
	return !strings.Contains(r, "/") || strings.Trim(r, "/") != ""
}

func utf8Printable(s string) bool {
	for _, c := range s {
		if c < 0x21 || c == 0x7f || c == 0xfffd {
			return false
		}
	}
	return true
}

// v1Scopes is the scopeSet of a v1 request: resource= plus any OIDC scopes
// in scope=.
func v1Scopes(resource, scope string) (scopeSet, *oauthError) {
	if !validResource(resource) || !utf8Printable(resource) {
		return scopeSet{}, errUnknownResource(resource)
	}
	return scopeSet{resource: resource, perms: []string{".default"}, oidc: oidcScopes(scope)}, nil
}

// oidcScopes picks the OIDC scopes out of a scope parameter.
func oidcScopes(scope string) []string {
	var out []string
	for _, sc := range strings.Fields(scope) {
		if isOIDCScope(sc) {
			out = append(out, strings.ToLower(sc))
		}
	}
	return out
}

func (s scopeSet) has(oidc string) bool { return slices.Contains(s.oidc, oidc) }

// withDefaultResource gives a user request that named no resource its
// Entra default, Microsoft Graph.
func (s scopeSet) withDefaultResource() scopeSet {
	if s.resource == "" {
		s.resource = GraphResource
		s.perms = []string{"User.Read"}
		s.res = nil
	}
	return s
}

// fullScope names permission perm of the resource as the request named the
// resource: bare for Microsoft Graph asked by bare names, else
// "<resource>/<perm>" (so Azure Resource Manager's is
// "https://management.core.windows.net//user_impersonation").
func (s scopeSet) fullScope(perm string) string {
	if s.resource == GraphResource && len(s.raw) > 0 && !strings.Contains(s.raw[0], "/") {
		return perm
	}
	return s.resource + "/" + perm
}

// tokenRequest is one request to a token endpoint.
type tokenRequest struct {
	v1     bool
	tenant string // the tenant path segment, lower case
	form   url.Values
	host   string
	now    time.Time
	grant  string
	client *client
	// credential is how the client authenticated: "0" none (public),
	// "1" secret, "2" certificate — the appidacr/azpacr claim.
	credential string
}

// handleToken serves the v2 (/oauth2/v2.0/token) or v1 (/oauth2/token)
// token endpoint.
func (e *Emulator) handleToken(v1 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !e.applyFault(w, r) {
			return
		}
		form, oe := parsePostForm(w, r)
		grant := grantName(form.Get("grant_type"))
		key := grant
		if v1 {
			key = "v1:" + grant
		}
		e.count(key)
		annotate(w, slog.String("grant", key))
		if oe == nil && !knownTenant(r.PathValue("tenant")) {
			oe = errUnknownTenant(sanitize(r.PathValue("tenant")))
		}
		var resp any
		if oe == nil {
			tr := &tokenRequest{v1: v1, tenant: strings.ToLower(r.PathValue("tenant")), form: form, host: hostOf(r), now: e.Now(), grant: grant}
			resp, oe = e.token(r, tr)
			if tr.client != nil {
				annotate(w, slog.String("client_id", tr.client.id))
			}
		}
		if oe != nil {
			annotate(w, slog.String("error", oe.err), slog.Int("aadsts", oe.aadsts))
			e.writeError(w, r, oe)
			return
		}
		noStore(w)
		writeJSON(w, http.StatusOK, resp)
	}
}

func (e *Emulator) token(r *http.Request, tr *tokenRequest) (any, *oauthError) {
	switch gt := tr.form.Get("grant_type"); {
	case gt == "":
		return nil, errMissingParam("grant_type")
	case tr.grant == grantUnknown:
		return nil, newError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", sanitize(gt))
	}
	if oe := e.authenticateClient(r, tr); oe != nil {
		return nil, oe
	}
	switch tr.grant {
	case grantClientCreds:
		return e.grantClientCredentials(tr)
	case grantPassword:
		return e.grantPassword(tr)
	case grantAuthCode:
		return e.grantAuthCode(tr)
	case grantRefresh:
		return e.grantRefreshToken(tr)
	default:
		return e.grantDeviceCode(tr)
	}
}

// lookupClient finds an app registration (client ids are GUIDs: case
// does not matter).
func (e *Emulator) lookupClient(id string) *client {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clients[strings.ToLower(id)]
}

// authenticateClient identifies the client and checks its credential:
// public clients present none; confidential ones a secret (post or basic)
// or a certificate-signed client assertion.
func (e *Emulator) authenticateClient(r *http.Request, tr *tokenRequest) *oauthError {
	id := tr.form.Get("client_id")
	secret := tr.form.Get("client_secret")
	if bu, bp, ok := r.BasicAuth(); ok {
		bu, _ = url.QueryUnescape(bu)
		bp, _ = url.QueryUnescape(bp)
		if id == "" {
			id = bu
		}
		if !strings.EqualFold(bu, id) {
			return errInvalidClient(7000216, "'client_id' in the request body does not match the client in the Authorization header.")
		}
		secret = bp
	}
	if id == "" {
		return errMissingParam("client_id")
	}
	c := e.lookupClient(id)
	if c == nil {
		return errUnknownClient(sanitize(id))
	}
	tr.client = c
	assertion := tr.form.Get("client_assertion")
	if c.public {
		if secret != "" || assertion != "" {
			return errInvalidClient(700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
		}
		if tr.grant == grantClientCreds || c.noPublicFlows && tr.grant != grantAuthCode {
			return errInvalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		}
		tr.credential = "0"
		return nil
	}
	switch {
	case secret != "":
		if c.secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
			return errInvalidClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", c.id)
		}
		tr.credential = "1"
	case assertion != "":
		switch at := tr.form.Get("client_assertion_type"); at {
		case clientAssertionType:
		case "":
			return errMissingParam("client_assertion_type")
		default:
			return errInvalidRequest(700028, "Client assertion type '%s' is not supported. Use '%s'.", sanitize(at), clientAssertionType)
		}
		if oe := e.verifyAssertion(c, assertion, tr.host, tr.now); oe != nil {
			return oe
		}
		tr.credential = "2"
	default:
		return errInvalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	return nil
}

// requestScopes parses scope= (v2) or resource= (v1) and checks them
// against the registered resources (user: the delegated permissions too).
// fallback, if not nil, is used when the request names none (refresh,
// code, device code).
func (e *Emulator) requestScopes(tr *tokenRequest, fallback *scopeSet, user bool) (scopeSet, *oauthError) {
	ss, oe := tr.parseRequestScopes(fallback)
	if oe != nil {
		return ss, oe
	}
	if user {
		ss = ss.withDefaultResource()
	}
	return ss, e.resolveScopes(&ss, user, false, tr.client)
}

func (tr *tokenRequest) parseRequestScopes(fallback *scopeSet) (scopeSet, *oauthError) {
	if tr.v1 {
		res := tr.form.Get("resource")
		if res == "" {
			if fallback != nil {
				ss := *fallback
				if sc := tr.form.Get("scope"); sc != "" {
					ss.oidc = oidcScopes(sc)
				}
				return ss, nil
			}
			return scopeSet{}, errMissingParam("resource")
		}
		return v1Scopes(res, tr.form.Get("scope"))
	}
	sc := tr.form.Get("scope")
	if strings.TrimSpace(sc) == "" {
		if fallback != nil {
			return *fallback, nil
		}
		return scopeSet{}, errMissingParam("scope")
	}
	return parseScopes(sc)
}

func (e *Emulator) grantClientCredentials(tr *tokenRequest) (any, *oauthError) {
	// An app token is for one tenant: "/common" and "/organizations" name
	// none ("tenant: Required. The directory tenant the application plans
	// to operate against, in GUID or domain-name format",
	// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#get-a-token),
	// and Entra answers AADSTS50059 "No tenant-identifying information
	// found" (github.com/MicrosoftDocs/azure-docs/issues/24064); MSAL
	// warns against them (microsoft-authentication-library-for-python#435).
	switch tr.tenant {
	case "common", "organizations", "consumers":
		return nil, errInvalidRequest(50059, "No tenant-identifying information found in either the request or implied by any provided credentials.")
	}
	ss, oe := e.requestScopes(tr, nil, false)
	if oe != nil {
		return nil, oe
	}
	if !tr.v1 && (ss.resource == "" || len(ss.perms) != 1 || ss.perms[0] != ".default") {
		return nil, errInvalidScope(1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sanitize(tr.form.Get("scope")))
	}
	return e.issue(tr, grantResult{scopes: ss})
}

func (e *Emulator) lookupUser(username string) *user {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.users[strings.ToLower(username)]
}

func (e *Emulator) grantPassword(tr *tokenRequest) (any, *oauthError) {
	name, pw := tr.form.Get("username"), tr.form.Get("password")
	if name == "" {
		return nil, errMissingParam("username")
	}
	if pw == "" {
		return nil, errMissingParam("password")
	}
	ss, oe := e.requestScopes(tr, nil, true)
	if oe != nil {
		return nil, oe
	}
	u := e.lookupUser(name)
	if u == nil {
		return nil, errInvalidGrant(50034, "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", TenantDomain)
	}
	if subtle.ConstantTimeCompare([]byte(pw), []byte(u.password)) != 1 {
		return nil, errInvalidGrant(50126, "Error validating credentials due to invalid username or password.")
	}
	if oe := e.checkNonInteractive(u, tr.client, false, ss); oe != nil {
		return nil, oe
	}
	return e.issue(tr, grantResult{user: u, scopes: ss})
}

func (e *Emulator) grantAuthCode(tr *tokenRequest) (any, *oauthError) {
	code := tr.form.Get("code")
	if code == "" {
		return nil, errMissingParam("code")
	}
	e.mu.Lock()
	ac := e.codes[code]
	var oe *oauthError
	switch {
	case ac == nil:
		oe = errInvalidGrant(9002313, "Invalid request. Request is malformed or invalid.")
	case ac.clientID != tr.client.id:
		oe = errInvalidGrant(70000, "The provided authorization code was issued to a different client.")
	case ac.used:
		oe = errInvalidGrant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case tr.now.After(ac.expires):
		ac.used = true
		oe = errInvalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	default:
		ac.used = true // single use, whatever happens next
	}
	var u *user
	if ac != nil {
		u = e.users[ac.username]
	}
	e.mu.Unlock()
	if oe != nil {
		return nil, oe
	}
	if ru := tr.form.Get("redirect_uri"); ru != ac.redirectURI {
		return nil, errInvalidGrant(500112, "The reply address '%s' does not match the reply address '%s' provided when requesting Authorization code.", sanitize(ru), ac.redirectURI)
	}
	if ac.challenge != "" {
		v := tr.form.Get("code_verifier")
		if v == "" {
			return nil, errMissingParam("code_verifier")
		}
		sum := sha256.Sum256([]byte(v))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(ac.challenge)) != 1 {
			return nil, errInvalidGrant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	ss, oe := e.requestScopes(tr, &ac.scopes, true)
	if oe != nil {
		return nil, oe
	}
	return e.issue(tr, grantResult{user: u, scopes: ss, nonce: ac.nonce, mfa: ac.mfa})
}

// refreshToken is an issued refresh token. Each redemption issues a new
// one, but the one redeemed stays valid until it expires or the user's
// sessions are revoked: "The Microsoft identity platform doesn't revoke old
// refresh tokens when used to fetch new access tokens"
// (https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime).
// With strict rotation (Config.StrictRefreshRotation, SetStrictRotation) a
// token dies once one of its successors has been redeemed, as a provider
// that retires used refresh tokens does: a client that lost the successor
// can still retry with it, but not after a normal refresh.
type refreshToken struct {
	clientID   string
	username   string
	epoch      int // user's epoch at issue; RevokeUser moves it
	scopes     scopeSet
	issuedAt   time.Time
	expires    time.Time
	parent     *refreshToken
	superseded bool
	mfa        bool // issued to a sign-in that did multi-factor authentication
	family     bool // a family refresh token (FOCI), redeemable by any family client
}

func (e *Emulator) grantRefreshToken(tr *tokenRequest) (any, *oauthError) {
	tok := tr.form.Get("refresh_token")
	if tok == "" {
		return nil, errMissingParam("refresh_token")
	}
	e.mu.Lock()
	rt := e.refresh[tok]
	var u *user
	var oe *oauthError
	if rt != nil {
		u = e.users[rt.username]
	}
	switch {
	case rt == nil:
		oe = errInvalidGrant(9002313, "Invalid request. Request is malformed or invalid.")
	case rt.clientID != tr.client.id && !(rt.family && tr.client.family):
		oe = errInvalidGrant(70000, "The provided value for the 'refresh_token' is not valid: it was issued to a different client.")
	case u == nil || rt.epoch != u.epoch:
		oe = errInvalidGrant(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.",
			rt.issuedAt.UTC().Format(time.RFC3339), revokedAt(u).UTC().Format(time.RFC3339))
	case tr.now.After(rt.expires):
		oe = errInvalidGrant(700082, "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.", rt.issuedAt.UTC().Format(time.RFC3339), inactiveFor(rt.expires.Sub(rt.issuedAt)))
	case rt.superseded && e.strictRotation:
		oe = errInvalidGrant(70000, "The provided value for the 'refresh_token' is not valid: it was rotated, and its successor has already been redeemed.")
	default:
		if rt.parent != nil {
			rt.parent.superseded = true
			rt.parent = nil
		}
	}
	e.mu.Unlock()
	if oe != nil {
		return nil, oe
	}
	ss, oe := e.requestScopes(tr, &rt.scopes, true)
	if oe != nil {
		return nil, oe
	}
	if oe := e.checkNonInteractive(u, tr.client, rt.mfa, ss); oe != nil {
		return nil, oe
	}
	g := grantResult{user: u, scopes: ss, parent: rt, alwaysRT: true, mfa: rt.mfa}
	if tr.client.spa {
		// A single-page app's refresh tokens keep the first one's expiry
		// (https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime).
		g.rtExpires = rt.expires
	}
	return e.issue(tr, g)
}

// inactiveFor formats a duration as Entra's d.hh:mm:ss.
func inactiveFor(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d.%02d:%02d:%02d", s/86400, s%86400/3600, s%3600/60, s%60)
}

func revokedAt(u *user) time.Time {
	if u == nil {
		return time.Time{}
	}
	return u.revokedAt
}

// grantResult is what a grant authorized; issue turns it into tokens.
type grantResult struct {
	user      *user // nil: an app-only token
	scopes    scopeSet
	nonce     string
	parent    *refreshToken // the refresh token redeemed, if any
	alwaysRT  bool          // issue a refresh token even without offline_access
	mfa       bool          // the sign-in did multi-factor authentication
	rtExpires time.Time     // the new refresh token's expiry, if not the default
}

// tokenResponseV2 is the v2 endpoint's success body. MSAL Go needs
// access_token and expires_in (or expires_on); it derives the account from
// client_info (uid.utid) and id_token, and fails on any requested scope
// missing from "scope" (accesstokens.findDeclinedScopes), so "scope" lists
// the granted permissions and whatever else was asked (".default", OIDC
// scopes). "foci" marks a family refresh token: MSAL keeps it as the
// family's (accesstokens.TokenResponse.FamilyID, msal token_cache.py).
type tokenResponseV2 struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	FOCI         string `json:"foci,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// tokenResponseV1 is the v1 endpoint's body: numbers as strings.
type tokenResponseV1 struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	FOCI         string `json:"foci,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// stsIssuer is the issuer of v1.0 tokens: "https://sts.windows.net/{tenant}/"
// whatever host issued them (iss in
// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference#payload-claims).
// It is a name, never resolved.
func stsIssuer() string { return "https://sts.windows.net/" + TenantID + "/" }

// issue mints the tokens of a successful grant and renders the response.
func (e *Emulator) issue(tr *tokenRequest, g grantResult) (any, *oauthError) {
	c, u, now := tr.client, g.user, tr.now
	if u != nil {
		g.scopes = g.scopes.withDefaultResource()
	}
	if g.scopes.res == nil && g.scopes.resource != "" {
		if oe := e.resolveScopes(&g.scopes, u != nil, false, c); oe != nil {
			return nil, oe
		}
	}
	wantRT := u != nil && (g.alwaysRT || tr.v1 || g.scopes.has("offline_access"))
	wantID := u != nil && g.scopes.has("openid")
	var granted []string
	if u != nil {
		granted = e.grantedScopes(u, c, g.scopes.res)
	}

	e.mu.Lock()
	life := e.lifetimeLocked()
	var rt string
	if wantRT {
		rt = newSecret("1.AR")
		exp := g.rtExpires
		if exp.IsZero() {
			exp = now.Add(refreshLifetime)
			if c.spa {
				exp = now.Add(spaRefreshLifetime)
			}
		}
		e.refresh[rt] = &refreshToken{
			clientID: c.id, username: u.username, epoch: u.epoch, scopes: g.scopes,
			issuedAt: now, expires: exp, parent: g.parent, mfa: g.mfa, family: c.family,
		}
	}
	e.mu.Unlock()

	access, err := e.pki.signJWT(accessClaims(tr, g, granted, now, life))
	if err != nil {
		return nil, newError(500, "server_error", 50000, "There was an error issuing a token.")
	}
	exp := now.Add(life).Unix()
	var idt, clientInfo string
	if wantID {
		if idt, err = e.pki.signJWT(idClaims(tr, g, now)); err != nil {
			return nil, newError(500, "server_error", 50000, "There was an error issuing a token.")
		}
	}
	if u != nil && tr.form.Get("client_info") == "1" {
		ci, _ := json.Marshal(map[string]string{"uid": u.oid, "utid": TenantID})
		clientInfo = b64(ci)
	}
	e.recordIssued(access, rt, idt)
	// Family-of-client-ids apps (the Azure CLI and Microsoft's other first
	// party public clients) get "foci":"1" with their refresh tokens
	// (MSAL Go: accesstokens.TokenResponse.FamilyID; msal token_cache.py
	// stores it as family_id).
	foci := ""
	if rt != "" && c.family {
		foci = "1"
	}

	secs := exp - now.Unix()
	if tr.v1 {
		r := tokenResponseV1{
			TokenType: "Bearer", ExpiresIn: strconv.FormatInt(secs, 10), ExtExpiresIn: strconv.FormatInt(secs, 10),
			ExpiresOn: strconv.FormatInt(exp, 10), NotBefore: strconv.FormatInt(now.Unix(), 10), Resource: g.scopes.resource,
			AccessToken: access, RefreshToken: rt, FOCI: foci, IDToken: idt, ClientInfo: clientInfo,
		}
		if u != nil {
			r.Scope = strings.Join(granted, " ")
		}
		return r, nil
	}
	r := tokenResponseV2{
		TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs,
		AccessToken: access, RefreshToken: rt, FOCI: foci, IDToken: idt, ClientInfo: clientInfo,
	}
	if u != nil {
		r.Scope = responseScope(g.scopes, granted)
	}
	return r, nil
}

// responseScope is the v2 response's "scope": the granted delegated
// permissions of the resource, named as the request named the resource
// (for Azure Databricks ".default" that is
// "2ff814a6-…/user_impersonation"), then the other scopes asked for
// (".default" itself, OIDC scopes), which MSAL requires to find.
func responseScope(ss scopeSet, granted []string) string {
	var out []string
	for _, p := range granted {
		out = append(out, ss.fullScope(p))
	}
	for _, r := range ss.raw {
		if !containsFold(out, r) {
			out = append(out, r)
		}
	}
	return strings.Join(append(out, ss.oidc...), " ")
}

// accessClaims are the claims of an access token, in the version its
// resource accepts (Resource.TokenVersion), per
// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference:
// v1.0 has iss https://sts.windows.net/{tid}/, appid and appidacr, and for
// users upn, unique_name, given_name and family_name; v2.0 has the
// endpoint's issuer …/{tid}/v2.0, azp and azpacr, and preferred_username.
// aud of a v2.0 token is always the resource's application id; of a v1.0
// token, the name the request used. idtyp is the optional claim that tells
// app and user tokens apart.
func accessClaims(tr *tokenRequest, g grantResult, granted []string, now time.Time, life time.Duration) map[string]any {
	c, u := tr.client, g.user
	v2 := g.scopes.res != nil && g.scopes.res.TokenVersion == 2
	iat := now.Unix()
	at := map[string]any{
		"iat": iat, "nbf": iat, "exp": now.Add(life).Unix(), "tid": TenantID,
		"uti": newSecret("")[:22], "rh": "0.AAAA" + newSecret("")[:20] + ".", "aio": newSecret("")[:40],
	}
	if v2 {
		at["ver"], at["aud"], at["iss"] = "2.0", g.scopes.res.AppID, issuer(tr.host)
		at["azp"], at["azpacr"] = c.id, tr.credential
	} else {
		aud := g.scopes.resource
		if r := g.scopes.res; r != nil && strings.EqualFold(aud, r.AppID) {
			aud = r.AppID
		}
		at["ver"], at["aud"], at["iss"] = "1.0", aud, stsIssuer()
		at["appid"], at["appidacr"] = c.id, tr.credential
	}
	if u == nil {
		at["oid"], at["sub"], at["idtyp"] = c.spOID, c.spOID, "app"
		roles := []string{"Emulator.Default"}
		if g.scopes.res != nil {
			roles = g.scopes.res.Roles
		}
		at["roles"] = roles
		if !v2 {
			at["idp"] = stsIssuer()
		}
		return at
	}
	given, family, _ := strings.Cut(u.name, " ")
	at["oid"], at["sub"], at["idtyp"] = u.oid, pairwiseSub(u.oid, c.id), "user"
	at["scp"], at["name"] = strings.Join(granted, " "), u.name
	at["amr"] = []string{"pwd"}
	if g.mfa {
		at["amr"] = []string{"pwd", "mfa"}
	}
	if v2 {
		at["preferred_username"] = u.username
	} else {
		at["upn"], at["unique_name"], at["given_name"], at["family_name"] = u.username, u.username, given, family
		at["acr"], at["ipaddr"] = "1", "127.0.0.1"
	}
	return at
}

// idClaims are the ID token's claims. Unlike access tokens, the ID token's
// version follows the endpoint
// (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference).
func idClaims(tr *tokenRequest, g grantResult, now time.Time) map[string]any {
	c, u := tr.client, g.user
	claims := map[string]any{
		"aud": c.id, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(idTokenLifetime).Unix(),
		"tid": TenantID, "oid": u.oid, "sub": pairwiseSub(u.oid, c.id), "name": u.name,
	}
	if tr.v1 {
		claims["ver"], claims["iss"], claims["upn"], claims["unique_name"] = "1.0", stsIssuer(), u.username, u.username
	} else {
		claims["ver"], claims["iss"], claims["preferred_username"] = "2.0", issuer(tr.host), u.username
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	return claims
}

// pairwiseSub is the sub claim: per user and app, as in Entra.
func pairwiseSub(oid, clientID string) string {
	sum := sha256.Sum256([]byte("sub\x00" + oid + "\x00" + clientID))
	return b64(sum[:])
}

// newSecret returns prefix plus 48 random bytes, base64url: refresh
// tokens, codes and device codes.
func newSecret(prefix string) string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	return prefix + b64(b[:])
}
