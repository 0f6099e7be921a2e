package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/entra"
	"github.com/tokend/tokend/store"
)

var errDiskFull = fmt.Errorf("%w: write /state/secrets/.tmp-1: no space left on device; the file system is full", store.ErrUnavailable)

// TestUnsavedRotation: the store stops taking writes just before a refresh
// rotates the refresh token. The profile shows unsaved at once, tokens keep
// being served, the refresh token is not redeemed again while its newest
// successor is unsaved — except once, when the token held would otherwise
// become unservable — and once the store works again the newest sign-in is
// saved within one backoff period, so a new daemon can use it.
func TestUnsavedRotation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.em.SetLifetime(time.Hour, time.Hour)
	if r := h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password}); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	h.waitReady("user")
	ctx := context.Background()
	const key = "profile/user/msal-cache"
	before, err := h.store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}

	p := h.srv.profile("user")
	sl := p.slot(normScopes(p.cfg.Scopes))
	h.store.fill(errDiskFull)
	h.clk.Set(sl.nextAt())
	h.settle()
	st := h.profileStatus("user")
	if st.State != wire.StateUnsaved || !strings.Contains(st.LastError, "no space left") || st.Fix == "" {
		t.Fatalf("after a rotation the store did not take: state %q, error %q, fix %q", st.State, st.LastError, st.Fix)
	}
	rotated := h.em.Counts()["refresh_token"]
	held := h.get("/v1/token?profile=user").token(t)

	// Until the token held would become unservable: served, never redeemed.
	for {
		h.clk.Advance(10 * time.Second)
		h.settle()
		if n := h.em.Counts()["refresh_token"]; n != rotated {
			left := time.Unix(held.ExpiresOn, 0).Sub(h.clk.Now())
			if left > minServe+time.Minute {
				t.Fatalf("refresh token redeemed again while its successor was unsaved, with %v left on the token held", left)
			}
			if n != rotated+1 {
				t.Fatalf("%d redemptions at the urgent point, want 1", n-rotated)
			}
			break
		}
		tok := h.get("/v1/token?profile=user").token(t)
		if tok.AccessToken != held.AccessToken {
			t.Fatal("a new token appeared without a redemption")
		}
		if h.clk.Now().After(time.Unix(held.ExpiresOn, 0)) {
			t.Fatal("the token held expired and nothing was redeemed")
		}
	}
	if st := h.profileStatus("user"); st.State != wire.StateUnsaved {
		t.Fatalf("after the urgent redemption the state is %q, want still unsaved", st.State)
	}
	if got, _ := h.store.Get(ctx, key); string(got) != string(before) {
		t.Fatal("the store changed while it was full")
	}

	// Space is back: saved within one backoff period, without a redemption.
	h.store.fill(nil)
	freed, rotated := h.clk.Now(), h.em.Counts()["refresh_token"]
	for h.profileStatus("user").State != wire.StateReady {
		if h.clk.Now().Sub(freed) > backoffMax {
			t.Fatalf("not saved within %v of the store recovering: %+v", backoffMax, h.profileStatus("user"))
		}
		h.clk.Advance(5 * time.Second)
		h.settle()
	}
	if n := h.em.Counts()["refresh_token"]; n != rotated {
		t.Fatalf("saving redeemed the refresh token %d times", n-rotated)
	}
	after, err := h.store.Get(ctx, key)
	if err != nil || string(after) == string(before) {
		t.Fatalf("the newest sign-in is not in the store (err %v)", err)
	}
	t.Logf("saved %v after the store recovered", h.clk.Now().Sub(freed))

	// What a new daemon would read works.
	src, err := entra.New(p.cfg, entra.Options{Secrets: h.store, Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(ctx, p.cfg.Scopes); err != nil {
		t.Fatalf("the saved sign-in does not work: %v", err)
	}
}

// TestSignInNotKeptFails: a sign-in whose refresh token cannot be stored
// fails with the store's error, before the identity provider is asked, and
// leaves the previous sign-in serving.
func TestSignInNotKeptFails(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if r := h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password}); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	h.waitReady("user")
	h.store.fill(errDiskFull)
	grants := h.em.Counts()["password"]
	r := h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.SecondUsername, Password: entraemu.Password})
	if r.status != 503 || r.errCode(t) != wire.CodeStoreUnavailable || !strings.Contains(string(r.body), "no space left") {
		t.Fatalf("sign-in on a full store: %d %s", r.status, r.body)
	}
	if n := h.em.Counts()["password"] - grants; n != 0 {
		t.Fatalf("the identity provider was asked %d times for a sign-in that could not be kept", n)
	}
	if st := h.profileStatus("user"); st.Account != entraemu.Username || st.State != wire.StateReady {
		t.Fatalf("the previous sign-in changed: %+v", st)
	}
	h.get("/v1/token?profile=user").token(t)
	if st := h.srv.status().Store; st.Healthy || st.State != wire.StoreUnavailable {
		t.Fatalf("store status %+v while writes fail", st)
	}
}
