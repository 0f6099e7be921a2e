package entraemu

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tokend/tokend/internal/clock"
)

func TestAccessTokenVerifiesAgainstJWKS(t *testing.T) {
	e := start(t, Config{})
	app := post(t, e, v2Token, clientCredentialsForm(DatabricksResource+"/.default"))
	user := post(t, e, v2Token, url.Values{
		"grant_type": {"password"}, "client_id": {PublicClientID}, "client_info": {"1"},
		"username": {Username}, "password": {Password}, "scope": {DatabricksResource + "/.default openid profile offline_access"},
	})
	for _, r := range []response{app, user} {
		if r.status != http.StatusOK || r.str("token_type") != "Bearer" {
			t.Fatalf("token: %d %v", r.status, r.body)
		}
	}
	t.Run("app token", func(t *testing.T) {
		c, iss := verifyWithJWKS(t, e, app.str("access_token"))
		// Azure Databricks takes v1.0 tokens: the v1.0 issuer, which the
		// v1 OpenID configuration names.
		if iss != "https://"+strings.TrimPrefix(e.URL(), "https://")+"/"+TenantID+"/v2.0" || c["iss"] != "https://sts.windows.net/"+TenantID+"/" ||
			get(t, e, "/"+TenantID+"/.well-known/openid-configuration").str("issuer") != c["iss"] {
			t.Errorf("iss = %v, issuer %q", c["iss"], iss)
		}
		if c["aud"] != DatabricksResource || c["tid"] != TenantID || c["ver"] != "1.0" || c["oid"] != c["sub"] || c["oid"] == "" {
			t.Errorf("claims = %v", c)
		}
		if exp, iat, nbf := unix(t, c, "exp"), unix(t, c, "iat"), unix(t, c, "nbf"); nbf != iat || exp-iat < 3600 || exp-iat > 5400 {
			t.Errorf("iat %d nbf %d exp %d", iat, nbf, exp)
		}
		if _, ok := app.body["refresh_token"]; ok {
			t.Error("client credentials returned a refresh token")
		}
	})
	t.Run("user tokens", func(t *testing.T) {
		c, _ := verifyWithJWKS(t, e, user.str("access_token"))
		if c["aud"] != DatabricksResource || c["oid"] != UserObjectID || c["scp"] != "user_impersonation" ||
			c["upn"] != Username || c["unique_name"] != Username || c["appid"] != PublicClientID || c["name"] == "" {
			t.Errorf("claims = %v", c)
		}
		id, _ := verifyWithJWKS(t, e, user.str("id_token"))
		if id["aud"] != PublicClientID || id["oid"] != UserObjectID || id["sub"] != c["sub"] || id["preferred_username"] != Username {
			t.Errorf("id token = %v", id)
		}
		if user.str("client_info") != "eyJ1aWQiOiI1ZTFhOWMzZC03YjJmLTRlOGEtYTZkNC0wYzliOGY3ZTZkNWEiLCJ1dGlkIjoiOGQzYzZlN2EtMWYyYi00YzVkLTllMGYtN2E2YjVjNGQzZTJmIn0" {
			t.Errorf("client_info = %q", user.str("client_info"))
		}
		if user.str("scope") != DatabricksResource+"/user_impersonation "+DatabricksResource+"/.default openid profile offline_access" || user.str("refresh_token") == "" {
			t.Errorf("response = %v", user.body)
		}
		if user.body["expires_in"] != user.body["ext_expires_in"] {
			t.Errorf("expires_in %v, ext_expires_in %v", user.body["expires_in"], user.body["ext_expires_in"])
		}
	})
}

