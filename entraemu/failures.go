package entraemu

import (
	"fmt"
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

// takeAuthorizeOutcome consumes the next queued outcome if it is o.
func (e *Emulator) takeAuthorizeOutcome(o AuthorizeOutcome) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.authorize) == 0 || e.authorize[0] != o {
		return false
	}
	e.authorize = e.authorize[1:]
	return true
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

// scopeKey is one delegated permission consented (or not) by a user to a
// client on a resource.
type scopeKey struct{ username, clientID, resourceID, perm string }

// SetScopeConsent grants or withdraws username's consent to clientID for
// one delegated permission, scope ("<resource>/<permission>", or a bare
// Microsoft Graph permission such as "Mail.Read"). Every permission of the
// fixture's resources is granted at first (as if an administrator had
// consented for the tenant). Without it, a grant that cannot ask the user
// (password, refresh token) and names that permission, or asks for
// ".default" while no permission on the resource is left, fails with
// invalid_grant AADSTS65001 (suberror consent_required); ".default" gets
// the permissions still granted; an interactive sign-in consents again.
func (e *Emulator) SetScopeConsent(username, clientID, scope string, granted bool) error {
	ss, oe := parseScopes(scope)
	if oe != nil || len(ss.perms) != 1 {
		return fmt.Errorf("emulator: %q is not one scope", scope)
	}
	r := e.lookupResource(ss.resource)
	switch {
	case r == nil:
		return fmt.Errorf("emulator: no resource %q", ss.resource)
	case !containsFold(r.Scopes, ss.perms[0]):
		return fmt.Errorf("emulator: %s has no delegated permission %q", r.Name, ss.perms[0])
	}
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
	k := scopeKey{u.username, c.id, r.AppID, strings.ToLower(ss.perms[0])}
	if granted {
		delete(e.noScope, k)
	} else {
		e.noScope[k] = true
	}
	return nil
}

// grantedScopes are the delegated permissions on r that u consented to c
// for, in r's order.
func (e *Emulator) grantedScopes(u *user, c *client, r *Resource) []string {
	if r == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, p := range r.Scopes {
		if !e.noScope[scopeKey{u.username, c.id, r.AppID, strings.ToLower(p)}] {
			out = append(out, p)
		}
	}
	return out
}

// consentLocked records what an interactive sign-in consents to: the
// client, and the permissions ss asks for (".default": all of the
// resource's).
func (e *Emulator) consentLocked(username string, c *client, ss scopeSet) {
	delete(e.noConsent, consentKey{username, c.id})
	r := ss.res
	if r == nil {
		r = e.resourcesByID[e.resourceIDLocked(ss.withDefaultResource().resource)]
	}
	if r == nil {
		return
	}
	for _, p := range ss.withDefaultResource().perms {
		if p == ".default" {
			for _, q := range r.Scopes {
				delete(e.noScope, scopeKey{username, c.id, r.AppID, strings.ToLower(q)})
			}
			continue
		}
		delete(e.noScope, scopeKey{username, c.id, r.AppID, strings.ToLower(p)})
	}
}

// checkNonInteractive applies what only an interactive sign-in can satisfy
// to a grant without one (password, refresh token): a second factor, and
// consent (to the client, and to each permission asked for). mfaDone says
// whether the refresh token being redeemed came from a sign-in that did a
// second factor.
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
		return errConsentRequired(c)
	}
	if ss.res == nil {
		return nil
	}
	granted := e.grantedScopes(u, c, ss.res)
	for _, p := range ss.perms {
		if p == ".default" && len(granted) == 0 || p != ".default" && !containsFold(granted, p) {
			return errConsentRequired(c)
		}
	}
	return nil
}

// errConsentRequired: "AADSTS65001: DelegationDoesNotExist - The user or
// administrator has not consented to use the application"
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes),
// invalid_grant with suberror consent_required at the token endpoint
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-codes-for-token-endpoint-errors).
func errConsentRequired(c *client) *oauthError {
	oe := errInvalidGrant(65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", c.id, c.name)
	oe.sub = "consent_required"
	return oe
}

// SetStrictRotation turns strict one-time refresh-token rotation on or off
// (see Config.StrictRefreshRotation).
func (e *Emulator) SetStrictRotation(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.strictRotation = on
}

// SetInstantSignIn turns instant sign-in at /authorize on or off (see
// Config.InstantSignIn).
func (e *Emulator) SetInstantSignIn(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.instantSignIn = on
}

// SetPublicClientFlows turns "Allow public client flows" of a public
// client on (the default) or off. Off, the device code, password and
// refresh token grants of that client (which present no credential) fail
// as Entra fails them for such an app: invalid_client AADSTS7000218 "The
// request body must contain the following parameter: 'client_assertion'
// or 'client_secret'" (https://learn.microsoft.com/entra/identity-platform/msal-client-applications
// and the error as users meet it, e.g. learn.microsoft.com/answers/questions/385914).
func (e *Emulator) SetPublicClientFlows(clientID string, allowed bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.clients[strings.ToLower(clientID)]
	switch {
	case c == nil:
		return fmt.Errorf("emulator: unknown client %q", clientID)
	case !c.public:
		return fmt.Errorf("emulator: %s is not a public client", clientID)
	}
	c.noPublicFlows = !allowed
	return nil
}
