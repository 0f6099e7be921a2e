package entraemu

import (
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authCode is an issued authorization code.
type authCode struct {
	clientID    string
	username    string
	redirectURI string
	challenge   string // S256 code_challenge; "" if none (confidential clients)
	scopes      scopeSet
	nonce       string
	expires     time.Time
	used        bool
	mfa         bool // the sign-in did multi-factor authentication
}

// loopbackRedirect reports whether s is http://localhost, http://127.0.0.1
// or http://[::1], any port and path: the redirect URIs of native apps
// (MSAL's local server uses http://localhost:PORT).
func loopbackRedirect(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	switch h := u.Hostname(); {
	case strings.EqualFold(h, "localhost"):
		return true
	default:
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
}

// handleAuthorize is the authorization endpoint. There is no sign-in
// page: it consents at once as login_hint (if a known user) or the fixture
// user and sends the code back with response_mode query (302, the
// default), fragment (302), or form_post (an auto-submitting HTML form,
// which MSAL's AcquireTokenInteractive asks for).
func (e *Emulator) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	e.count("authorize")
	if !e.tenantOK(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		e.writeError(w, r, errMalformed())
		return
	}
	q := r.Form
	// Errors before the redirect URI is trusted are shown, not redirected.
	clientID := q.Get("client_id")
	if clientID == "" {
		e.writeError(w, r, errMissingParam("client_id"))
		return
	}
	c := e.lookupClient(clientID)
	if c == nil {
		e.writeError(w, r, errUnknownClient(sanitize(clientID)))
		return
	}
	annotate(w, slog.String("client_id", c.id))
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		e.writeError(w, r, errMissingParam("redirect_uri"))
		return
	}
	if !loopbackRedirect(redirect) {
		e.writeError(w, r, errInvalidRequest(50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Only loopback http URIs (http://localhost, http://127.0.0.1, http://[::1]) are registered.", sanitize(redirect), c.id))
		return
	}
	mode := q.Get("response_mode")
	switch mode {
	case "":
		mode = "query"
	case "query", "fragment", "form_post":
	default:
		e.writeError(w, r, errInvalidRequest(900144, "The provided value for the input parameter 'response_mode' is not valid."))
		return
	}
	state := q.Get("state")
	fail := func(o *oauthError) {
		annotate(w, slog.String("error", o.err), slog.Int("aadsts", o.aadsts))
		b := o.body(r, e.Now())
		e.respondAuthorize(w, redirect, mode, url.Values{
			"error": {o.err}, "error_description": {b.ErrorDescription},
			"error_uri": {b.ErrorURI}, "state": {state},
		})
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail(newError(400, "unsupported_response_type", 700054, "response_type '%s' is not enabled for the application.", sanitize(rt)))
		return
	}
	// PKCE is required of single-page apps only ("PKCE is required for
	// single-page apps … and recommended for all other app types",
	// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code;
	// AADSTS9002325 as Entra words it). A challenge, when sent, is checked.
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && c.spa:
		fail(errInvalidRequest(9002325, "Proof Key for Code Exchange is required for cross-origin authorization code redemption."))
		return
	case challenge != "" && method != "S256":
		fail(errInvalidRequest(501491, "Invalid code_challenge_method '%s': only S256 is supported.", sanitize(method)))
		return
	case challenge != "" && len(challenge) != 43:
		fail(errInvalidRequest(501491, "Invalid size of Code_Challenge parameter."))
		return
	}
	scope := q.Get("scope")
	if strings.TrimSpace(scope) == "" {
		fail(errMissingParam("scope"))
		return
	}
	ss, oe := parseScopes(scope)
	if oe == nil {
		ss = ss.withDefaultResource()
		oe = e.resolveScopes(&ss, true, true, c)
	}
	if oe != nil {
		fail(oe)
		return
	}
	// NextAuthorize(AuthorizeCancel): the person cancels on the page.
	if e.takeAuthorizeOutcome(AuthorizeCancel) || q.Get("emu_action") == "cancel" {
		annotate(w, slog.String("outcome", string(AuthorizeCancel)))
		e.respondAuthorize(w, redirect, mode, cancelParams(r, e.Now(), state))
		return
	}
	sp := signInPage{client: c, scopes: ss, params: protocolParams(q)}
	username, ok := e.signIn(w, r, q, &sp)
	if !ok {
		return
	}
	if username == "" {
		// prompt=none and nobody to sign in silently: "login_required"
		// (AADSTS50058), as Entra answers
		// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-codes-for-authorization-endpoint-errors).
		o := newError(400, "login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
		b := o.body(r, e.Now())
		e.respondAuthorize(w, redirect, mode, url.Values{
			"error": {o.err}, "error_description": {b.ErrorDescription}, "error_uri": {b.ErrorURI}, "state": {state},
		})
		return
	}
	reused := e.takeAuthorizeOutcome(AuthorizeReusedCode)
	code := newSecret("1.AC")
	now := e.Now()
	e.mu.Lock()
	// Signing in consents (at once) to what the app asked for and, for
	// users who need it, does a second factor.
	e.consentLocked(username, c, ss)
	e.codes[code] = &authCode{
		clientID: c.id, username: username, redirectURI: redirect, challenge: challenge,
		scopes: ss, nonce: q.Get("nonce"), expires: now.Add(authCodeLifetime),
		used: reused, mfa: e.users[username].mfa,
	}
	e.sweepLocked(now)
	e.mu.Unlock()
	e.recordIssued(code)
	v := url.Values{"code": {code}}
	if state != "" {
		v.Set("state", state)
	}
	e.respondAuthorize(w, redirect, mode, v)
}

// cancelParams is what Entra sends the app when the person cancels the
// sign-in: error=access_denied with error_subcode=cancel
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-codes-for-authorization-endpoint-errors:
// "access_denied: Resource owner denied consent";
// MSAL.NET maps error_subcode "cancel" to its authentication_canceled).
func cancelParams(r *http.Request, now time.Time, state string) url.Values {
	o := newError(400, "access_denied", 65004, "User declined to consent to access the app.")
	b := o.body(r, now)
	return url.Values{
		"error": {o.err}, "error_subcode": {"cancel"}, "error_description": {b.ErrorDescription},
		"error_uri": {b.ErrorURI}, "state": {state},
	}
}

// respondAuthorize delivers v to the client's redirect URI.
func (e *Emulator) respondAuthorize(w http.ResponseWriter, redirect, mode string, v url.Values) {
	noStore(w)
	for k, vals := range v {
		if len(vals) == 0 || vals[0] == "" {
			delete(v, k)
		}
	}
	switch mode {
	case "form_post":
		var inputs strings.Builder
		for k := range v {
			fmt.Fprintf(&inputs, `<input type="hidden" name="%s" value="%s" />`, html.EscapeString(k), html.EscapeString(v.Get(k)))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, `<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" action="%s">%s<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript></form><script language="javascript">document.forms[0].submit();</script></body></html>`,
			html.EscapeString(redirect), inputs.String())
	case "fragment":
		u, _ := url.Parse(redirect)
		u.Fragment = ""
		w.Header().Set("Location", u.String()+"#"+v.Encode())
		w.WriteHeader(http.StatusFound)
	default:
		u, _ := url.Parse(redirect)
		q := u.Query()
		for k := range v {
			q.Set(k, v.Get(k))
		}
		u.RawQuery = q.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusFound)
	}
}