func TestScopes(t *testing.T) {
	tests := []struct {
		scope, wantAud, wantSCP string
		wantErr                 int
		wantError               string // default invalid_scope
	}{
		{scope: DatabricksResource + "/.default", wantAud: DatabricksResource, wantSCP: "user_impersonation"},
		{scope: "https://management.core.windows.net//.default offline_access", wantAud: "https://management.core.windows.net/", wantSCP: "user_impersonation"},
		// scp holds every permission the user consented to, not only
		// those asked for.
		{scope: "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read", wantAud: "https://graph.microsoft.com", wantSCP: "User.Read Mail.Read Mail.Send"},
		{scope: TestAPIResource + "/access_as_user", wantAud: TestAPIAppID, wantSCP: "access_as_user"},
		{scope: "User.Read", wantAud: GraphResource, wantSCP: "User.Read Mail.Read Mail.Send"},
		{scope: "openid profile offline_access", wantAud: GraphResource, wantSCP: "User.Read Mail.Read Mail.Send"},
		{scope: "api://my-api/access_as_user", wantErr: 500011, wantError: "invalid_resource"},
		{scope: "https://graph.microsoft.com/Nope.Read", wantErr: 70011},
		{scope: "Nope.Read", wantErr: 70011},
		{scope: DatabricksResource + "/.default https://graph.microsoft.com/User.Read", wantErr: 28000},
		{scope: DatabricksResource + "/", wantErr: 70011},
		{scope: "https:///x", wantErr: 70011},
	}
	e := start(t, Config{})
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			r := post(t, e, v2Token, url.Values{
				"grant_type": {"password"}, "client_id": {PublicClientID},
				"username": {Username}, "password": {Password}, "scope": {tt.scope},
			})
			if tt.wantErr != 0 {
				want := tt.wantError
				if want == "" {
					want = "invalid_scope"
				}
				if r.status != http.StatusBadRequest || r.str("error") != want || r.errorCode() != tt.wantErr {
					t.Fatalf("%d %v", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("%d %v", r.status, r.body)
			}
			c := claims(t, r.str("access_token"))
			if c["aud"] != tt.wantAud || c["scp"] != tt.wantSCP {
				t.Errorf("aud %v scp %v", c["aud"], c["scp"])
			}
		})
	}
}

func TestV1Endpoint(t *testing.T) {
	e := start(t, Config{})
	t.Run("client credentials", func(t *testing.T) {
		r := post(t, e, v1Token, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID},
			"client_secret": {ClientSecret}, "resource": {"https://management.core.windows.net/"},
		})
		if r.status != http.StatusOK {
			t.Fatalf("%d %v", r.status, r.body)
		}
		for _, k := range []string{"expires_in", "ext_expires_in", "expires_on", "not_before"} {
			if _, err := strconv.ParseInt(r.str(k), 10, 64); err != nil {
				t.Errorf("%s = %v, want a number as a string", k, r.body[k])
			}
		}
		c := claims(t, r.str("access_token"))
		if r.str("resource") != "https://management.core.windows.net/" || c["aud"] != "https://management.core.windows.net/" || r.str("token_type") != "Bearer" {
			t.Errorf("response %v, claims %v", r.body, c)
		}
		if r.str("expires_on") != strconv.FormatInt(unix(t, c, "exp"), 10) || r.str("not_before") != strconv.FormatInt(unix(t, c, "nbf"), 10) {
			t.Errorf("expires_on %s not_before %s vs claims %v", r.str("expires_on"), r.str("not_before"), c)
		}
		if _, ok := r.body["refresh_token"]; ok {
			t.Error("refresh token for an app")
		}
	})
	t.Run("password then refresh", func(t *testing.T) {
		r := post(t, e, v1Token, url.Values{
			"grant_type": {"password"}, "client_id": {AzureCLIClientID},
			"username": {Username}, "password": {Password}, "resource": {DatabricksResource},
		})
		if r.status != http.StatusOK || r.str("refresh_token") == "" || r.str("scope") != "user_impersonation" || r.str("resource") != DatabricksResource {
			t.Fatalf("%d %v", r.status, r.body)
		}
		// Without resource=, the refresh token's resource is kept.
		r2 := post(t, e, v1Token, url.Values{
			"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID}, "refresh_token": {r.str("refresh_token")},
		})
		if r2.status != http.StatusOK || claims(t, r2.str("access_token"))["aud"] != DatabricksResource {
			t.Fatalf("%d %v", r2.status, r2.body)
		}
		// With one, the (multi-resource) refresh token gets another.
		r3 := post(t, e, v1Token, url.Values{
			"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID}, "refresh_token": {r2.str("refresh_token")},
			"resource": {"https://management.core.windows.net/"},
		})
		if r3.status != http.StatusOK || claims(t, r3.str("access_token"))["aud"] != "https://management.core.windows.net/" {
			t.Fatalf("%d %v", r3.status, r3.body)
		}
	})
	t.Run("missing resource", func(t *testing.T) {
		r := post(t, e, v1Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "client_secret": {ClientSecret}})
		if r.status != http.StatusBadRequest || r.errorCode() != 900144 {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})
	c := e.Counts()
	if c["v1:client_credentials"] != 2 || c["v1:password"] != 1 || c["v1:refresh_token"] != 2 || c["client_credentials"] != 0 {
		t.Errorf("counts = %v", c)
	}
}

