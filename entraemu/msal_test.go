package entraemu

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/tokend/tokend/internal/clock"
)

const databricksScope = DatabricksResource + "/.default"

func TestMSALConfidential(t *testing.T) {
	e := start(t, Config{})
	certPEM, keyPEM := e.ClientCertificate()
	certs, key, err := confidential.CertFromPEM(append(certPEM, keyPEM...), "")
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey := selfSignedRSA(t)
	secret := func(s string) confidential.Credential {
		c, err := confidential.NewCredFromSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cert := func(certs []*x509.Certificate, key any) confidential.Credential {
		c, err := confidential.NewCredFromCert(certs, key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		cred    confidential.Credential
		scopes  []string
		wantErr string // substring; "" = success
		wantAud string
		wantACR string
		v2      bool
	}{
		{name: "secret", cred: secret(ClientSecret), scopes: []string{databricksScope}, wantAud: DatabricksResource, wantACR: "1"},
		{name: "v2.0 API", cred: secret(ClientSecret), scopes: []string{TestAPIResource + "/.default"}, wantAud: TestAPIAppID, wantACR: "1", v2: true},
		{name: "secret URL resource", cred: secret(ClientSecret), scopes: []string{"https://management.core.windows.net//.default"}, wantAud: "https://management.core.windows.net/", wantACR: "1"},
		{name: "certificate", cred: cert(certs, key), scopes: []string{databricksScope}, wantAud: DatabricksResource, wantACR: "2"},
		{name: "wrong secret", cred: secret("not-the-secret"), scopes: []string{databricksScope}, wantErr: "AADSTS7000215"},
		{name: "unregistered certificate", cred: cert([]*x509.Certificate{otherCert}, otherKey), scopes: []string{databricksScope}, wantErr: "AADSTS700027"},
		{name: "scope without .default", cred: secret(ClientSecret), scopes: []string{DatabricksResource + "/user_impersonation"}, wantErr: "AADSTS1002012"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cca := confidentialClient(t, e, tt.cred)
			res, err := cca.AcquireTokenByCredential(testContext(t), tt.scopes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := claims(t, res.AccessToken)
			if c["aud"] != tt.wantAud || c["tid"] != TenantID || c["idtyp"] != "app" || c["roles"] == nil || c["scp"] != nil {
				t.Errorf("claims = %v", c)
			}
			// v1.0: appid and appidacr; v2.0: azp and azpacr.
			app, acr, other, ver := "appid", "appidacr", "azp", "1.0"
			if tt.v2 {
				app, acr, other, ver = "azp", "azpacr", "appid", "2.0"
			}
			if c[app] != ConfidentialClientID || c[acr] != tt.wantACR || c[other] != nil || c["ver"] != ver {
				t.Errorf("claims = %v", c)
			}
			if d := time.Until(res.ExpiresOn); d < 59*time.Minute || d > 91*time.Minute {
				t.Errorf("ExpiresOn in %v", d)
			}
		})
	}

	t.Run("certificate with fake clock years away", func(t *testing.T) {
		// MSAL signs assertions with the wall clock; the emulator's own
		// clock may be anywhere.
		f := start(t, Config{Clock: clock.NewFake(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))})
		if err := f.RegisterClientCertificate(ConfidentialClientID, certPEM); err != nil {
			t.Fatal(err)
		}
		res, err := confidentialClient(t, f, cert(certs, key)).AcquireTokenByCredential(testContext(t), []string{databricksScope})
		if err != nil {
			t.Fatal(err)
		}
		if iat := unix(t, claims(t, res.AccessToken), "iat"); iat != time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Unix() {
			t.Errorf("iat = %d", iat)
		}
	})

	t.Run("registered second certificate", func(t *testing.T) {
		other := pemCert(otherCert)
		if err := e.RegisterClientCertificate(ConfidentialClientID, other); err != nil {
			t.Fatal(err)
		}
		if _, err := confidentialClient(t, e, cert([]*x509.Certificate{otherCert}, otherKey)).AcquireTokenByCredential(testContext(t), []string{databricksScope}); err != nil {
			t.Fatal(err)
		}
		if err := e.RegisterClientCertificate(PublicClientID, other); err == nil {
			t.Error("registering a certificate for a public client worked")
		}
	})
}

func selfSignedRSA(t testing.TB) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "intruder"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func pemCert(c *x509.Certificate) []byte { return pemBlock("CERTIFICATE", c.Raw) }

func TestMSALPassword(t *testing.T) {
	e := start(t, Config{})
	tests := []struct {
		name, user, password, wantErr string
	}{
		{name: "fixture user", user: Username, password: Password},
		{name: "second user, upper case", user: strings.ToUpper(SecondUsername), password: Password},
		{name: "wrong password", user: Username, password: "Tr0ub4dor&3", wantErr: "AADSTS50126"},
		{name: "unknown user", user: "mallory@tokend.test", password: Password, wantErr: "AADSTS50034"},
		{name: "foreign domain", user: "alice@example.com", password: Password, wantErr: "user realm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pca, _ := publicClient(t, e, PublicClientID)
			res, err := ropc(pca, testContext(t), []string{databricksScope}, tt.user, tt.password)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ToLower(tt.user)
			if res.Account.PreferredUsername != want || res.Account.Realm != TenantID {
				t.Errorf("account = %+v", res.Account)
			}
			c := claims(t, res.AccessToken)
			if c["aud"] != DatabricksResource || c["upn"] != want || c["scp"] != "user_impersonation" || c["idtyp"] != "user" {
				t.Errorf("claims = %v", c)
			}
			if res.IDToken.PreferredUsername != want || res.IDToken.Audience != PublicClientID {
				t.Errorf("id token = %+v", res.IDToken)
			}
		})
	}
	if got := e.Counts()["userrealm"]; got != len(tests) {
		t.Errorf("userrealm count = %d, want %d", got, len(tests))
	}
}

