package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// These tests run the user flows through the real MSAL against the
// emulator; the person is played by the test (browser, device code page).

// testAPI is an app registration exposing the APIs these tests ask for
// besides the fixture's (the emulator refuses unknown resources, as Entra
// does).
func testAPI() entraemu.Resource {
	r := entraemu.Resource{Name: "entra test APIs", Scopes: []string{"user_impersonation"}}
	for _, n := range []string{"x", "after", "during", "expired", "rotate"} {
		r.IdentifierURIs = append(r.IdentifierURIs, "api://"+n)
	}
	for i := range 26 {
		r.IdentifierURIs = append(r.IdentifierURIs, fmt.Sprintf("api://c%d", i), "api://wi-"+string(rune('a'+i)))
	}
	return r
}

// startEmulator starts an emulator that signs in at once at /authorize
// (the tests play the browser without a person to fill in the page).
func startEmulator(t *testing.T) *entraemu.Emulator {
	t.Helper()
	return entraemu.NewTest(t, entraemu.Config{InstantSignIn: true, Resources: []entraemu.Resource{testAPI()}})
}

func userProfile(em *entraemu.Emulator, f flow.Name) *config.Profile {
	return &config.Profile{Name: "p", Flow: f, ClientID: entraemu.PublicClientID, Authority: em.Authority(),
		Scopes: []string{config.DatabricksScope}, Cloud: "public"}
}