func TestErrorsAreEntraShaped(t *testing.T) {
	e := start(t, Config{})
	desc := regexp.MustCompile(`^AADSTS(\d+): [^\r\n]+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
	tests := []struct {
		name    string
		path    string
		form    url.Values
		status  int
		err     string
		aadsts  int
		comment string
	}{
		{"wrong secret", v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "client_secret": {"x"}, "scope": {DatabricksResource + "/.default"}}, 401, "invalid_client", 7000215, ""},
		{"no credential", v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "scope": {DatabricksResource + "/.default"}}, 401, "invalid_client", 7000218, ""},
		{"public client with secret", v2Token, url.Values{"grant_type": {"password"}, "client_id": {PublicClientID}, "client_secret": {"x"}, "username": {Username}, "password": {Password}, "scope": {"openid"}}, 401, "invalid_client", 700025, ""},
		{"public client credentials", v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {PublicClientID}, "scope": {DatabricksResource + "/.default"}}, 401, "invalid_client", 7000218, ""},
		{"unknown client", v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {"11111111-2222-3333-4444-555555555555"}, "client_secret": {"x"}, "scope": {"x/.default"}}, 400, "unauthorized_client", 700016, ""},
		{"no grant", v2Token, url.Values{"client_id": {PublicClientID}}, 400, "invalid_request", 900144, ""},
		{"unsupported grant", v2Token, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {PublicClientID}}, 400, "unsupported_grant_type", 70003, ""},
		{"no scope", v2Token, url.Values{"grant_type": {"password"}, "client_id": {PublicClientID}, "username": {Username}, "password": {Password}}, 400, "invalid_request", 900144, ""},
		{"wrong password", v2Token, url.Values{"grant_type": {"password"}, "client_id": {PublicClientID}, "username": {Username}, "password": {"x"}, "scope": {"openid"}}, 400, "invalid_grant", 50126, ""},
		{"garbage refresh token", v2Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {PublicClientID}, "refresh_token": {"nope"}, "scope": {"openid"}}, 400, "invalid_grant", 9002313, ""},
		{"garbage code", v2Token, url.Values{"grant_type": {"authorization_code"}, "client_id": {PublicClientID}, "code": {"nope"}, "redirect_uri": {"http://localhost"}, "scope": {"openid"}}, 400, "invalid_grant", 9002313, ""},
		{"garbage device code", v2Token, url.Values{"grant_type": {"device_code"}, "client_id": {PublicClientID}, "device_code": {"nope"}}, 400, "invalid_grant", 70000, ""},
		{"unknown tenant", "/contoso.example/oauth2/v2.0/token", clientCredentialsForm(DatabricksResource + "/.default"), 400, "invalid_request", 90002, ""},
		{"bad assertion", v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "client_assertion_type": {clientAssertionType}, "client_assertion": {"a.b.c"}, "scope": {DatabricksResource + "/.default"}}, 400, "invalid_request", 50027, ""},
		{"devicecode without scope", "/common/oauth2/v2.0/devicecode", url.Values{"client_id": {PublicClientID}}, 400, "invalid_request", 900144, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, e, tt.path, tt.form)
			if r.status != tt.status || r.str("error") != tt.err || r.errorCode() != tt.aadsts {
				t.Fatalf("got %d %v", r.status, r.body)
			}
			m := desc.FindStringSubmatch(r.str("error_description"))
			if m == nil || m[1] != strconv.Itoa(tt.aadsts) {
				t.Errorf("error_description %q", r.str("error_description"))
			}
			if _, err := time.Parse(entraTimestamp, r.str("timestamp")); err != nil {
				t.Errorf("timestamp %q", r.str("timestamp"))
			}
			if r.str("trace_id") == "" || r.str("correlation_id") == "" || !strings.HasSuffix(r.str("error_uri"), "/error?code="+strconv.Itoa(tt.aadsts)) {
				t.Errorf("body %v", r.body)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
	t.Run("correlation id echoed", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.URL()+v2Token, strings.NewReader("grant_type=password"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("client-request-id", "0b8e2c1a-0000-4000-8000-000000000001")
		if r := doJSON(t, e, req); r.str("correlation_id") != "0b8e2c1a-0000-4000-8000-000000000001" {
			t.Errorf("correlation_id %q", r.str("correlation_id"))
		}
	})
}

func TestLifetimes(t *testing.T) {
	const lo, hi = 10 * time.Minute, 20 * time.Minute
	draw := func(t *testing.T, e *Emulator, n int) []int64 {
		var out []int64
		for range n {
			r := post(t, e, v2Token, clientCredentialsForm(DatabricksResource+"/.default"))
			c := claims(t, r.str("access_token"))
			in := int64(r.body["expires_in"].(float64))
			if in != unix(t, c, "exp")-unix(t, c, "iat") {
				t.Fatalf("expires_in %d, claims %v", in, c)
			}
			out = append(out, in)
		}
		return out
	}
	a := draw(t, start(t, Config{Seed: 42, MinLifetime: lo, MaxLifetime: hi}), 20)
	b := draw(t, start(t, Config{Seed: 42, MinLifetime: lo, MaxLifetime: hi}), 20)
	c := draw(t, start(t, Config{Seed: 43, MinLifetime: lo, MaxLifetime: hi}), 20)
	distinct := map[int64]bool{}
	for i := range a {
		if a[i] < int64(lo/time.Second) || a[i] > int64(hi/time.Second) {
			t.Errorf("lifetime %ds outside [%v, %v]", a[i], lo, hi)
		}
		distinct[a[i]] = true
	}
	if len(distinct) < 5 {
		t.Errorf("lifetimes hardly vary: %v", a)
	}
	if !equal(a, b) {
		t.Errorf("same seed, different lifetimes:\n%v\n%v", a, b)
	}
	if equal(a, c) {
		t.Errorf("different seeds, same lifetimes: %v", a)
	}

	t.Run("SetLifetime", func(t *testing.T) {
		e := start(t, Config{})
		e.SetLifetime(90*time.Second, 90*time.Second)
		if got := draw(t, e, 3); !equal(got, []int64{90, 90, 90}) {
			t.Errorf("lifetimes %v", got)
		}
		e.SetLifetime(0, 0)
		for _, l := range draw(t, e, 5) {
			if l < 3600 || l > 5400 {
				t.Errorf("default lifetime %d", l)
			}
		}
	})
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFakeClockAndShift(t *testing.T) {
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	e := start(t, Config{Clock: clk, MinLifetime: time.Hour, MaxLifetime: time.Hour})
	iatExp := func() (int64, int64) {
		c := claims(t, post(t, e, v2Token, clientCredentialsForm(DatabricksResource+"/.default")).str("access_token"))
		return unix(t, c, "iat"), unix(t, c, "exp")
	}
	steps := []struct {
		name string
		move func()
		want time.Time
	}{
		{"start", func() {}, t0},
		{"shift 2h", func() { e.ShiftClock(2 * time.Hour) }, t0.Add(2 * time.Hour)},
		{"fake clock advances", func() { clk.Advance(30 * time.Minute) }, t0.Add(150 * time.Minute)},
		{"shift back", func() { e.ShiftClock(-3 * time.Hour) }, t0.Add(-30 * time.Minute)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.move()
			if !e.Now().Equal(s.want) {
				t.Fatalf("Now() = %v, want %v", e.Now(), s.want)
			}
			iat, exp := iatExp()
			if iat != s.want.Unix() || exp != s.want.Add(time.Hour).Unix() {
				t.Errorf("iat %d exp %d, want %d +3600", iat, exp, s.want.Unix())
			}
		})
	}
}

func TestFailNext(t *testing.T) {
	e := start(t, Config{})
	ok := func(t *testing.T) {
		t.Helper()
		if r := post(t, e, v2Token, clientCredentialsForm(DatabricksResource+"/.default")); r.status != http.StatusOK {
			t.Fatalf("after the faults: %d %v", r.status, r.body)
		}
	}
	tests := []struct {
		name       string
		n          int
		fault      Fault
		wantStatus int
		wantErr    string
		wantRetry  string
	}{
		{"503", 2, Fault{Status: 503}, 503, "temporarily_unavailable", ""},
		{"429 retry after", 1, Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}, 429, "temporarily_unavailable", "2"},
		{"500 custom error", 1, Fault{Status: 500, Error: "internal_failure"}, 500, "internal_failure", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.ResetCounts()
			e.FailNext(tt.n, tt.fault)
			for range tt.n {
				r := post(t, e, v2Token, clientCredentialsForm(DatabricksResource+"/.default"))
				if r.status != tt.wantStatus || r.str("error") != tt.wantErr || r.header.Get("Retry-After") != tt.wantRetry {
					t.Fatalf("%d %v Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
				}
			}
			ok(t)
			if c := e.Counts(); c["faulted"] != tt.n || c["client_credentials"] != 1 {
				t.Errorf("counts %v", c)
			}
		})
	}

	t.Run("MSAL sees the fault", func(t *testing.T) {
		cred, _ := confidential.NewCredFromSecret(ClientSecret)
		cca := confidentialClient(t, e, cred)
		e.FailNext(1, Fault{Status: 503})
		if _, err := cca.AcquireTokenByCredential(testContext(t), []string{databricksScope}); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("err = %v", err)
		}
		if _, err := cca.AcquireTokenByCredential(testContext(t), []string{databricksScope}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("faults queue, devicecode and v1 count", func(t *testing.T) {
		e.FailNext(1, Fault{Status: 503})
		e.FailNext(1, Fault{Status: 429})
		if r := post(t, e, "/common/oauth2/v2.0/devicecode", url.Values{"client_id": {PublicClientID}, "scope": {"openid"}}); r.status != 503 {
			t.Fatalf("devicecode: %d", r.status)
		}
		if r := post(t, e, v1Token, url.Values{}); r.status != 429 {
			t.Fatalf("v1: %d", r.status)
		}
		ok(t)
		e.FailNext(5, Fault{Status: 503})
		e.FailNext(0, Fault{})
		ok(t)
	})

	t.Run("delay only", func(t *testing.T) {
		e.FailNext(1, Fault{Delay: 200 * time.Millisecond})
		start := time.Now()
		ok(t)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("answered after %v", d)
		}
	})

	t.Run("delay aborted by client", func(t *testing.T) {
		e.FailNext(1, Fault{Status: 503, Delay: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL()+v2Token, strings.NewReader(clientCredentialsForm(DatabricksResource+"/.default").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		start := time.Now()
		_, err := e.HTTPClient().Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Error("took too long")
		}
		// Under load the client may give up before its request arrives,
		// leaving the fault queued for the next one.
		e.FailNext(0, Fault{})
		ok(t)
	})
}

func TestConcurrentRequests(t *testing.T) {
	e := start(t, Config{})
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan string, n)
	e.FailNext(10, Fault{Status: 503})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var form url.Values
			if i%2 == 0 {
				form = clientCredentialsForm(DatabricksResource + "/.default")
			} else {
				form = url.Values{"grant_type": {"password"}, "client_id": {PublicClientID}, "username": {Username}, "password": {Password}, "scope": {"openid offline_access " + DatabricksResource + "/.default"}}
			}
			req, _ := http.NewRequest(http.MethodPost, e.URL()+v2Token, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := e.HTTPClient().Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
				errs <- resp.Status
			}
		}()
		if i%100 == 0 {
			go e.Counts()
			go e.Issued()
			go e.ShiftClock(0)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := e.Counts()
	if c["faulted"] != 10 || c["client_credentials"]+c["password"] != n-10 {
		t.Errorf("counts %v", c)
	}
}

// TestNoSecretsLogged runs every flow with a logger and greps the log for
// anything secret.
func TestNoSecretsLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	e := start(t, Config{Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := testContext(t)
	cred, _ := confidential.NewCredFromSecret(ClientSecret)
	if _, err := confidentialClient(t, e, cred).AcquireTokenByCredential(ctx, []string{databricksScope}); err != nil {
		t.Fatal(err)
	}
	pca, _ := publicClient(t, e, PublicClientID)
	login, err := ropc(pca, ctx, []string{databricksScope}, Username, Password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pca.AcquireTokenSilent(ctx, []string{databricksScope}, withAccount(login)); err != nil {
		t.Fatal(err)
	}
	dc, err := pca.AcquireTokenByDeviceCode(ctx, []string{databricksScope})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ApproveDeviceCode(dc.Result.UserCode, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.AuthenticationResult(ctx); err != nil {
		t.Fatal(err)
	}
	post(t, e, v2Token, url.Values{"grant_type": {"password"}, "client_id": {PublicClientID}, "username": {Username}, "password": {"wrong-" + Password}, "scope": {"openid"}})
	post(t, e, v2Token, url.Values{"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "client_secret": {"wrong-" + ClientSecret}, "scope": {"x/.default"}})

	issued := e.Issued()
	if len(issued) < 8 {
		t.Fatalf("only %d issued secrets", len(issued))
	}
	mu.Lock()
	log := buf.String()
	mu.Unlock()
	if !strings.Contains(log, `"grant":"password"`) {
		t.Fatalf("log has no grant lines:\n%s", log)
	}
	for _, s := range append(issued, ClientSecret, Password) {
		if strings.Contains(log, s) {
			t.Errorf("log contains a secret (%.12s…)", s)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
