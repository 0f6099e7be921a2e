package entraemu

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The failures a person meets while signing in, with the controls that
// bring them about: a cancelled sign-in page, multi-factor authentication
// that a non-interactive grant cannot do, missing consent, an
// authorization code that was already redeemed. (A declined device code is
// DenyDeviceCode; an expired one is ShiftClock past its 15 minutes.)

// AuthorizeOutcome is what a sign-in at /authorize does instead of
// succeeding (NextAuthorize).
type AuthorizeOutcome string

const (
	// AuthorizeCancel: the person cancels on the sign-in page. The redirect
	// carries error=access_denied, error_subcode=cancel, AADSTS65004.
	AuthorizeCancel AuthorizeOutcome = "cancel"
	// AuthorizeReusedCode: the code handed out has already been redeemed
	// (a replayed redirect, say); the token endpoint answers invalid_grant
	// AADSTS54005.
	AuthorizeReusedCode AuthorizeOutcome = "reused_code"
)

// NextAuthorize makes the next sign-in at /authorize (after its request has
// been validated) end with outcome. Calls queue up in order.
func (e *Emulator) NextAuthorize(outcome AuthorizeOutcome) error {
	switch outcome {
	case AuthorizeCancel, AuthorizeReusedCode:
	default:
		return fmt.Errorf("emulator: unknown authorize outcome %q (want %q or %q)", outcome, AuthorizeCancel, AuthorizeReusedCode)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.authorize = append(e.authorize, outcome)
	return nil
}

func (e *Emulator) takeAuthorizeOutcome() AuthorizeOutcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.authorize) == 0 {
		return ""
	}
	o := e.authorize[0]
	e.authorize = e.authorize[1:]
	return o
}

// RequireMFA turns multi-factor authentication on or off for username, as
// a Conditional Access policy would. While on, the password grant, and
// redeeming a refresh token from a sign-in that did no second factor, fail
// with interaction_required AADSTS50076. Interactive sign-ins (browser,
// device code) do the second factor and get refresh tokens that keep
// working.
func (e *Emulator) RequireMFA(username string, on bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.users[strings.ToLower(username)]
	if u == nil {
		return fmt.Errorf("emulator: unknown user %q", username)
	}
	u.mfa = on
	return nil
}

// consentKey is a (user, client) consent.
type consentKey struct{ username, clientID string }

// SetConsent grants or withdraws username's consent to clientID. Every
// consent is granted at first. Without it, the password grant and refresh
// tokens fail with invalid_grant AADSTS65001; an interactive sign-in asks
// for consent again (and gets it).
func (e *Emulator) SetConsent(username, clientID string, granted bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.users[strings.ToLower(username)]
	c := e.clients[strings.ToLower(clientID)]
	switch {
	case u == nil:
		return fmt.Errorf("emulator: unknown user %q", username)
	case c == nil:
		return fmt.Errorf("emulator: unknown client %q", clientID)
	}
	k := consentKey{u.username, c.id}
	if granted {
		delete(e.noConsent, k)
	} else {
		e.noConsent[k] = true
	}
	return nil
}

// checkNonInteractive applies what only an interactive sign-in can satisfy
// to a grant without one (password, refresh token): a second factor, and
// consent. mfaDone says whether the refresh token being redeemed came from
// a sign-in that did a second factor.
func (e *Emulator) checkNonInteractive(u *user, c *client, mfaDone bool, ss scopeSet) *oauthError {
	e.mu.Lock()
	needMFA := u.mfa && !mfaDone
	noConsent := e.noConsent[consentKey{u.username, c.id}]
	e.mu.Unlock()
	switch {
	case needMFA:
		res := ss.withDefaultResource().resource
		oe := newError(400, "interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", sanitize(res))
		oe.sub = "basic_action"
		return oe
	case noConsent:
		return errInvalidGrant(65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", c.id, c.name)
	}
	return nil
}

// handleWorkspaceAuth plays an Azure Databricks workspace's sign-in entry
// point, GET /aad/auth, for tenant discovery: a redirect to the tenant's
// authorize endpoint on this host, as a workspace of the tenant answers.
func (e *Emulator) handleWorkspaceAuth(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r)
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {DatabricksResource},
		"redirect_uri":  {"https://" + host + "/aad/redirect"},
		"state":         {newGUID()},
	}
	noStore(w)
	http.Redirect(w, r, "https://"+host+"/"+TenantID+"/oauth2/authorize?"+q.Encode(), http.StatusFound)
}
