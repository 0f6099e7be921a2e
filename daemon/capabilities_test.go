package daemon

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/clock"
)

// TestCapabilities: a capability is 256 random bits shown once, kept only
// as its SHA-256, valid for its profile until its TTL ends or it is
// revoked; expired ones are swept.
func TestCapabilities(t *testing.T) {
	clk := clock.NewFake(t0)
	cs := newCapabilities(clk)
	c, secret := cs.mint("app", []string{"api://x/.default"}, time.Hour)
	if !regexp.MustCompile(`^tkd1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("secret form %q", secret) // 43 base64url characters: 256 bits
	}
	raw := secret[strings.LastIndex(secret, ".")+1:]
	if c.hash != sha256.Sum256([]byte(raw)) {
		t.Fatal("not stored as the SHA-256 of the secret")
	}
	if dump := fmt.Sprintf("%+v %+v", c, cs.byID); strings.Contains(dump, raw) {
		t.Fatal("the secret is kept in memory")
	}
	if _, other := cs.mint("app", nil, time.Hour); other == secret {
		t.Fatal("two capabilities alike")
	}
	short, shortSecret := cs.mint("app", nil, time.Minute)
	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"valid", secret, true},
		{"wrong secret", "tkd1." + c.id + "." + strings.Repeat("A", 43), false},
		{"secret one character off", secret[:len(secret)-1] + string(secret[len(secret)-1]^1), false},
		{"unknown id", "tkd1.0000000000000000." + raw, false},
		{"other prefix", "tkd2." + c.id + "." + raw, false},
		{"no secret", "tkd1." + c.id, false},
		{"empty", "", false},
		{"secret with padding", secret + "=", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cs.check(tc.tok); (got != nil) != tc.ok || got != nil && got.profile != "app" {
				t.Fatalf("check = %+v, want ok=%v", got, tc.ok)
			}
		})
	}
	if !c.allows([]string{"api://x/.default"}) || c.allows([]string{"api://y/.default"}) {
		t.Fatal("scope restriction")
	}
	clk.Advance(time.Minute) // short expires exactly now
	if cs.check(shortSecret) != nil {
		t.Fatal("an expired capability works")
	}
	if _, ok := cs.byID[short.id]; ok {
		t.Fatal("an expired capability is kept")
	}
	_, _ = cs.mint("app", nil, time.Minute)
	clk.Advance(2 * time.Hour)
	cs.mint("app", nil, time.Hour)
	if len(cs.byID) != 1 {
		t.Fatalf("%d capabilities kept after the others expired", len(cs.byID))
	}
	c2, s2 := cs.mint("user", nil, time.Hour)
	if !cs.revoke(c2.id) || cs.check(s2) != nil || cs.revoke(c2.id) {
		t.Fatal("revoke")
	}
	c3, s3 := cs.mint("user", nil, time.Hour)
	cs.revokeProfile("user")
	if cs.check(s3) != nil || c3 == nil {
		t.Fatal("revokeProfile")
	}
}
