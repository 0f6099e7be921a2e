package entraemu

import (
	"strings"
	"testing"
)

// Claims vouches only for tokens this emulator signed.
func TestClaimsChecksTheSignature(t *testing.T) {
	a, b := NewTest(t, Config{}), NewTest(t, Config{})
	tok := post(t, a, v2Token, clientCredentialsForm(DatabricksResource+"/.default")).str("access_token")
	c, err := a.Claims(tok)
	if err != nil || c["aud"] != DatabricksResource {
		t.Fatalf("own token: %v, %v", c, err)
	}
	if _, err := b.Claims(tok); err == nil || !strings.Contains(err.Error(), "not signed by this emulator") {
		t.Fatalf("another emulator's token: %v", err)
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + b64([]byte(`{"aud":"`+DatabricksResource+`","roles":["admin"]}`)) + "." + parts[2]
	if _, err := a.Claims(forged); err == nil {
		t.Fatal("a token with a changed payload passed")
	}
	if _, err := a.Claims("not.a-jwt"); err == nil {
		t.Fatal("garbage passed")
	}
}