// TestMSALStrictRotationAndRevoke: with strict rotation a refresh token
// dies once its successor has been redeemed (Entra's own behaviour, where
// it does not, is TestConformance/1_refresh_rotation).
func TestMSALStrictRotationAndRevoke(t *testing.T) {
	e := start(t, Config{StrictRefreshRotation: true})
	ctx := testContext(t)
	pca, c := publicClient(t, e, PublicClientID)
	login, err := ropc(pca, ctx, []string{databricksScope}, Username, Password)
	if err != nil {
		t.Fatal(err)
	}
	if want := UserObjectID + "." + TenantID; login.Account.HomeAccountID != want {
		t.Fatalf("home account id = %q, want %q", login.Account.HomeAccountID, want)
	}
	redeem := func(rt string) response {
		return post(t, e, v2Token, url.Values{
			"grant_type": {"refresh_token"}, "client_id": {PublicClientID},
			"refresh_token": {rt}, "scope": {databricksScope + " offline_access"},
		})
	}
	silent := func() (public.AuthResult, error) {
		return pca.AcquireTokenSilent(ctx, []string{databricksScope}, public.WithSilentAccount(login.Account))
	}

	rt0 := c.refreshToken(t)
	e.ResetCounts()
	r1, err := silent()
	if err != nil {
		t.Fatal(err)
	}
	if r1.AccessToken == login.AccessToken {
		t.Error("silent call returned the cached access token")
	}
	rt1 := c.refreshToken(t)
	if rt1 == rt0 {
		t.Fatal("refresh token did not rotate")
	}
	if n := e.Counts()["refresh_token"]; n != 1 {
		t.Fatalf("refresh_token count = %d, want 1", n)
	}

	// rt0's successor has not been redeemed: a client that lost rt1 can
	// still recover with rt0.
	if r := redeem(rt0); r.status != http.StatusOK || r.str("refresh_token") == "" {
		t.Fatalf("recovering with rt0: %d %v", r.status, r.body)
	}
	// Redeeming rt1 (its successor) kills rt0.
	if _, err := silent(); err != nil {
		t.Fatal(err)
	}
	r := redeem(rt0)
	if r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" || r.errorCode() != 70000 {
		t.Fatalf("reusing superseded rt0: %d %v", r.status, r.body)
	}
	// …and a token of another client is no good either.
	r = post(t, e, v2Token, url.Values{
		"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID},
		"refresh_token": {c.refreshToken(t)}, "scope": {databricksScope},
	})
	if r.str("error") != "invalid_grant" {
		t.Fatalf("other client's refresh token: %d %v", r.status, r.body)
	}

	e.RevokeUser(Username)
	_, err = silent()
	if err == nil || !strings.Contains(err.Error(), "AADSTS50173") {
		t.Fatalf("after RevokeUser: err = %v, want AADSTS50173", err)
	}
	// Signing in again works.
	if _, err := ropc(pca, ctx, []string{databricksScope}, Username, Password); err != nil {
		t.Fatal(err)
	}
	if _, err := silent(); err != nil {
		t.Fatalf("after new sign-in: %v", err)
	}

	// Refresh tokens expire after 90 days of emulator time.
	e.ShiftClock(91 * 24 * time.Hour)
	if _, err = silent(); err == nil || !strings.Contains(err.Error(), "AADSTS700082") {
		t.Fatalf("after 91 days: err = %v, want AADSTS700082", err)
	}
}

