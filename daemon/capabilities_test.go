package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
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
	cs := newCapabilities(clk, nil, nil)
	c, secret := cs.testMint("app", []string{"api://x/.default"}, time.Hour)
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
	if _, other := cs.testMint("app", nil, time.Hour); other == secret {
		t.Fatal("two capabilities alike")
	}
	short, shortSecret := cs.testMint("app", nil, time.Minute)
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
	_, _ = cs.testMint("app", nil, time.Minute)
	clk.Advance(2 * time.Hour)
	cs.testMint("app", nil, time.Hour)
	if len(cs.byID) != 1 {
		t.Fatalf("%d capabilities kept after the others expired", len(cs.byID))
	}
	c2, s2 := cs.testMint("user", nil, time.Hour)
	if got, err := cs.revoke(t.Context(), c2.id); got != c2 || err != nil || cs.check(s2) != nil {
		t.Fatalf("revoke = %v, %v", got, err)
	}
	if got, err := cs.revoke(t.Context(), c2.id); got != nil || err != nil {
		t.Fatalf("revoke again = %v, %v", got, err)
	}
	c3, s3 := cs.testMint("user", nil, time.Hour)
	cs.revokeProfile(t.Context(), "user")
	if cs.check(s3) != nil || c3 == nil {
		t.Fatal("revokeProfile")
	}
}

// testMint mints an env capability whose owner is unknown.
func (cs *capabilities) testMint(profile string, scopes []string, ttl time.Duration) (*capability, string) {
	c, secret, err := cs.mint(context.Background(), capSpec{profile: profile, scopes: scopes, uid: -1, ttl: ttl})
	if err != nil {
		panic(err)
	}
	return c, secret
}

// TestCapabilityBound: at most maxLive capabilities live at once; the next
// is refused with what to do, and room comes back as they expire.
func TestCapabilityBound(t *testing.T) {
	clk := clock.NewFake(t0)
	cs := newCapabilities(clk, nil, nil)
	for range maxLive {
		cs.testMint("app", nil, time.Hour)
	}
	_, _, err := cs.mint(context.Background(), capSpec{profile: "app", uid: -1, ttl: time.Hour})
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != 403 || !strings.Contains(ae.desc, "token capabilities revoke") {
		t.Fatalf("capability %d: %v", maxLive+1, err)
	}
	clk.Advance(time.Hour)
	cs.testMint("app", nil, time.Hour)
}
