package entraemu

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

func TestManagedIdentityEndpoints(t *testing.T) {
	e := start(t, Config{})
	type call struct {
		path   string
		header [2]string
		query  url.Values
	}
	appService := func(q url.Values) call {
		q.Set("api-version", "2019-08-01")
		return call{ManagedIdentityPath, [2]string{"X-IDENTITY-HEADER", ManagedIdentityHeader}, q}
	}
	imds := func(q url.Values) call {
		q.Set("api-version", "2018-02-01")
		return call{IMDSPath, [2]string{"Metadata", "true"}, q}
	}
	res := url.Values{"resource": {"https://management.core.windows.net/"}}
	with := func(k, v string) url.Values {
		q := url.Values{"resource": {DatabricksResource}}
		q.Set(k, v)
		return q
	}
	for _, tc := range []struct {
		name    string
		c       call
		status  int
		appid   string // success: the identity's client id
		message string // failure: in the body
	}{
		{"app service system-assigned", appService(url.Values{"resource": {DatabricksResource}}), 200, SystemAssignedClientID, ""},
		{"app service v2 scope form", appService(url.Values{"resource": {DatabricksResource + "/.default"}}), 200, SystemAssignedClientID, ""},
		{"app service URL resource", appService(res), 200, SystemAssignedClientID, ""},
		{"app service by client id", appService(with("client_id", UserAssignedClientID)), 200, UserAssignedClientID, ""},
		{"app service by resource id", appService(with("mi_res_id", UserAssignedResourceID)), 200, UserAssignedClientID, ""},
		{"app service by object id", appService(with("object_id", UserAssignedObjectID)), 200, UserAssignedClientID, ""},
		{"app service by principal id", appService(with("principal_id", UserAssignedObjectID)), 200, UserAssignedClientID, ""},
		{"app service unknown identity", appService(with("client_id", ConfidentialClientID)), 400, "", "No Managed Identity found"},
		{"app service wrong header", call{ManagedIdentityPath, [2]string{"X-IDENTITY-HEADER", "guess"}, url.Values{"api-version": {"2019-08-01"}, "resource": {"r"}}}, 401, "", "X-IDENTITY-HEADER"},
		{"app service old api-version", call{ManagedIdentityPath, [2]string{"X-IDENTITY-HEADER", ManagedIdentityHeader}, url.Values{"api-version": {"2017-09-01"}, "resource": {"r"}}}, 400, "", "api-version"},
		{"app service no resource", appService(url.Values{}), 400, "", "resource"},
		{"imds system-assigned", imds(url.Values{"resource": {DatabricksResource}}), 200, SystemAssignedClientID, ""},
		{"imds by msi_res_id", imds(with("msi_res_id", UserAssignedResourceID)), 200, UserAssignedClientID, ""},
		{"imds by object id", imds(with("object_id", UserAssignedObjectID)), 200, UserAssignedClientID, ""},
		{"imds two selectors", imds(url.Values{"resource": {"r"}, "client_id": {UserAssignedClientID}, "object_id": {UserAssignedObjectID}}), 400, "", "Only one"},
		{"imds unknown identity", imds(with("client_id", PublicClientID)), 400, "", "Identity not found"},
		{"app service unknown resource", appService(url.Values{"resource": {"api://nope"}}), 400, "", "AADSTS500011: The resource principal named api://nope was not found"},
		{"imds unknown resource", imds(url.Values{"resource": {"api://nope"}}), 400, "", "AADSTS500011"},
		{"imds without Metadata", call{IMDSPath, [2]string{"X-Other", "1"}, url.Values{"api-version": {"2018-02-01"}, "resource": {"r"}}}, 400, "", "metadata header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.URL()+tc.c.path+"?"+tc.c.query.Encode(), nil)
			req.Header.Set(tc.c.header[0], tc.c.header[1])
			r := doJSON(t, e, req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %v", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				msg := r.str("message") + r.str("error_description")
				if !strings.Contains(msg, tc.message) {
					t.Errorf("error %v, want %q", r.body, tc.message)
				}
				if tc.c.path == IMDSPath && r.str("error") == "" || tc.c.path == ManagedIdentityPath && r.body["statusCode"] != float64(tc.status) {
					t.Errorf("error body of the wrong protocol: %v", r.body)
				}
				return
			}
			c, _ := verifyWithJWKS(t, e, r.str("access_token"))
			want := strings.TrimSuffix(tc.c.query.Get("resource"), "/.default")
			if c["appid"] != tc.appid || c["aud"] != want || c["tid"] != TenantID || c["idtyp"] != "app" || r.str("client_id") != tc.appid || r.str("resource") != want {
				t.Errorf("claims %v, answer %v", c, r.body)
			}
			exp := unix(t, c, "exp")
			if r.str("expires_on") != strconv.FormatInt(exp, 10) {
				t.Errorf("expires_on %q, exp %d", r.str("expires_on"), exp)
			}
			if tc.c.path == IMDSPath && r.str("expires_in") == "" {
				t.Errorf("IMDS answer without expires_in: %v", r.body)
			}
		})
	}
	if n := e.Counts()["managed_identity"]; n == 0 {
		t.Error("managed identity requests not counted")
	}
	t.Run("faults apply", func(t *testing.T) {
		e.FailNext(1, Fault{Status: 503, RetryAfter: 2 * time.Second})
		req, _ := http.NewRequest(http.MethodGet, e.URL()+ManagedIdentityPath+"?api-version=2019-08-01&resource=r", nil)
		req.Header.Set("X-IDENTITY-HEADER", ManagedIdentityHeader)
		if r := doJSON(t, e, req); r.status != 503 || r.header.Get("Retry-After") != "2" {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})
}

