package entraemu

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestScopeConsent: ".default" gets the permissions still consented; a
// named one withdrawn, or none left, is AADSTS65001 consent_required; an
// interactive sign-in consents again.
func TestScopeConsent(t *testing.T) {
	e := start(t, Config{InstantSignIn: true})
	graph := func(scope string) response {
		return post(t, e, v2Token, url.Values{"grant_type": {"password"}, "client_id": {PublicClientID},
			"username": {Username}, "password": {Password}, "scope": {scope}})
	}
	if err := e.SetScopeConsent(Username, PublicClientID, "Mail.Read", false); err != nil {
		t.Fatal(err)
	}
	r := graph("https://graph.microsoft.com/.default")
	if r.status != 200 || claims(t, r.str("access_token"))["scp"] != "User.Read Mail.Send" ||
		!strings.HasPrefix(r.str("scope"), "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Send ") {
		t.Fatalf(".default without Mail.Read: %d scope %q", r.status, r.str("scope"))
	}
	if r := graph("Mail.Read"); r.str("error") != "invalid_grant" || r.errorCode() != 65001 || r.str("suberror") != "consent_required" {
		t.Fatalf("withdrawn permission: %d %v", r.status, r.body)
	}
	if r := graph("User.Read"); r.status != 200 {
		t.Fatalf("another permission: %d %v", r.status, r.body)
	}
	// Another user or client is not affected.
	if r := passwordGrant(t, e, SecondUsername, PublicClientID); r.status != 200 {
		t.Fatalf("other user: %d %v", r.status, r.body)
	}
	// Nothing left on Azure Databricks: its .default needs consent.
	if err := e.SetScopeConsent(Username, PublicClientID, DatabricksResource+"/user_impersonation", false); err != nil {
		t.Fatal(err)
	}
	if r := passwordGrant(t, e, Username, PublicClientID); r.errorCode() != 65001 {
		t.Fatalf(".default with nothing consented: %d %v", r.status, r.body)
	}
	// An interactive sign-in for it consents again.
	if r := signIn(t, e, "authorize", Username); r.status != 200 {
		t.Fatalf("sign-in: %d %v", r.status, r.body)
	}
	if r := passwordGrant(t, e, Username, PublicClientID); r.status != 200 {
		t.Fatalf("after consenting again: %d %v", r.status, r.body)
	}
	for _, bad := range []string{"api://nope/x", "https://graph.microsoft.com/Nope.Read", "a b"} {
		if err := e.SetScopeConsent(Username, PublicClientID, bad, false); err == nil {
			t.Errorf("SetScopeConsent(%q) accepted", bad)
		}
	}
}

// TestSPARefreshLifetime: a single-page app's refresh tokens expire 24
// hours after its sign-in, however often they are redeemed; others live 90
// days of disuse.
func TestSPARefreshLifetime(t *testing.T) {
	e := start(t, Config{InstantSignIn: true})
	q := url.Values{
		"client_id": {SPAClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:1/cb"},
		"scope": {"openid offline_access " + databricksScope}, "code_challenge": {pkceChallenge()}, "code_challenge_method": {"S256"},
	}
	b := newBrowser(t, e)
	if _, err := b.get(e.URL() + "/" + TenantID + "/oauth2/v2.0/authorize?" + q.Encode()); err != nil {
		t.Fatal(err)
	}
	r := post(t, e, v2Token, url.Values{"grant_type": {"authorization_code"}, "client_id": {SPAClientID}, "code": {b.redirected.Query().Get("code")},
		"redirect_uri": {"http://localhost:1/cb"}, "code_verifier": {pkceVerifier}})
	if r.status != 200 {
		t.Fatalf("%d %v", r.status, r.body)
	}
	other := signIn(t, e, "password", Username).str("refresh_token")
	rt := r.str("refresh_token")
	for range 2 {
		e.ShiftClock(10 * time.Hour)
		r = post(t, e, v2Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {SPAClientID}, "refresh_token": {rt}})
		if r.status != 200 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		rt = r.str("refresh_token")
	}
	e.ShiftClock(5 * time.Hour) // 25 hours after the sign-in
	if r := post(t, e, v2Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {SPAClientID}, "refresh_token": {rt}}); r.errorCode() != 700082 {
		t.Fatalf("a day after the sign-in: %d %v", r.status, r.body)
	}
	if r := refreshGrant(t, e, other); r.status != 200 {
		t.Fatalf("a public client's token after 25 hours: %d %v", r.status, r.body)
	}
}

// TestFamilyRefreshToken: a family refresh token (FOCI) redeems for
// another family client, not for an app outside the family.
func TestFamilyRefreshToken(t *testing.T) {
	e := start(t, Config{})
	frt := passwordGrant(t, e, Username, AzureCLIClientID)
	if frt.str("foci") != "1" {
		t.Fatalf("foci %q", frt.str("foci"))
	}
	e.mu.Lock()
	e.clients["0f0c1000-aaaa-4bbb-8ccc-000000000006"] = &client{id: "0f0c1000-aaaa-4bbb-8ccc-000000000006", name: "another family app", public: true, family: true}
	e.mu.Unlock()
	redeem := func(clientID string) response {
		return post(t, e, v2Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {frt.str("refresh_token")}, "scope": {databricksScope}})
	}
	if r := redeem("0f0c1000-aaaa-4bbb-8ccc-000000000006"); r.status != 200 || r.str("foci") != "1" {
		t.Fatalf("family client: %d %v", r.status, r.body)
	}
	if r := redeem(PublicClientID); r.str("error") != "invalid_grant" {
		t.Fatalf("outside the family: %d %v", r.status, r.body)
	}
}