func TestMSALDeviceCode(t *testing.T) {
	e := start(t, Config{})
	ctx := testContext(t)
	pca, _ := publicClient(t, e, AzureCLIClientID)
	dc, err := pca.AcquireTokenByDeviceCode(ctx, []string{databricksScope})
	if err != nil {
		t.Fatal(err)
	}
	res := dc.Result
	if !regexp.MustCompile(`^[A-Z2-9]{9}$`).MatchString(res.UserCode) {
		t.Errorf("user code %q", res.UserCode)
	}
	wantMsg := fmt.Sprintf("To sign in, use a web browser to open the page %s/devicelogin and enter the code %s to authenticate.", e.URL(), res.UserCode)
	if res.Message != wantMsg || res.VerificationURL != e.URL()+"/devicelogin" || res.Interval != 5 {
		t.Errorf("result = %+v", res)
	}

	// Before approval, polling gets authorization_pending.
	r := post(t, e, v2Token, url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {AzureCLIClientID},
		"device_code": {res.DeviceCode},
	})
	if r.status != http.StatusBadRequest || r.str("error") != "authorization_pending" || r.errorCode() != 70016 {
		t.Fatalf("pending: %d %v", r.status, r.body)
	}
	if err := e.ApproveDeviceCode("nope", ""); err == nil {
		t.Error("approving an unknown code worked")
	}
	if err := e.ApproveDeviceCode(strings.ToLower(res.UserCode[:4]+"-"+res.UserCode[4:]), "nobody@tokend.test"); err == nil {
		t.Error("approving as an unknown user worked")
	}
	approved := make(chan error, 1)
	go func() {
		// Let MSAL poll (and be told to wait) at least once more.
		for e.Counts()["device_code"] < 2 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		approved <- e.ApproveDeviceCode(strings.ToLower(res.UserCode[:4]+"-"+res.UserCode[4:]), SecondUsername)
	}()
	ar, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-approved; err != nil {
		t.Fatal(err)
	}
	if ar.Account.PreferredUsername != SecondUsername || claims(t, ar.AccessToken)["oid"] != SecondUserObjectID {
		t.Errorf("account = %+v", ar.Account)
	}
	if n := e.Counts()["devicecode"]; n != 1 {
		t.Errorf("devicecode count = %d", n)
	}

	t.Run("expired", func(t *testing.T) {
		dc, err := pca.AcquireTokenByDeviceCode(ctx, []string{databricksScope})
		if err != nil {
			t.Fatal(err)
		}
		e.ShiftClock(16 * time.Minute)
		if err := e.ApproveDeviceCode(dc.Result.UserCode, ""); err == nil {
			t.Error("approving an expired code worked")
		}
		_, err = dc.AuthenticationResult(ctx)
		if err == nil || !strings.Contains(err.Error(), "expired_token") || !strings.Contains(err.Error(), "AADSTS70020") {
			t.Fatalf("err = %v, want expired_token AADSTS70020", err)
		}
	})
}

