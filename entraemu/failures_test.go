package entraemu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/clock"
)

// pkce is a fixed verifier and its S256 challenge.
const pkceVerifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk"

func pkceChallenge() string {
	sum := sha256.Sum256([]byte(pkceVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize runs /authorize in query mode for the public client and returns
// the parameters of the redirect.
func authorize(t *testing.T, e *Emulator, loginHint string) url.Values {
	t.Helper()
	q := url.Values{
		"client_id": {PublicClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:1/cb"},
		"scope": {"openid offline_access " + DatabricksResource + "/.default"}, "state": {"st-1"},
		"code_challenge": {pkceChallenge()}, "code_challenge_method": {"S256"}, "login_hint": {loginHint},
	}
	hc := *e.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(e.URL() + "/" + TenantID + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func redeemCode(t *testing.T, e *Emulator, code string) response {
	t.Helper()
	return post(t, e, v2Token, url.Values{
		"grant_type": {"authorization_code"}, "client_id": {PublicClientID}, "code": {code},
		"redirect_uri": {"http://localhost:1/cb"}, "code_verifier": {pkceVerifier}, "client_info": {"1"},
	})
}

func passwordGrant(t *testing.T, e *Emulator, user, clientID string) response {
	t.Helper()
	return post(t, e, v2Token, url.Values{
		"grant_type": {"password"}, "client_id": {clientID}, "username": {user}, "password": {Password},
		"scope": {"openid offline_access " + DatabricksResource + "/.default"},
	})
}

func refreshGrant(t *testing.T, e *Emulator, rt string) response {
	t.Helper()
	return post(t, e, v2Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {PublicClientID}, "refresh_token": {rt}})
}

// signIn gets a refresh token for user in each way the emulator knows.
func signIn(t *testing.T, e *Emulator, how, user string) response {
	t.Helper()
	switch how {
	case "password":
		return passwordGrant(t, e, user, PublicClientID)
	case "authorize":
		return redeemCode(t, e, authorize(t, e, user).Get("code"))
	case "device code":
		dc := post(t, e, "/"+TenantID+"/oauth2/v2.0/devicecode", url.Values{"client_id": {PublicClientID}, "scope": {"openid offline_access " + DatabricksResource + "/.default"}})
		if err := e.ApproveDeviceCode(dc.str("user_code"), user); err != nil {
			t.Fatal(err)
		}
		return post(t, e, v2Token, url.Values{"grant_type": {deviceCodeURNForm}, "client_id": {PublicClientID}, "device_code": {dc.str("device_code")}})
	}
	t.Fatalf("unknown sign-in %q", how)
	return response{}
}

func TestAuthorizeOutcomes(t *testing.T) {
	e := start(t, Config{InstantSignIn: true})

	if err := e.NextAuthorize(AuthorizeCancel); err != nil {
		t.Fatal(err)
	}
	got := authorize(t, e, "")
	if got.Get("error") != "access_denied" || got.Get("error_subcode") != "cancel" || got.Get("code") != "" ||
		!strings.HasPrefix(got.Get("error_description"), "AADSTS65004: User declined") || got.Get("state") != "st-1" {
		t.Errorf("cancelled sign-in redirected with %v", got)
	}
	// One outcome, one sign-in: the next one succeeds.
	if r := redeemCode(t, e, authorize(t, e, "").Get("code")); r.status != 200 {
		t.Fatalf("sign-in after the cancelled one: %d %v", r.status, r.body)
	}

	if err := e.NextAuthorize(AuthorizeReusedCode); err != nil {
		t.Fatal(err)
	}
	code := authorize(t, e, "").Get("code")
	if r := redeemCode(t, e, code); r.status != 400 || r.str("error") != "invalid_grant" || r.errorCode() != 54005 {
		t.Errorf("reused code: %d %v", r.status, r.body)
	}

	if err := e.NextAuthorize("dance"); err == nil {
		t.Error("an unknown outcome was accepted")
	}
}

func TestRequireMFA(t *testing.T) {
	e := start(t, Config{InstantSignIn: true})
	before := signIn(t, e, "password", Username).str("refresh_token")
	if err := e.RequireMFA(Username, true); err != nil {
		t.Fatal(err)
	}

	r := passwordGrant(t, e, Username, PublicClientID)
	if r.status != 400 || r.str("error") != "interaction_required" || r.errorCode() != 50076 || r.str("suberror") != "basic_action" {
		t.Errorf("password grant with MFA required: %d %v", r.status, r.body)
	}
	if r := refreshGrant(t, e, before); r.errorCode() != 50076 {
		t.Errorf("refresh token from before MFA: %d %v", r.status, r.body)
	}
	if r := passwordGrant(t, e, SecondUsername, PublicClientID); r.status != 200 {
		t.Errorf("another user: %d %v", r.status, r.body)
	}

	// Interactive sign-ins do the second factor; their refresh tokens, and
	// those rotated from them, keep working.
	for _, how := range []string{"authorize", "device code"} {
		t.Run(how, func(t *testing.T) {
			r := signIn(t, e, how, Username)
			if r.status != 200 || !slices.Equal(amr(t, r), []any{"pwd", "mfa"}) {
				t.Fatalf("%d %v", r.status, r.body)
			}
			r = refreshGrant(t, e, r.str("refresh_token"))
			if r.status != 200 || !slices.Equal(amr(t, r), []any{"pwd", "mfa"}) {
				t.Fatalf("refresh: %d %v", r.status, r.body)
			}
			if r := refreshGrant(t, e, r.str("refresh_token")); r.status != 200 {
				t.Fatalf("second refresh: %d %v", r.status, r.body)
			}
		})
	}

	if err := e.RequireMFA(Username, false); err != nil {
		t.Fatal(err)
	}
	if r := passwordGrant(t, e, Username, PublicClientID); r.status != 200 || !slices.Equal(amr(t, r), []any{"pwd"}) {
		t.Errorf("MFA off again: %d %v", r.status, r.body)
	}
	if err := e.RequireMFA("nobody@tokend.test", true); err == nil {
		t.Error("RequireMFA accepted an unknown user")
	}
}

func amr(t *testing.T, r response) []any {
	t.Helper()
	a, _ := claims(t, r.str("access_token"))["amr"].([]any)
	return a
}

func TestConsent(t *testing.T) {
	e := start(t, Config{InstantSignIn: true})
	rt := signIn(t, e, "password", Username).str("refresh_token")
	if err := e.SetConsent(Username, PublicClientID, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    func() response
		want int // AADSTS, 0 for success
	}{
		{"password", func() response { return passwordGrant(t, e, Username, PublicClientID) }, 65001},
		{"refresh token", func() response { return refreshGrant(t, e, rt) }, 65001},
		{"other user", func() response { return passwordGrant(t, e, SecondUsername, PublicClientID) }, 0},
		{"other client", func() response { return passwordGrant(t, e, Username, AzureCLIClientID) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r()
			switch {
			case tc.want == 0 && r.status != 200:
				t.Fatalf("%d %v", r.status, r.body)
			case tc.want != 0 && (r.str("error") != "invalid_grant" || r.errorCode() != tc.want):
				t.Fatalf("%d %v", r.status, r.body)
			}
		})
	}

	// An interactive sign-in asks for consent again and gets it.
	for _, how := range []string{"authorize", "device code"} {
		if err := e.SetConsent(Username, PublicClientID, false); err != nil {
			t.Fatal(err)
		}
		if r := signIn(t, e, how, Username); r.status != 200 {
			t.Fatalf("%s sign-in without consent: %d %v", how, r.status, r.body)
		}
		if r := passwordGrant(t, e, Username, PublicClientID); r.status != 200 {
			t.Fatalf("password after %s consented: %d %v", how, r.status, r.body)
		}
	}
	for _, bad := range [][2]string{{"nobody@tokend.test", PublicClientID}, {Username, "00000000-0000-0000-0000-000000000000"}} {
		if err := e.SetConsent(bad[0], bad[1], false); err == nil {
			t.Errorf("SetConsent(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestDenyDeviceCode(t *testing.T) {
	e := start(t, Config{})
	newCode := func() response {
		return post(t, e, "/"+TenantID+"/oauth2/v2.0/devicecode", url.Values{"client_id": {PublicClientID}, "scope": {DatabricksResource + "/.default"}})
	}
	poll := func(dc response) response {
		return post(t, e, v2Token, url.Values{"grant_type": {deviceCodeURNForm}, "client_id": {PublicClientID}, "device_code": {dc.str("device_code")}})
	}

	dc := newCode()
	if err := e.DenyDeviceCode(strings.ToLower(dc.str("user_code"))); err != nil {
		t.Fatal(err)
	}
	if r := poll(dc); r.status != 400 || r.str("error") != "authorization_declined" {
		t.Errorf("declined code: %d %v", r.status, r.body)
	}
	if err := e.ApproveDeviceCode(dc.str("user_code"), ""); err == nil {
		t.Error("a declined code was approved")
	}

	approved := newCode()
	if err := e.ApproveDeviceCode(approved.str("user_code"), ""); err != nil {
		t.Fatal(err)
	}
	if err := e.DenyDeviceCode(approved.str("user_code")); err == nil {
		t.Error("an approved code was declined")
	}
	if err := e.DenyDeviceCode("NOPE"); err == nil {
		t.Error("an unknown code was declined")
	}

	// The verification page's Deny button does the same.
	byPage := newCode()
	resp, err := e.HTTPClient().PostForm(e.URL()+"/devicelogin", url.Values{"user_code": {byPage.str("user_code")}, "action": {"Deny"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := poll(byPage); resp.StatusCode != 200 || r.str("error") != "authorization_declined" {
		t.Errorf("declined on the page: HTTP %d, then %v", resp.StatusCode, r.body)
	}
}

func TestPendingDeviceCodes(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	e := start(t, Config{Clock: clk})
	if got := e.PendingDeviceCodes(); len(got) != 0 {
		t.Fatalf("pending at start: %v", got)
	}
	var codes []string
	for range 3 {
		r := post(t, e, "/"+TenantID+"/oauth2/v2.0/devicecode", url.Values{"client_id": {PublicClientID}, "scope": {DatabricksResource + "/.default"}})
		codes = append(codes, r.str("user_code"))
		clk.Advance(time.Minute)
	}
	if err := e.ApproveDeviceCode(codes[1], ""); err != nil {
		t.Fatal(err)
	}
	got := e.PendingDeviceCodes()
	if len(got) != 2 || got[0].UserCode != codes[0] || got[1].UserCode != codes[2] || got[0].ClientID != PublicClientID {
		t.Fatalf("pending = %+v, want %s then %s", got, codes[0], codes[2])
	}
	if r := getList(t, e, "/_emulator/devicecodes"); len(r) != 2 {
		t.Errorf("GET /_emulator/devicecodes: %v", r)
	}
	clk.Advance(14 * time.Minute) // 17 minutes in: the first code (15) has expired, the last not yet
	if got := e.PendingDeviceCodes(); len(got) != 1 || got[0].UserCode != codes[2] {
		t.Errorf("pending 17 minutes in = %+v", got)
	}
}

func getList(t *testing.T, e *Emulator, path string) []any {
	t.Helper()
	resp, err := e.HTTPClient().Get(e.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v []any
	if err := jsonDecode(resp, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWorkspaceAuth(t *testing.T) {
	e := start(t, Config{})
	hc := *e.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(e.URL() + "/aad/auth")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if loc.Scheme+"://"+loc.Host != e.URL() || loc.Path != "/"+TenantID+"/oauth2/authorize" || loc.Query().Get("client_id") != DatabricksResource {
		t.Errorf("Location = %s", loc)
	}
}

func TestFailureAdmin(t *testing.T) {
	e := start(t, Config{})
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/_emulator/authorize/next", `{"outcome":"cancel"}`, 200},
		{"/_emulator/authorize/next", `{"outcome":"reused_code"}`, 200},
		{"/_emulator/authorize/next", `{"outcome":"explode"}`, 400},
		{"/_emulator/authorize/next", `{"outcom":"cancel"}`, 400},
		{"/_emulator/user", `{"username":"alice@tokend.test","mfa":true}`, 200},
		{"/_emulator/user", `{"username":"alice@tokend.test","mfa":false}`, 200},
		{"/_emulator/user", `{"username":"alice@tokend.test"}`, 400},
		{"/_emulator/user", `{"username":"nobody","mfa":true}`, 400},
		{"/_emulator/consent", `{"username":"alice@tokend.test","client_id":"` + PublicClientID + `","granted":false}`, 200},
		{"/_emulator/consent", `{"username":"alice@tokend.test","client_id":"` + PublicClientID + `","granted":true}`, 200},
		{"/_emulator/consent", `{"username":"alice@tokend.test","client_id":"` + PublicClientID + `"}`, 400},
		{"/_emulator/consent", `{"username":"alice@tokend.test","client_id":"nope","granted":true}`, 400},
		{"/_emulator/consent", `{"username":"alice@tokend.test","client_id":"` + PublicClientID + `","scope":"https://graph.microsoft.com/Mail.Read","granted":false}`, 200},
		{"/_emulator/consent", `{"username":"alice@tokend.test","client_id":"` + PublicClientID + `","scope":"https://graph.microsoft.com/Nope.Read","granted":false}`, 400},
		{"/_emulator/consent", `{"username":"alice@tokend.test","client_id":"` + PublicClientID + `","scope":"api://nope/x","granted":false}`, 400},
		{"/_emulator/devicecode/deny", `{"user_code":"NOPE"}`, 400},
		{"/_emulator/rotation", `{"strict":true}`, 200},
		{"/_emulator/rotation", `{}`, 400},
		{"/_emulator/signin", `{"instant":false}`, 200},
		{"/_emulator/signin", `{"instant":"yes"}`, 400},
		{"/_emulator/resource", `{"identifier_uris":["api://admin-added"],"scopes":["read"]}`, 200},
		{"/_emulator/resource", `{"name":"no id"}`, 400},
		{"/_emulator/resource", `{"identifier_uris":["api://has space"]}`, 400},
		{"/_emulator/client", `{"client_id":"` + PublicClientID + `","public_client_flows":false}`, 200},
		{"/_emulator/client", `{"client_id":"` + ConfidentialClientID + `","public_client_flows":false}`, 400},
		{"/_emulator/client", `{"client_id":"` + PublicClientID + `"}`, 400},
	} {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			if r := postJSON(t, e, tc.path, tc.body); r.status != tc.status {
				t.Errorf("%d %v, want %d", r.status, r.body, tc.status)
			}
		})
	}
	// What the admin path set took effect (the queue holds two outcomes).
	if got := authorize(t, e, ""); got.Get("error") != "access_denied" {
		t.Errorf("queued cancel not applied: %v", got)
	}
	e.mu.Lock()
	strict, instant := e.strictRotation, e.instantSignIn
	e.mu.Unlock()
	if !strict || instant || e.lookupResource("api://admin-added") == nil || !e.lookupClient(PublicClientID).noPublicFlows {
		t.Errorf("admin settings not applied: strict %v instant %v", strict, instant)
	}
	if l := getList(t, e, "/_emulator/resources"); len(l) != len(knownResources())+1 {
		t.Errorf("resources: %v", l)
	}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