func newTestSource(t *testing.T, em *entraemu.Emulator, p *config.Profile, st *store.Memory) *Source {
	t.Helper()
	src, err := New(p, Options{Secrets: st, HTTPClient: em.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var (
	formAction = regexp.MustCompile(`action="([^"]+)"`)
	formInput  = regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`)
)

// browse is the person's browser: it loads the sign-in page and submits
// the form_post answer to MSAL's loopback server, with tamper applied to
// the form first.
func browse(em *entraemu.Emulator, signIn string, tamper func(url.Values)) error {
	resp, err := em.HTTPClient().Get(signIn)
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindStringSubmatch(string(page))
	if m == nil {
		return errors.New("no form on the sign-in page")
	}
	form := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	if tamper != nil {
		tamper(form)
	}
	r, err := http.PostForm(html.UnescapeString(m[1]), form)
	if err != nil {
		return err
	}
	return r.Body.Close()
}

// person answers interactive sign-ins in the background.
type person struct {
	em     *entraemu.Emulator
	tamper func(url.Values)
	away   bool   // never answers
	deny   bool   // declines the device code
	as     string // approves the device code as this user
	seen   []idp.Interaction
	errs   chan error
}

func (p *person) interact(in idp.Interaction) {
	p.seen = append(p.seen, in)
	if p.away {
		return
	}
	go func() {
		switch {
		case in.URL != "":
			p.errs <- browse(p.em, in.URL, p.tamper)
		case p.deny:
			p.errs <- p.em.DenyDeviceCode(in.UserCode)
		default:
			p.errs <- p.em.ApproveDeviceCode(in.UserCode, p.as)
		}
	}()
}

func storedCache(t *testing.T, st *store.Memory) string {
	t.Helper()
	b, err := st.Get(context.Background(), "profile/p/msal-cache")
	if err != nil {
		t.Fatalf("stored sign-in: %v", err)
	}
	return string(b)
}

// refreshTokens are the secrets of the RefreshToken section of a cache.
func refreshTokens(t *testing.T, blob string) []string {
	t.Helper()
	var c struct {
		RefreshToken map[string]struct {
			HomeAccountID string `json:"home_account_id"`
			Secret        string `json:"secret"`
		}
	}
	if err := json.Unmarshal([]byte(blob), &c); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rt := range c.RefreshToken {
		out = append(out, rt.Secret)
	}
	return out
}

func TestBrowserFlow(t *testing.T) {
	em := startEmulator(t)
	for _, tc := range []struct {
		name    string
		prepare func()
		p       person
		hint    string
		timeout time.Duration
		code    string // idp.Error code of the failure; "" for success
		account string
	}{
		{name: "signs in", account: entraemu.Username},
		{name: "login hint", hint: entraemu.SecondUsername, account: entraemu.SecondUsername},
		{name: "cancelled", prepare: func() { em.NextAuthorize(entraemu.AuthorizeCancel) }, code: "access_denied"},
		{name: "reused code", prepare: func() { em.NextAuthorize(entraemu.AuthorizeReusedCode) }, code: "invalid_grant"},
		{name: "state mismatch", p: person{tamper: func(f url.Values) { f.Set("state", "forged") }}, code: CodeStateMismatch},
		{name: "nobody at the browser", p: person{away: true}, timeout: 300 * time.Millisecond, code: CodeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			src := newTestSource(t, em, userProfile(em, "browser"), st)
			// A first sign-in (as bob), which a failed one must leave alone.
			first := &person{em: em, errs: make(chan error, 1)}
			if _, err := src.Login(testCtx(t, 30*time.Second), idp.LoginRequest{Username: entraemu.SecondUsername, Interact: first.interact}); err != nil {
				t.Fatal(err)
			}
			before := storedCache(t, st)
			if tc.prepare != nil {
				tc.prepare()
			}
			p := tc.p
			p.em, p.errs = em, make(chan error, 1)
			timeout := 30 * time.Second
			if tc.timeout != 0 {
				timeout = tc.timeout
			}
			tok, err := src.Login(testCtx(t, timeout), idp.LoginRequest{Username: tc.hint, Interact: p.interact})

			if len(p.seen) != 1 {
				t.Fatalf("interactions: %+v", p.seen)
			}
			u, _ := url.Parse(p.seen[0].URL)
			q := u.Query()
			if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" ||
				!strings.HasPrefix(q.Get("redirect_uri"), "http://localhost:") || q.Get("login_hint") != tc.hint {
				t.Errorf("sign-in URL %s", p.seen[0].URL)
			}
			if tc.code == "" {
				if err != nil || tok.Account != tc.account || tok.AccessToken == "" {
					t.Fatalf("Login = %+v, %v", tok, err)
				}
				if storedCache(t, st) == before {
					t.Error("the new sign-in was not stored")
				}
			} else {
				var ie *idp.Error
				if !errors.As(err, &ie) || ie.Code != tc.code || !ie.LoginNeeded || ie.Temporary {
					t.Fatalf("Login error = %#v, want code %s", err, tc.code)
				}
				if got := storedCache(t, st); got != before {
					t.Error("a failed sign-in changed the stored one")
				}
				tc.account = entraemu.SecondUsername
			}
			tok, err = src.Token(testCtx(t, 30*time.Second), []string{"api://after/.default"})
			if err != nil || tok.Account != tc.account {
				t.Fatalf("Token after the sign-in = %+v, %v; want %s", tok, err, tc.account)
			}
			if n := len(refreshTokens(t, storedCache(t, st))); n != 1 {
				t.Errorf("stored cache holds %d refresh tokens, want 1 (one account)", n)
			}
		})
	}
}

func TestBrowserFlowNeedsAClient(t *testing.T) {
	em := startEmulator(t)
	src := newTestSource(t, em, userProfile(em, "browser"), store.NewMemory())
	_, err := src.Login(testCtx(t, 5*time.Second), idp.LoginRequest{})
	if err == nil || !strings.Contains(err.Error(), "token login p --browser") {
		t.Fatalf("Login without Interact = %v", err)
	}
}

func TestDeviceCodeFlow(t *testing.T) {
	em := startEmulator(t)
	for _, tc := range []struct {
		name    string
		p       person
		expire  bool
		code    string
		account string
	}{
		{name: "approved", account: entraemu.Username},
		{name: "approved as another user", p: person{as: entraemu.SecondUsername}, account: entraemu.SecondUsername},
		{name: "declined", p: person{deny: true}, code: "authorization_declined"},
		{name: "expired", p: person{away: true}, expire: true, code: "expired_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			src := newTestSource(t, em, userProfile(em, "device-code"), st)
			p := tc.p
			p.em, p.errs = em, make(chan error, 1)
			interact := p.interact
			if tc.expire {
				interact = func(in idp.Interaction) {
					p.interact(in)
					em.ShiftClock(16 * time.Minute)
				}
			}
			tok, err := src.Login(testCtx(t, 60*time.Second), idp.LoginRequest{Interact: interact})
			if len(p.seen) != 1 {
				t.Fatalf("interactions: %+v", p.seen)
			}
			in := p.seen[0]
			want := "To sign in, use a web browser to open the page " + em.URL() + "/devicelogin and enter the code " + in.UserCode + " to authenticate."
			if in.Message != want || in.VerificationURI != em.URL()+"/devicelogin" || len(in.UserCode) != 9 || in.ExpiresOn.IsZero() {
				t.Errorf("interaction = %+v", in)
			}
			if tc.code == "" {
				if err != nil || tok.Account != tc.account {
					t.Fatalf("Login = %+v, %v", tok, err)
				}
				if tok, err := src.Token(testCtx(t, 30*time.Second), []string{"api://x/.default"}); err != nil || tok.Account != tc.account {
					t.Fatalf("Token = %+v, %v", tok, err)
				}
				return
			}
			var ie *idp.Error
			if !errors.As(err, &ie) || ie.Code != tc.code {
				t.Fatalf("Login error = %#v, want %s", err, tc.code)
			}
			if _, err := st.Get(context.Background(), "profile/p/msal-cache"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a failed sign-in stored something: %v", err)
			}
		})
	}
}

// TestDeviceCodeCancel: cancelling the context (the client went away)
// stops the polling at once.
func TestDeviceCodeCancel(t *testing.T) {
	em := startEmulator(t)
	src := newTestSource(t, em, userProfile(em, "device-code"), store.NewMemory())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := src.Login(ctx, idp.LoginRequest{Interact: func(idp.Interaction) { cancel() }})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Login = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Login went on polling after its context was cancelled")
	}
	polls := em.Counts()["device_code"]
	time.Sleep(300 * time.Millisecond)
	if em.Counts()["device_code"] != polls {
		t.Error("polling went on after the sign-in ended")
	}
}

func TestRefreshTokenImport(t *testing.T) {
	em := startEmulator(t)
	// A provider that retires a refresh token once its successor is used
	// (Entra keeps old ones valid): what the store must then survive.
	em.SetStrictRotation(true)
	mint := func(clientID string) string {
		t.Helper()
		resp, err := em.HTTPClient().PostForm(em.Authority()+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"password"}, "client_id": {clientID}, "username": {entraemu.Username},
			"password": {entraemu.Password}, "scope": {"openid offline_access " + config.DatabricksScope},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.RefreshToken == "" {
			t.Fatalf("mint: %v", err)
		}
		return body.RefreshToken
	}
	redeem := func(rt string) int {
		resp, err := em.HTTPClient().PostForm(em.Authority()+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"refresh_token"}, "client_id": {entraemu.PublicClientID}, "refresh_token": {rt},
		})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	st := store.NewMemory()
	src := newTestSource(t, em, userProfile(em, "refresh-token"), st)
	imported := mint(entraemu.PublicClientID)
	tok, err := src.Login(testCtx(t, 30*time.Second), idp.LoginRequest{RefreshToken: "\n " + imported + "\r\n"})
	if err != nil || tok.Account != entraemu.Username || tok.TenantID != entraemu.TenantID {
		t.Fatalf("import = %+v, %v", tok, err)
	}
	stored := storedCache(t, st)
	if strings.Contains(stored, imported) || strings.Contains(stored, importAccount) {
		t.Fatal("the imported token (or its placeholder account) was stored")
	}
	rts := refreshTokens(t, stored)
	if len(rts) != 1 {
		t.Fatalf("stored %d refresh tokens, want 1", len(rts))
	}

	// A refresh rotates: the store holds the successor, and the imported
	// token is dead at the emulator.
	if _, err := src.Token(testCtx(t, 30*time.Second), []string{"api://rotate/.default"}); err != nil {
		t.Fatal(err)
	}
	if now := refreshTokens(t, storedCache(t, st)); len(now) != 1 || now[0] == rts[0] {
		t.Error("the rotated refresh token did not replace the stored one")
	}
	if status := redeem(imported); status != 400 {
		t.Errorf("the imported token still works after rotation (HTTP %d)", status)
	}

	// A daemon restart: a new Source on the same store keeps working.
	again := newTestSource(t, em, userProfile(em, "refresh-token"), st)
	if tok, err := again.Token(testCtx(t, 30*time.Second), []string{config.DatabricksScope}); err != nil || tok.Account != entraemu.Username {
		t.Fatalf("after restart: %+v, %v", tok, err)
	}

	// Refused imports leave the sign-in as it was.
	before := storedCache(t, st)
	for _, tc := range []struct {
		name, rt, want string
		loginNeeded    bool
	}{
		{"empty", " \n", "a refresh token is required", false},
		{"spaces", "1.AR two words", "not a refresh token", false},
		{"control characters", "1.AR\x00x", "not a refresh token", false},
		{"too long", strings.Repeat("a", maxRefreshToken+1), "not a refresh token", false},
		{"garbage", "not-a-refresh-token", "AADSTS9002313", true},
		{"superseded", imported, "AADSTS70000", true},
		{"another client's", mint(entraemu.AzureCLIClientID), "AADSTS70000", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := again.Login(testCtx(t, 30*time.Second), idp.LoginRequest{RefreshToken: tc.rt})
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, idp.ErrLoginRequired) != tc.loginNeeded {
				t.Fatalf("import error = %v, want %q (login needed %v)", err, tc.want, tc.loginNeeded)
			}
			if storedCache(t, st) != before {
				t.Error("a refused import changed the stored sign-in")
			}
		})
	}
}

func TestSeedCache(t *testing.T) {
	blob, acct, err := seedCache("https://Login.Example.COM:8443/Tenant-A/", "Client-1", "secret-rt")
	if err != nil {
		t.Fatal(err)
	}
	if acct.HomeAccountID != importAccount || acct.Environment != "login.example.com:8443" || acct.Realm != "tenant-a" {
		t.Errorf("account = %+v", acct)
	}
	var c map[string]map[string]map[string]string
	if err := json.Unmarshal(blob, &c); err != nil {
		t.Fatal(err)
	}
	rt := c["RefreshToken"][importAccount+"-login.example.com:8443-refreshtoken-client-1"]
	if rt["secret"] != "secret-rt" || rt["client_id"] != "Client-1" || rt["credential_type"] != "RefreshToken" || rt["environment"] != "login.example.com:8443" {
		t.Errorf("refresh token entry = %v (cache %s)", rt, blob)
	}
	if app := c["AppMetadata"]["appmetadata-login.example.com:8443-client-1"]; app["client_id"] != "Client-1" {
		t.Errorf("app metadata = %v", app)
	}
	if _, _, err := seedCache("::not a url", "c", "rt"); err == nil {
		t.Error("seedCache accepted a bad authority")
	}
}

// TestFlowErrors classifies what MSAL returns when a sign-in does not
// finish, from the errors it really produces.
func TestFlowErrors(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for _, tc := range []struct {
		name string
		got  error
		code string // "" when the error must pass through unchanged
	}{
		{"browser: state", browserError(live, errors.New("mismatched OAuth state, req(a), resp(b)")), CodeStateMismatch},
		{"browser: no state", browserError(live, errors.New("server didn't send OAuth state")), CodeStateMismatch},
		{"browser: cancelled page", browserError(live, errors.New("AADSTS65004: User declined to consent to access the app.&#13;&#10;Trace ID: x")), "access_denied"},
		{"browser: MFA", browserError(live, errors.New("AADSTS50076: Due to a configuration change")), "interaction_required"},
		{"browser: consent", browserError(live, errors.New("AADSTS65001: The user or administrator has not consented")), "consent_required"},
		{"browser: GET redirect", browserError(live, errors.New("response was received via a GET operation, which is not supported")), "invalid_request"},
		{"browser: timed out", browserError(expired, context.DeadlineExceeded), CodeTimeout},
		{"browser: other", browserError(live, errors.New("listen tcp: address in use")), ""},
		{"device: MSAL's own expiry", deviceCodeError(live, context.DeadlineExceeded), "expired_token"},
		{"device: timed out", deviceCodeError(expired, context.DeadlineExceeded), CodeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ie *idp.Error
			switch {
			case tc.code == "" && errors.As(tc.got, &ie):
				t.Fatalf("classified as %+v", ie)
			case tc.code != "" && (!errors.As(tc.got, &ie) || ie.Code != tc.code || !ie.LoginNeeded):
				t.Fatalf("got %#v, want code %s", tc.got, tc.code)
			case tc.code != "" && strings.ContainsAny(ie.Description, "\r\n&;"):
				t.Errorf("description not cleaned: %q", ie.Description)
			}
		})
	}
}

// TestPendingSignInDoesNotBlockRefresh: while a person takes their time
// over a device-code sign-in, the profile's current sign-in keeps
// refreshing; the pending sign-in, cancelled, changes nothing.
func TestPendingSignInDoesNotBlockRefresh(t *testing.T) {
	em := startEmulator(t)
	st := store.NewMemory()
	src := newTestSource(t, em, userProfile(em, "device-code"), st)
	first := person{em: em, errs: make(chan error, 1)}
	if _, err := src.Login(testCtx(t, 60*time.Second), idp.LoginRequest{Interact: first.interact}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pending := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := src.Login(ctx, idp.LoginRequest{Interact: func(idp.Interaction) { close(pending) }})
		done <- err
	}()
	<-pending
	start := time.Now()
	tok, err := src.Token(testCtx(t, 10*time.Second), []string{"api://during/.default"})
	if err != nil || tok.Account != entraemu.Username {
		t.Fatalf("Token during a pending sign-in = %+v, %v", tok, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Token waited %v on the pending sign-in", d)
	}
	before := storedCache(t, st)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sign-in = %v", err)
	}
	if storedCache(t, st) != before {
		t.Fatal("a cancelled sign-in changed the stored one")
	}
}

// TestPasswordSignInReplacesAccount: signing in as another user replaces
// the old account instead of sitting next to it; a wrong password changes
// nothing.
func TestPasswordSignInReplacesAccount(t *testing.T) {
	em := startEmulator(t)
	st := store.NewMemory()
	src := newTestSource(t, em, userProfile(em, "password"), st)
	ctx := testCtx(t, 30*time.Second)
	if _, err := src.Login(ctx, idp.LoginRequest{Username: entraemu.Username, Password: entraemu.Password}); err != nil {
		t.Fatal(err)
	}
	before := storedCache(t, st)
	if _, err := src.Login(ctx, idp.LoginRequest{Username: entraemu.SecondUsername, Password: "wrong"}); err == nil {
		t.Fatal("wrong password accepted")
	}
	if storedCache(t, st) != before {
		t.Fatal("a failed sign-in changed the stored one")
	}
	if _, err := src.Login(ctx, idp.LoginRequest{Username: entraemu.SecondUsername, Password: entraemu.Password}); err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(ctx, []string{"api://x/.default"})
	if err != nil || tok.Account != entraemu.SecondUsername {
		t.Fatalf("Token after signing in as another user = %+v, %v", tok, err)
	}
	if n := len(refreshTokens(t, storedCache(t, st))); n != 1 {
		t.Fatalf("%d refresh tokens stored, want the new account's only", n)
	}
}
