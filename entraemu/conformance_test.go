package entraemu

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// TestConformance: one test per difference between the emulator and Entra
// ID that issue 14 lists, each through MSAL Go where MSAL is involved, and
// each failing on the emulator before the fix (the commit history shows
// which behaviour it replaced).
func TestConformance(t *testing.T) {
	ctx := testContext(t)
	secret, err := confidential.NewCredFromSecret(ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := func(t *testing.T, err error, parts ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want one with %q", parts)
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want it to mention %q", err, p)
			}
		}
	}

	t.Run("1 refresh tokens stay valid after rotation", func(t *testing.T) {
		// https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime
		for _, strict := range []bool{false, true} {
			e := start(t, Config{StrictRefreshRotation: strict})
			pca, c := publicClient(t, e, PublicClientID)
			login, err := ropc(pca, ctx, []string{databricksScope}, Username, Password)
			if err != nil {
				t.Fatal(err)
			}
			rt0 := c.refreshToken(t)
			for range 2 { // two rotations, through MSAL
				if _, err := pca.AcquireTokenSilent(ctx, []string{databricksScope}, withAccount(login)); err != nil {
					t.Fatal(err)
				}
			}
			if c.refreshToken(t) == rt0 {
				t.Fatal("the refresh token did not rotate")
			}
			r := refreshGrant(t, e, rt0)
			switch {
			case !strict && r.status != http.StatusOK:
				t.Errorf("the first refresh token after two rotations: %d %v", r.status, r.body)
			case strict && (r.str("error") != "invalid_grant" || r.errorCode() != 70000):
				t.Errorf("strict: the first refresh token after two rotations: %d %v", r.status, r.body)
			}
		}
	})

	t.Run("2 token version follows the resource", func(t *testing.T) {
		// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
		e := start(t, Config{})
		cca := confidentialClient(t, e, secret)
		sts := "https://sts.windows.net/" + TenantID + "/"
		for _, tc := range []struct {
			scope, aud, ver, iss string
		}{
			{databricksScope, DatabricksResource, "1.0", sts},
			{ManagementResource + "/.default", ManagementResource, "1.0", sts},
			{"https://graph.microsoft.com/.default", "https://graph.microsoft.com", "1.0", sts},
			{TestAPIResource + "/.default", TestAPIAppID, "2.0", e.Authority() + "/v2.0"},
		} {
			res, err := cca.AcquireTokenByCredential(ctx, []string{tc.scope})
			if err != nil {
				t.Fatal(err)
			}
			c := claims(t, res.AccessToken)
			if c["ver"] != tc.ver || c["iss"] != tc.iss || c["aud"] != tc.aud {
				t.Errorf("%s: ver %v iss %v aud %v", tc.scope, c["ver"], c["iss"], c["aud"])
			}
			if v1 := tc.ver == "1.0"; (c["appid"] != nil) != v1 || (c["azp"] != nil) == v1 {
				t.Errorf("%s: appid %v azp %v", tc.scope, c["appid"], c["azp"])
			}
		}
		// A user token of the v1 endpoint's resource= and of the v2
		// endpoint's scope= alike: v1.0 claims for Azure Databricks.
		pca, _ := publicClient(t, e, PublicClientID)
		res, err := ropc(pca, ctx, []string{databricksScope}, Username, Password)
		if err != nil {
			t.Fatal(err)
		}
		c := claims(t, res.AccessToken)
		if c["ver"] != "1.0" || c["upn"] != Username || c["unique_name"] != Username || c["preferred_username"] != nil || c["iss"] != sts {
			t.Errorf("user token claims %v", c)
		}
	})

	t.Run("3 unknown resources and scopes are refused", func(t *testing.T) {
		e := start(t, Config{})
		cca := confidentialClient(t, e, secret)
		_, err := cca.AcquireTokenByCredential(ctx, []string{"api://does-not-exist/.default"})
		wantErr(t, err, "invalid_resource", "AADSTS500011", "The resource principal named api://does-not-exist was not found in the tenant")
		pca, _ := publicClient(t, e, PublicClientID)
		_, err = ropc(pca, ctx, []string{"api://nope/.default"}, Username, Password)
		wantErr(t, err, "AADSTS500011")
		_, err = ropc(pca, ctx, []string{"https://graph.microsoft.com/Nope.ReadWrite"}, Username, Password)
		wantErr(t, err, "invalid_scope", "AADSTS70011")
		// The v1 endpoint says the same of resource=.
		r := post(t, e, v1Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "client_secret": {ClientSecret}, "resource": {"api://nope"}})
		if r.status != 400 || r.str("error") != "invalid_resource" || r.errorCode() != 500011 {
			t.Errorf("v1: %d %v", r.status, r.body)
		}
		// A permission the user withdrew consent for: AADSTS65001.
		if err := e.SetScopeConsent(Username, PublicClientID, "https://graph.microsoft.com/Mail.Read", false); err != nil {
			t.Fatal(err)
		}
		_, err = ropc(pca, ctx, []string{"https://graph.microsoft.com/Mail.Read"}, Username, Password)
		wantErr(t, err, "invalid_grant", "AADSTS65001")
		// An app that may not use public client flows: AADSTS7000218.
		if err := e.SetPublicClientFlows(PublicClientID, false); err != nil {
			t.Fatal(err)
		}
		_, err = ropc(pca, ctx, []string{databricksScope}, Username, Password)
		wantErr(t, err, "invalid_client", "AADSTS7000218")
	})

	t.Run("4 PKCE only for single-page apps", func(t *testing.T) {
		// MSAL Go's auth code example: AuthCodeURL, then
		// AcquireTokenByAuthCode, no PKCE.
		e := start(t, Config{InstantSignIn: true})
		pca, _ := publicClient(t, e, PublicClientID)
		const redirect = "http://localhost:1/cb"
		u, err := pca.AuthCodeURL(ctx, PublicClientID, redirect, []string{databricksScope})
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, e)
		if _, err := b.get(u); err != nil {
			t.Fatal(err)
		}
		if b.redirected == nil || b.redirected.Query().Get("code") == "" {
			t.Fatalf("no code: %v", b.redirected)
		}
		if _, err := pca.AcquireTokenByAuthCode(ctx, b.redirected.Query().Get("code"), redirect, []string{databricksScope}); err != nil {
			t.Fatal(err)
		}
		spa, _ := publicClient(t, e, SPAClientID)
		if u, err = spa.AuthCodeURL(ctx, SPAClientID, redirect, []string{databricksScope}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.get(u); err != nil {
			t.Fatal(err)
		}
		if q := b.redirected.Query(); q.Get("error") != "invalid_request" || !strings.HasPrefix(q.Get("error_description"), "AADSTS9002325: ") {
			t.Errorf("SPA without PKCE: %v", q)
		}
	})

	t.Run("5 FOCI for the Azure CLI", func(t *testing.T) {
		e := start(t, Config{})
		for _, id := range []string{AzureCLIClientID, PublicClientID} {
			pca, c := publicClient(t, e, id)
			if _, err := ropc(pca, ctx, []string{databricksScope}, Username, Password); err != nil {
				t.Fatal(err)
			}
			var m struct {
				RefreshToken map[string]struct {
					FamilyID string `json:"family_id"`
				}
			}
			if err := json.Unmarshal(c.data, &m); err != nil || len(m.RefreshToken) != 1 {
				t.Fatalf("cache: %v", err)
			}
			for _, rt := range m.RefreshToken {
				if want := map[bool]string{true: "1"}[id == AzureCLIClientID]; rt.FamilyID != want {
					t.Errorf("%s: family_id %q, want %q", id, rt.FamilyID, want)
				}
			}
		}
	})

	t.Run("6 client credentials need a tenant", func(t *testing.T) {
		e := start(t, Config{})
		for _, tenant := range []string{"common", "organizations"} {
			cca, err := confidential.New(e.URL()+"/"+tenant, ConfidentialClientID, secret,
				confidential.WithHTTPClient(e.HTTPClient()), confidential.WithInstanceDiscovery(false))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cca.AcquireTokenByCredential(ctx, []string{databricksScope})
			wantErr(t, err, "AADSTS50059")
		}
	})

	t.Run("7 .default returns the granted permissions", func(t *testing.T) {
		e := start(t, Config{})
		pca, _ := publicClient(t, e, PublicClientID)
		res, err := ropc(pca, ctx, []string{databricksScope}, Username, Password)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(res.GrantedScopes, DatabricksResource+"/user_impersonation") {
			t.Errorf("granted scopes %q", res.GrantedScopes)
		}
	})

	t.Run("8 ROPC for an unknown user", func(t *testing.T) {
		e := start(t, Config{})
		pca, _ := publicClient(t, e, PublicClientID)
		_, err := ropc(pca, ctx, []string{databricksScope}, "mallory@tokend.test", Password)
		wantErr(t, err, "AADSTS50034")
	})

	t.Run("9 paths are case-insensitive", func(t *testing.T) {
		e := start(t, Config{})
		for _, p := range []string{"/common/userrealm/" + Username + "?api-version=1.0", "/COMMON/UserRealm/" + Username + "?api-version=1.0"} {
			if r := get(t, e, p); r.status != 200 || r.str("account_type") != "Managed" {
				t.Errorf("%s: %d %v", p, r.status, r.body)
			}
		}
		if r := post(t, e, "/"+strings.ToUpper(TenantID)+"/OAuth2/V2.0/Token", clientCredentialsForm(databricksScope)); r.status != 200 {
			t.Errorf("upper-case token path: %d %v", r.status, r.body)
		}
	})

	t.Run("10 no :443 in the authority", func(t *testing.T) {
		if got := urlHost(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}); got != "127.0.0.1" {
			t.Errorf("urlHost = %q", got)
		}
		e, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		// Port 443 on a loopback address of its own needs privilege.
		if err := e.Start("127.0.0.43:443"); err != nil {
			t.Skipf("cannot listen on port 443 here: %v", err)
		}
		defer e.Close()
		if fx := e.Fixture(); fx.Authority != "https://127.0.0.43/"+TenantID {
			t.Errorf("authority %q", fx.Authority)
		}
		cca, err := confidential.New(e.Authority(), ConfidentialClientID, secret,
			confidential.WithHTTPClient(e.HTTPClient()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cca.AcquireTokenByCredential(ctx, []string{databricksScope}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("11 the workspace at the emulator's address", func(t *testing.T) {
		e := start(t, Config{})
		res, err := confidentialClient(t, e, secret).AcquireTokenByCredential(ctx, []string{databricksScope})
		if err != nil {
			t.Fatal(err)
		}
		if r := get(t, e, "/.well-known/databricks-config"); r.status != 200 || r.str("host_type") != "WORKSPACE_HOST" || r.str("oidc_endpoint") != e.URL()+"/oidc" {
			t.Errorf("databricks-config: %d %v", r.status, r.body)
		}
		req, _ := http.NewRequest(http.MethodGet, e.URL()+"/api/2.0/preview/scim/v2/Me", nil)
		req.Header.Set("Authorization", "Bearer "+res.AccessToken)
		if r := doJSON(t, e, req); r.status != 200 || r.str("userName") != ConfidentialClientID {
			t.Errorf("SCIM Me: %d %v", r.status, r.body)
		}
	})

	t.Run("12 a sign-in page with Cancel", func(t *testing.T) {
		e := start(t, Config{})
		pca, _ := publicClient(t, e, PublicClientID)
		var page string
		cancel := func(u string) error {
			b := newBrowser(t, e)
			var err error
			if page, err = b.get(u); err != nil {
				return err
			}
			p, err := b.submit(page, url.Values{"emu_action": {"cancel"}})
			if err != nil {
				return err
			}
			_, err = b.submit(p, nil) // the form_post page, to MSAL
			return err
		}
		_, err := pca.AcquireTokenInteractive(ctx, []string{databricksScope}, public.WithOpenURL(cancel), public.WithLoginHint(SecondUsername))
		wantErr(t, err, "AADSTS65004: User declined")
		if !strings.Contains(page, `name="password"`) || !strings.Contains(page, `value="`+SecondUsername+`"`) {
			t.Errorf("sign-in page:\n%s", page)
		}
	})
}
