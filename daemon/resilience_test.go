package daemon

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
)

// idpRequests is how many requests reached the emulator's token endpoint,
// answered or faulted.
func idpRequests(em *entraemu.Emulator) int {
	n := 0
	for k, v := range em.Counts() {
		switch k {
		case "client_credentials", "refresh_token", "password", "faulted":
			n += v
		}
	}
	return n
}

// TestOutage: the identity provider fails every request for 30 minutes,
// starting the moment the refresh falls due (the worst moment). Every caller
// keeps getting a valid token, the retries are few, and refreshing resumes
// within one backoff period after recovery.
func TestOutage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.em.SetLifetime(75*time.Minute, 75*time.Minute) // 2×(30+2) min must fit in the life left at refresh
	h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password})
	h.waitReady("app")
	// Take fresh 75-minute tokens, then jump to their refresh time.
	h.clk.Advance(90 * time.Minute)
	h.settle()
	before := map[string]wire.Token{}
	for _, p := range []string{"app", "user"} {
		before[p] = h.get("/v1/token?profile=" + p).token(t)
	}
	h.clk.Set(h.srv.profile("app").slot(normScopes(h.srv.profile("app").cfg.Scopes)).nextAt())
	h.em.FailNext(1_000_000, entraemu.Fault{Status: 503})
	start, reqs := h.clk.Now(), idpRequests(h.em)
	for h.clk.Now().Before(start.Add(30 * time.Minute)) {
		h.clk.Advance(5 * time.Second)
		h.settle()
		for _, p := range []string{"app", "user"} {
			tok := h.get("/v1/token?profile=" + p).token(t)
			if left := time.Unix(tok.ExpiresOn, 0).Sub(h.clk.Now()); left < minServe {
				t.Fatalf("%s served with %v left during the outage", p, left)
			}
		}
	}
	retries := idpRequests(h.em) - reqs
	t.Logf("30 min outage: %d requests to the identity provider for 2 profiles", retries)
	// Full jitter makes the count random; about 11 per profile is usual
	// (caps 15 s, 30 s, … 10 min), 20 per profile would be a broken backoff.
	if retries > 2*20 {
		t.Errorf("%d retries in a 30-minute outage: backoff is not backing off", retries)
	}
	h.em.FailNext(0, entraemu.Fault{})
	recovered := h.clk.Now()
	for {
		h.clk.Advance(5 * time.Second)
		h.settle()
		a, u := h.get("/v1/token?profile=app").token(t), h.get("/v1/token?profile=user").token(t)
		if a.AccessToken != before["app"].AccessToken && u.AccessToken != before["user"].AccessToken {
			break
		}
		if h.clk.Now().Sub(recovered) > backoffMax+5*time.Second {
			t.Fatal("no refresh within one backoff period after recovery")
		}
	}
	t.Logf("refreshing resumed %v after recovery", h.clk.Now().Sub(recovered))
}

// TestRetryAfter: a 429 with Retry-After: 120 keeps every request, the
// refresher's and the callers', away from the identity provider for 120 s.
func TestRetryAfter(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitReady("app")
	app := h.srv.profile("app")
	due := app.slot(normScopes(app.cfg.Scopes)).nextAt()
	h.em.FailNext(1, entraemu.Fault{Status: 429, RetryAfter: 120 * time.Second})
	h.clk.Set(due)
	h.settle()
	if c := h.em.Counts(); c["faulted"] != 1 {
		t.Fatalf("the refresh did not meet the 429: %v", c)
	}
	base := idpRequests(h.em)
	limited := h.clk.Now()
	for h.clk.Now().Before(limited.Add(119 * time.Second)) {
		h.clk.Advance(time.Second)
		h.settle()
		h.get("/v1/token?profile=app").token(t) // still valid: served
		h.get("/v1/token?profile=app&scope=api://other/.default")
		if n := idpRequests(h.em); n > base+1 {
			// One request for the new scope's slot is allowed (it is
			// another slot, not yet throttled); none for the 429'd one.
			t.Fatalf("%d requests to the identity provider %v into a Retry-After of 120 s", n-base, h.clk.Now().Sub(limited))
		}
	}
	h.clk.Advance(backoffMax)
	h.settle()
	if c := h.em.Counts(); c["client_credentials"] < 2 {
		t.Fatalf("no refresh after Retry-After passed: %v", c)
	}
}

// TestClockJump: the wall clock jumps 3 hours (a laptop waking up): the next
// request waits on the identity provider once and gets a fresh token.
func TestClockJump(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	h.get("/v1/token?profile=app").token(t)
	waited := h.profileStatus("app").Counters.Waited
	h.em.ResetCounts()
	h.clk.Advance(3 * time.Hour)
	for range 3 {
		tok := h.get("/v1/token?profile=app").token(t)
		if left := time.Unix(tok.ExpiresOn, 0).Sub(h.clk.Now()); left < 59*time.Minute {
			t.Fatalf("served %v left after the jump", left)
		}
	}
	if got := h.profileStatus("app").Counters.Waited - waited; got != 1 {
		t.Errorf("%d requests waited on the identity provider after the jump, want 1", got)
	}
	if c := h.em.Counts(); c["client_credentials"] != 1 {
		t.Errorf("emulator saw %v", c)
	}
}