// pkce returns a code verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// noRedirects is e's client, but returning redirects instead of following.
func noRedirects(e *Emulator) *http.Client {
	c := *e.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func TestMSALAuthCodePKCE(t *testing.T) {
	e := start(t, Config{InstantSignIn: true})
	ctx := testContext(t)
	pca, _ := publicClient(t, e, PublicClientID)
	const redirect = "http://localhost:8400/callback"
	scopes := []string{"https://management.core.windows.net//.default"}

	authorize := func(t *testing.T, extra url.Values) *url.URL {
		t.Helper()
		u, err := pca.AuthCodeURL(ctx, PublicClientID, redirect, append(scopes, "openid", "offline_access", "profile"), public.WithLoginHint(SecondUsername))
		if err != nil {
			t.Fatal(err)
		}
		pu, _ := url.Parse(u)
		q := pu.Query()
		for k, v := range extra {
			q[k] = v
		}
		pu.RawQuery = q.Encode()
		resp, err := noRedirects(e).Get(pu.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("authorize: status %d", resp.StatusCode)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), redirect+"?") {
			t.Fatalf("Location %q", resp.Header.Get("Location"))
		}
		return loc
	}

	t.Run("redeem once", func(t *testing.T) {
		verifier, challenge := pkce()
		loc := authorize(t, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"xyz"}})
		code := loc.Query().Get("code")
		if code == "" || loc.Query().Get("state") != "xyz" {
			t.Fatalf("redirect %v", loc)
		}
		res, err := pca.AcquireTokenByAuthCode(ctx, code, redirect, scopes, public.WithChallenge(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if res.Account.PreferredUsername != SecondUsername || claims(t, res.AccessToken)["aud"] != "https://management.core.windows.net/" {
			t.Errorf("result = %+v", res.Account)
		}
		_, err = pca.AcquireTokenByAuthCode(ctx, code, redirect, scopes, public.WithChallenge(verifier))
		if err == nil || !strings.Contains(err.Error(), "AADSTS54005") {
			t.Fatalf("reused code: err = %v, want AADSTS54005", err)
		}
	})

	t.Run("wrong verifier", func(t *testing.T) {
		_, challenge := pkce()
		other, _ := pkce()
		code := authorize(t, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}).Query().Get("code")
		_, err := pca.AcquireTokenByAuthCode(ctx, code, redirect, scopes, public.WithChallenge(other))
		if err == nil || !strings.Contains(err.Error(), "AADSTS501481") {
			t.Fatalf("err = %v, want AADSTS501481", err)
		}
	})

	t.Run("other redirect at redemption", func(t *testing.T) {
		verifier, challenge := pkce()
		code := authorize(t, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}).Query().Get("code")
		_, err := pca.AcquireTokenByAuthCode(ctx, code, "http://localhost:8401/callback", scopes, public.WithChallenge(verifier))
		if err == nil || !strings.Contains(err.Error(), "AADSTS500112") {
			t.Fatalf("err = %v, want AADSTS500112", err)
		}
	})

	t.Run("expired code", func(t *testing.T) {
		verifier, challenge := pkce()
		code := authorize(t, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}).Query().Get("code")
		e.ShiftClock(11 * time.Minute)
		_, err := pca.AcquireTokenByAuthCode(ctx, code, redirect, scopes, public.WithChallenge(verifier))
		if err == nil || !strings.Contains(err.Error(), "AADSTS70008") {
			t.Fatalf("err = %v, want AADSTS70008", err)
		}
	})

	t.Run("only S256", func(t *testing.T) {
		loc := authorize(t, url.Values{"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}})
		if loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
			t.Errorf("redirect %v", loc)
		}
	})

	t.Run("bad redirect URI not redirected to", func(t *testing.T) {
		for _, ru := range []string{"https://evil.example/cb", "http://localhost.evil.example/", "http://10.0.0.1/"} {
			q := url.Values{"client_id": {PublicClientID}, "response_type": {"code"}, "redirect_uri": {ru}, "scope": {"openid"}}
			r := get(t, e, "/"+TenantID+"/oauth2/v2.0/authorize?"+q.Encode())
			if r.status != http.StatusBadRequest || r.errorCode() != 50011 {
				t.Errorf("%s: %d %v", ru, r.status, r.body)
			}
		}
	})
}

// TestMSALInteractive drives AcquireTokenInteractive end to end as a
// person would: the "browser" opens the authorize URL, gets the sign-in
// page, types a wrong password, then the right one, and submits the
// form_post page to MSAL's local redirect server.
func TestMSALInteractive(t *testing.T) {
	e := start(t, Config{})
	pca, _ := publicClient(t, e, PublicClientID)
	b := newBrowser(t, e)
	var wrong string
	open := func(authURL string) error {
		page, err := b.get(authURL)
		if err != nil {
			return err
		}
		if page, err = b.submit(page, url.Values{"username": {Username}, "password": {"nope"}, "emu_action": {"signin"}}); err != nil {
			return err
		}
		wrong = page
		if page, err = b.submit(page, url.Values{"username": {Username}, "password": {Password}, "emu_action": {"signin"}}); err != nil {
			return err
		}
		_, err = b.submit(page, nil) // the form_post page, to MSAL's server
		return err
	}
	res, err := pca.AcquireTokenInteractive(testContext(t), []string{databricksScope}, public.WithOpenURL(open))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(wrong, "Your account or password is incorrect") || !strings.Contains(wrong, "AADSTS50126") {
		t.Errorf("wrong password page:\n%s", wrong)
	}
	if res.Account.PreferredUsername != Username || claims(t, res.AccessToken)["aud"] != DatabricksResource {
		t.Errorf("account = %+v", res.Account)
	}
	if e.Counts()["authorize"] != 3 || e.Counts()["authorization_code"] != 1 {
		t.Errorf("counts = %v", e.Counts())
	}
}