// TestFederatedCredential runs MSAL's assertion-callback credential, as a
// workload identity does, with tokens of the fixture issuer and forgeries.
func TestFederatedCredential(t *testing.T) {
	e := start(t, Config{})
	mint := func(subject, audience string, life time.Duration) string {
		tok, err := e.FederatedToken(subject, audience, life)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, kid, _ := e.fed.signer()
	forge := func(iss string) string {
		now := time.Now()
		tok, err := signRS256(other, kid, map[string]any{"iss": iss, "sub": FederatedSubject, "aud": []string{FederatedAudience}, "exp": now.Add(time.Hour).Unix(), "nbf": now.Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name      string
		clientID  string
		assertion string
		code      string // "" for success
	}{
		{"fixture workload", WorkloadClientID, mint(FederatedSubject, "", time.Hour), ""},
		{"another subject", WorkloadClientID, mint("system:serviceaccount:default:other", "", time.Hour), "AADSTS700213"},
		{"another audience", WorkloadClientID, mint(FederatedSubject, "api://elsewhere", time.Hour), "AADSTS700212"},
		{"expired", WorkloadClientID, mint(FederatedSubject, "", -time.Hour), "AADSTS700024"},
		{"unknown issuer", WorkloadClientID, forge("https://evil.example/"), "AADSTS700211"},
		{"forged signature", WorkloadClientID, forge(FederatedIssuer), "AADSTS700027"},
		{"app without federated credentials", ConfidentialClientID, mint(FederatedSubject, "", time.Hour), "AADSTS700211"},
		{"garbage", WorkloadClientID, "not.a.jwt", "AADSTS50027"},
		{"through the admin API", WorkloadClientID, postJSON(t, e, "/_emulator/federated/token", `{"lifetime_seconds":600}`).str("token"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred := confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
				return tc.assertion, nil
			})
			app, err := confidential.New(e.Authority(), tc.clientID, cred, confidential.WithHTTPClient(e.HTTPClient()), confidential.WithInstanceDiscovery(false))
			if err != nil {
				t.Fatal(err)
			}
			r, err := app.AcquireTokenByCredential(testContext(t), []string{databricksScope})
			if tc.code != "" {
				if err == nil || !strings.Contains(err.Error(), tc.code) {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c := claims(t, r.AccessToken); c["appid"] != WorkloadClientID || c["aud"] != DatabricksResource {
				t.Errorf("claims %v", c)
			}
		})
	}
}

func TestClientSecretRotation(t *testing.T) {
	e := start(t, Config{})
	form := clientCredentialsForm(databricksScope)
	if err := e.SetClientSecret(ConfidentialClientID, "rotated-secret"); err != nil {
		t.Fatal(err)
	}
	if r := post(t, e, v2Token, form); r.status != 401 || r.str("error") != "invalid_client" || r.errorCode() != 7000215 {
		t.Fatalf("old secret: %d %v", r.status, r.body)
	}
	form.Set("client_secret", "rotated-secret")
	if r := post(t, e, v2Token, form); r.status != 200 {
		t.Fatalf("new secret: %d %v", r.status, r.body)
	}
	for _, id := range []string{PublicClientID, "no-such-client"} {
		if err := e.SetClientSecret(id, "x"); err == nil {
			t.Errorf("SetClientSecret(%s) worked", id)
		}
	}
	if r := postJSON(t, e, "/_emulator/client/secret", `{"client_id":"`+ConfidentialClientID+`","secret":"`+ClientSecret+`"}`); r.status != 200 {
		t.Fatalf("admin: %d %v", r.status, r.body)
	}
	if r := post(t, e, v2Token, clientCredentialsForm(databricksScope)); r.status != 200 {
		t.Fatalf("after rotating back: %d %v", r.status, r.body)
	}
}

// TestIssuedCertificates: registered by thumbprint, trusted by subject
// (needs x5c), and refused once expired.
func TestIssuedCertificates(t *testing.T) {
	e := start(t, Config{})
	now := time.Now()
	issue := func(cn string, notAfter time.Time) confidential.Credential {
		certPEM, keyPEM, err := e.IssueClientCertificate(cn, now.Add(-48*time.Hour), notAfter)
		if err != nil {
			t.Fatal(err)
		}
		certs, key, err := confidential.CertFromPEM(append(certPEM, keyPEM...), "")
		if err != nil {
			t.Fatal(err)
		}
		cred, err := confidential.NewCredFromCert(certs, key)
		if err != nil {
			t.Fatal(err)
		}
		if cn == "registered" || cn == "expired" {
			if err := e.RegisterClientCertificate(ConfidentialClientID, certPEM); err != nil {
				t.Fatal(err)
			}
		}
		return cred
	}
	if err := e.TrustCertificateSubject(ConfidentialClientID, "sni.tokend.test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cred confidential.Credential
		x5c  bool
		code string
	}{
		{"registered", issue("registered", now.Add(time.Hour)), false, ""},
		{"expired", issue("expired", now.Add(-time.Hour)), false, "The key used is expired"},
		{"subject with x5c", issue("sni.tokend.test", now.Add(time.Hour)), true, ""},
		{"subject without x5c", issue("sni.tokend.test", now.Add(time.Hour)), false, "AADSTS700027"},
		{"untrusted subject", issue("other.tokend.test", now.Add(time.Hour)), true, "not trusted"},
		{"expired subject", issue("sni.tokend.test", now.Add(-time.Minute*10)), true, "The key used is expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []confidential.Option{confidential.WithHTTPClient(e.HTTPClient()), confidential.WithInstanceDiscovery(false)}
			if tc.x5c {
				opts = append(opts, confidential.WithX5C())
			}
			app, err := confidential.New(e.Authority(), ConfidentialClientID, tc.cred, opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = app.AcquireTokenByCredential(testContext(t), []string{databricksScope})
			if tc.code == "" && err != nil || tc.code != "" && (err == nil || !strings.Contains(err.Error(), tc.code)) {
				t.Fatalf("err = %v, want %q", err, tc.code)
			}
		})
	}
	t.Run("admin", func(t *testing.T) {
		r := postJSON(t, e, "/_emulator/certificate", `{"common_name":"admin.tokend.test","lifetime_seconds":600}`)
		certs, key, err := confidential.CertFromPEM([]byte(r.str("pem")), "")
		if r.status != 200 || err != nil || certs[0].Subject.CommonName != "admin.tokend.test" || time.Until(certs[0].NotAfter) > 11*time.Minute {
			t.Fatalf("%d %v %v", r.status, r.body, err)
		}
		cred, _ := confidential.NewCredFromCert(certs, key)
		if _, err := confidentialClient(t, e, cred).AcquireTokenByCredential(testContext(t), []string{databricksScope}); err != nil {
			t.Fatalf("issued through the admin API, not registered: %v", err)
		}
		if r := postJSON(t, e, "/_emulator/certificate", `{"register":"sometimes"}`); r.status != 400 {
			t.Fatalf("bad register: %d", r.status)
		}
	})
}