// TestOverdueRefreshNudged: a token past its refresh time but still good
// (the refresher slept through the deadline) is served at once, and the
// request wakes the refresher to replace it.
func TestOverdueRefreshNudged(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	first := h.get("/v1/token?profile=app").token(t)
	h.clk.Advance(time.Duration(first.ExpiresIn)*time.Second/2 + time.Second)
	if got := h.get("/v1/token?profile=app").token(t); got.AccessToken != first.AccessToken {
		t.Fatal("an overdue but valid token made the caller wait")
	}
	select {
	case <-h.srv.wake:
	default:
		t.Fatal("the refresher was not woken")
	}
}

// TestSoak runs 72 simulated hours with faults injected at random (5% of
// identity-provider requests fail, 1% are throttled with Retry-After) and
// one revocation. Throughout, no token is served with under 2 minutes left;
// the revoked profile alone needs a login; the counts are reported.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("72 simulated hours")
	}
	h := newHarness(t, harnessOpts{})
	login := func() {
		r := h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password})
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
	}
	login()
	h.waitReady("app")
	rng := rand.New(rand.NewPCG(72, 72))
	var served, halfLife, refused, faults, throttles int
	seen := idpRequests(h.em)
	revokeAt, reloginAt := t0.Add(36*time.Hour), t0.Add(37*time.Hour)
	revoked := false
	end := t0.Add(72 * time.Hour)
	for h.clk.Now().Before(end) {
		// Arm a fault for the next identity-provider request, decided
		// once per request.
		if n := idpRequests(h.em); n != seen {
			seen = n
			switch x := rng.Float64(); {
			case x < 0.05:
				h.em.FailNext(1, entraemu.Fault{Status: 503})
				faults++
			case x < 0.06:
				h.em.FailNext(1, entraemu.Fault{Status: 429, RetryAfter: time.Duration(30+rng.IntN(270)) * time.Second})
				throttles++
			default:
				h.em.FailNext(0, entraemu.Fault{})
			}
		}
		now := h.clk.Now()
		if !revoked && !now.Before(revokeAt) {
			h.em.RevokeUser(entraemu.Username)
			revoked = true
		}
		if revoked && !now.Before(reloginAt) && h.profileStatus("user").State == wire.StateLoginRequired {
			h.em.FailNext(0, entraemu.Fault{})
			login()
		}
		h.clk.Advance(10 * time.Second)
		h.settle()
		now = h.clk.Now()
		for _, p := range []string{"app", "user"} {
			r := h.get("/v1/token?profile=" + p)
			if r.status != 200 {
				refused++
				code := r.errCode(t)
				inRevocation := p == "user" && !now.Before(revokeAt) && now.Before(reloginAt.Add(time.Minute))
				if !(code == wire.CodeUpstreamUnavailable || code == wire.CodeLoginRequired && inRevocation) {
					t.Fatalf("%s at %v: %d %s", p, now.Sub(t0), r.status, r.body)
				}
				continue
			}
			tok := r.token(t)
			served++
			c := claims(t, tok.AccessToken)
			left, life := unixClaim(c, "exp").Sub(now), unixClaim(c, "exp").Sub(unixClaim(c, "iat"))
			if left < minServe {
				t.Fatalf("%s at %v: served with %v left", p, now.Sub(t0), left)
			}
			if left >= life/2 {
				halfLife++
			}
		}
	}
	app, user := h.profileStatus("app"), h.profileStatus("user")
	t.Logf("72h soak: %d served (%d with half their life left), %d refused; %d faults and %d throttles injected; emulator %v; app %+v; user %+v",
		served, halfLife, refused, faults, throttles, h.em.Counts(), app.Counters, user.Counters)
	if app.State != wire.StateReady || user.State != wire.StateReady {
		t.Errorf("end states: app %s, user %s", app.State, user.State)
	}
	if refused > served/100 {
		t.Errorf("%d of %d requests refused", refused, served+refused)
	}
}

// TestLoginRequiredNotifies: a revoked sign-in calls the notification hook
// once, with the command that fixes it; the other profile keeps refreshing.
func TestLoginRequiredNotifies(t *testing.T) {
	got := make(chan string, 10)
	h := newHarness(t, harnessOpts{onLoginRequired: func(p, fix string) { got <- p + ": " + fix }})
	h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password})
	h.waitReady("app")
	appBefore := h.profileStatus("app").Counters.Refreshes
	h.em.RevokeUser(entraemu.Username)
	for range 6 {
		h.clk.Advance(30 * time.Minute)
		h.settle()
	}
	select {
	case msg := <-got:
		if msg != "user: token login user --username USER --password-stdin" {
			t.Fatalf("notification %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	select {
	case msg := <-got:
		t.Fatalf("second notification %q", msg)
	case <-time.After(100 * time.Millisecond):
	}
	if h.profileStatus("user").State != wire.StateLoginRequired {
		t.Error("user not in login_required")
	}
	if h.profileStatus("app").Counters.Refreshes <= appBefore {
		t.Error("the other profile stopped refreshing")
	}
}
