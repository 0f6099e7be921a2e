package entraemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzTokenRequest throws arbitrary bodies at the token and devicecode
// endpoints: the answer must always be a JSON 2xx/4xx, never a panic or
// a 5xx.
func FuzzTokenRequest(f *testing.F) {
	seeds := []string{
		"",
		"grant_type=client_credentials&client_id=" + ConfidentialClientID + "&client_secret=" + ClientSecret + "&scope=" + DatabricksResource + "%2F.default",
		"grant_type=client_credentials&client_id=" + ConfidentialClientID + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJQUzI1NiJ9.e30.AAAA&scope=x%2F.default",
		"grant_type=password&client_id=" + PublicClientID + "&username=" + Username + "&password=" + Password + "&scope=openid+offline_access+https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default&client_info=1",
		"grant_type=refresh_token&client_id=" + PublicClientID + "&refresh_token=1.ARxyz",
		"grant_type=authorization_code&client_id=" + PublicClientID + "&code=1.ACxyz&redirect_uri=http%3A%2F%2Flocalhost&code_verifier=abc",
		"grant_type=device_code&client_id=" + PublicClientID + "&device_code=DAQAB",
		"grant_type=password&client_id=" + PublicClientID + "&scope=a%2Fb+c%2Fd",
		"grant_type=%ZZ&&&==",
		"resource=https%3A%2F%2F&grant_type=client_credentials&client_id=" + ConfidentialClientID + "&client_secret=" + ClientSecret,
		"scope=%00%ff%2F&client_id=" + PublicClientID,
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	e, err := New(Config{Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	paths := []string{
		"/" + TenantID + "/oauth2/v2.0/token",
		"/common/oauth2/token",
		"/organizations/oauth2/v2.0/devicecode",
		"/" + TenantID + "/oauth2/v2.0/authorize",
	}
	h := e.Handler()
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if which&0x80 == 0 {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if which&0x40 != 0 {
			req.SetBasicAuth(ConfidentialClientID, body)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON %q", rec.Body)
		}
	})
}
