package entraemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestClientAssertions covers assertion shapes other libraries send (MSAL
// Go itself sends PS256 + x5t#S256 in padded standard base64).
func TestClientAssertions(t *testing.T) {
	e := start(t, Config{})
	certPEM, keyPEM := e.ClientCertificate()
	cert := parseCertPEM(certPEM)
	key := parseKeyPEM(keyPEM).(*rsa.PrivateKey)
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	base := e.URL() + "/" + TenantID
	now := time.Now().Unix()

	sign := func(alg string, header map[string]any, claims map[string]any) string {
		header["alg"], header["typ"] = alg, "JWT"
		h, _ := json.Marshal(header)
		c, _ := json.Marshal(claims)
		in := b64(h) + "." + b64(c)
		sum := sha256.Sum256([]byte(in))
		var sig []byte
		var err error
		if alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		}
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + b64(sig)
	}
	claimSet := func(aud any, exp int64) map[string]any {
		return map[string]any{"aud": aud, "iss": ConfidentialClientID, "sub": ConfidentialClientID, "exp": exp, "nbf": now - 10, "jti": "x"}
	}
	x5t := map[string]any{"x5t": b64(s1[:])}
	tests := []struct {
		name      string
		assertion string
		wantCode  int // 0 = success
	}{
		{"RS256 x5t, v2 token endpoint", sign("RS256", x5t, claimSet(base+"/oauth2/v2.0/token", now+600)), 0},
		{"PS256 x5t#S256 base64url, issuer aud", sign("PS256", map[string]any{"x5t#S256": b64(s256[:])}, claimSet(base+"/v2.0", now+600)), 0},
		{"v1 endpoint aud in an array", sign("RS256", x5t, claimSet([]string{"https://elsewhere/", "https://" + strings.TrimPrefix(e.URL(), "https://") + "/common/oauth2/token"}, now+600)), 0},
		{"foreign aud", sign("RS256", x5t, claimSet("https://login.microsoftonline.com/"+TenantID+"/oauth2/v2.0/token", now+600)), 700212},
		{"expired", sign("RS256", x5t, claimSet(base+"/oauth2/v2.0/token", now-3600)), 700024},
		{"unknown thumbprint", sign("RS256", map[string]any{"x5t": b64(make([]byte, 20))}, claimSet(base+"/oauth2/v2.0/token", now+600)), 700027},
		{"empty signature", strings.Split(sign("RS256", x5t, claimSet(base, now+600)), ".")[0] + "." + strings.Split(sign("RS256", x5t, claimSet(base, now+600)), ".")[1] + ".", 700027},
		{"tampered", sign("RS256", x5t, claimSet(base, now+600)) + "A", 700027},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, e, v2Token, url.Values{
				"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "scope": {databricksScope},
				"client_assertion_type": {clientAssertionType}, "client_assertion": {tt.assertion},
			})
			if tt.wantCode == 0 {
				if r.status != http.StatusOK || claims(t, r.str("access_token"))["appidacr"] != "2" {
					t.Fatalf("%d %v", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusUnauthorized || r.str("error") != "invalid_client" || r.errorCode() != tt.wantCode {
				t.Fatalf("%d %v", r.status, r.body)
			}
		})
	}
	t.Run("iss mismatch", func(t *testing.T) {
		c := claimSet(base+"/oauth2/v2.0/token", now+600)
		c["iss"] = PublicClientID
		r := post(t, e, v2Token, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "scope": {databricksScope},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {sign("RS256", x5t, c)},
		})
		if r.errorCode() != 700023 {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})
}
