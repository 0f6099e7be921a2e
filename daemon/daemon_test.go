package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// TestDayOfTokens runs 24 simulated hours of 60–90 minute tokens with a
// caller asking every 5 seconds: no request waits on the identity provider,
// every served token has at least half its life left, and the emulator sees
// exactly one request per token lifetime.
func TestDayOfTokens(t *testing.T) {
	for _, tc := range []struct{ profile, grant string }{
		{"app", "client_credentials"},
		{"user", "refresh_token"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			if tc.profile == "user" {
				r := h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password})
				if r.status != 200 {
					t.Fatalf("login: %d %s", r.status, r.body)
				}
			}
			h.waitReady(tc.profile)
			h.em.ResetCounts()
			before := h.profileStatus(tc.profile).Counters

			type seen struct{ iat, exp, firstServed time.Time }
			var chain []seen
			const step = 5 * time.Second
			end := t0.Add(24 * time.Hour)
			for h.clk.Now().Before(end) {
				h.clk.Advance(step)
				h.settle()
				now := h.clk.Now()
				tok := h.get("/v1/token?profile=" + tc.profile).token(t)
				c := claims(t, tok.AccessToken)
				iat, exp := unixClaim(c, "iat"), unixClaim(c, "exp")
				if left, life := exp.Sub(now), exp.Sub(iat); left < life/2 {
					t.Fatalf("at %v served a token with %v of %v left", now.Sub(t0), left, life)
				}
				if n := len(chain); n == 0 || !chain[n-1].iat.Equal(iat) {
					chain = append(chain, seen{iat, exp, now})
				}
			}
			// Each successor was fetched between 45% and 50% of its
			// predecessor's life (5% jitter), give or take one step.
			for i := 1; i < len(chain); i++ {
				prev := chain[i-1]
				frac := float64(chain[i].iat.Sub(prev.iat)) / float64(prev.exp.Sub(prev.iat))
				if frac < 0.45-0.002 || frac > 0.5+0.002 {
					t.Errorf("token %d replaced at %.3f of its predecessor's life", i, frac)
				}
			}
			ps := h.profileStatus(tc.profile)
			counts := h.em.Counts()
			t.Logf("24h: %d tokens, emulator %v, counters %+v", len(chain), counts, ps.Counters)
			if len(chain) < 24*60/45 || len(chain) > 24*60/27+1 {
				t.Errorf("%d tokens in 24h of 60–90 min lifetimes refreshed at half-life", len(chain))
			}
			// The first token in chain predates ResetCounts.
			if got := counts[tc.grant]; got != len(chain)-1 {
				t.Errorf("emulator saw %d %s requests for %d new tokens", got, tc.grant, len(chain)-1)
			}
			if ps.Counters.Waited != 0 {
				t.Errorf("%d requests waited on the identity provider", ps.Counters.Waited)
			}
			if n := ps.Counters.Failures - before.Failures; n != 0 {
				t.Errorf("%d refresh failures", n)
			}
		})
	}
}

// TestFanIn asks 1000 times at once for a token that has just expired:
// one request reaches the identity provider, everyone gets its answer.
func TestFanIn(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	first := h.get("/v1/token?profile=app").token(t)
	h.em.ResetCounts()
	h.clk.Advance(2 * time.Hour)

	const n = 1000
	var wg sync.WaitGroup
	toks := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", "http://tokend/v1/token?profile=app", nil)
			resp, err := h.unix.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var tok wire.Token
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
				return
			}
			if err := jsonDecode(resp.Body, &tok); err != nil {
				errs <- err
				return
			}
			toks[i] = tok.AccessToken
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := h.em.Counts()["client_credentials"]; got != 1 {
		t.Fatalf("emulator saw %d token requests, want 1", got)
	}
	for i, tok := range toks {
		if tok != toks[0] || tok == first.AccessToken {
			t.Fatalf("caller %d got a different or stale token", i)
		}
	}
}

// TestKeepsServingWhileProviderFails: refresh failures do not take away a
// token that is still good; once none is, callers get upstream_unavailable
// with Retry-After, and the refresher recovers by itself.
func TestKeepsServingWhileProviderFails(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitReady("app")
	good := h.get("/v1/token?profile=app").token(t)
	h.em.FailNext(1_000_000, entraemu.Fault{Status: 503, RetryAfter: 30 * time.Second})

	exp := time.Unix(good.ExpiresOn, 0)
	for h.clk.Now().Before(exp.Add(-3 * time.Minute)) {
		h.clk.Advance(time.Minute)
		h.settle()
		if got := h.get("/v1/token?profile=app").token(t); got.AccessToken != good.AccessToken {
			t.Fatal("token changed while the provider was down")
		}
	}
	if st := h.profileStatus("app"); st.State != wire.StateError || st.LastError == "" {
		t.Errorf("status while failing = %+v", st)
	}
	h.clk.Set(exp.Add(-time.Minute))
	h.settle()
	r := h.get("/v1/token?profile=app")
	if r.status != 503 || r.errCode(t) != wire.CodeUpstreamUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("near expiry with provider down: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	h.em.FailNext(0, entraemu.Fault{})
	h.clk.Advance(11 * time.Minute) // beyond the longest backoff
	h.settle()
	if got := h.get("/v1/token?profile=app").token(t); got.AccessToken == good.AccessToken {
		t.Fatal("no new token after the provider recovered")
	}
}

func TestLogin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitReady("app")
	// Not signed in yet: exit-code-4 material, with the command to run.
	r := h.get("/v1/token?profile=user")
	if r.status != 409 || r.errCode(t) != wire.CodeLoginRequired {
		t.Fatalf("before login: %d %s", r.status, r.body)
	}
	r = h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: "wrong"})
	if r.status != 409 || r.errCode(t) != wire.CodeLoginRequired {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	if !contains(string(r.body), "AADSTS50126") {
		t.Errorf("wrong-password error does not quote Entra: %s", r.body)
	}
	// The other profile is unaffected.
	h.get("/v1/token?profile=app").token(t)

	r = h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	tok := h.get("/v1/token?profile=user").token(t)
	if c := claims(t, tok.AccessToken); c["upn"] != entraemu.Username && c["preferred_username"] != entraemu.Username {
		t.Errorf("user token claims = %v", c)
	}

	// Revocation at the provider: login_required once the refresh fails.
	h.em.RevokeUser(entraemu.Username)
	h.clk.Advance(2 * time.Hour)
	h.settle()
	r = h.get("/v1/token?profile=user")
	if r.status != 409 || r.errCode(t) != wire.CodeLoginRequired {
		t.Fatalf("after revocation: %d %s", r.status, r.body)
	}
	h.get("/v1/token?profile=app").token(t)

	if r := h.post("/v1/logout", wire.LogoutRequest{Profile: "app"}); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := h.get("/v1/token?profile=app"); r.status != 409 {
		t.Fatalf("token after logout: %d %s", r.status, r.body)
	}
	if _, err := h.store.Get(t.Context(), "profile/app/client-secret"); err == nil {
		t.Fatal("logout left the client secret in the store")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestStoreUnavailable: a locked keychain shows in status with the fix and
// fails only what needs a secret; tokens already held keep being served.
func TestStoreUnavailable(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitReady("app")
	good := h.get("/v1/token?profile=app").token(t)
	h.store.lock(fmt.Errorf("%w: keychain read did not answer within 3s (locked?); unlock your keychain", store.ErrUnavailable))

	// The client secret cannot be read, so refreshing fails: the token held
	// is still served, and status says why.
	h.clk.Advance(50 * time.Minute)
	h.settle()
	if got := h.get("/v1/token?profile=app").token(t); got.AccessToken != good.AccessToken {
		t.Fatal("a new token without the secret?")
	}
	st := h.srv.status()
	if st.Store.Healthy || st.Store.State != wire.StoreUnavailable || !strings.Contains(st.Store.Error, "unlock your keychain") {
		t.Errorf("store status = %+v", st.Store)
	}
	// A login that must store a secret fails with store_unavailable.
	r := h.post("/v1/login", wire.LoginRequest{Profile: "app", ClientSecret: entraemu.ClientSecret})
	if r.status != 503 || r.errCode(t) != wire.CodeStoreUnavailable {
		t.Fatalf("login with a locked store: %d %s", r.status, r.body)
	}
	// Unlocked: the refresher recovers by itself.
	h.store.lock(nil)
	h.clk.Advance(11 * time.Minute)
	h.settle()
	if got := h.get("/v1/token?profile=app").token(t); got.AccessToken == good.AccessToken {
		t.Fatal("no new token after the store came back")
	}
	if !h.srv.status().Store.Healthy {
		t.Error("store still unhealthy")
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitReady("app")
	for range 3 {
		h.get("/v1/token?profile=app").token(t)
	}
	r := h.get("/v1/metrics")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", r.status, r.header)
	}
	body := string(r.body)
	for _, want := range []string{
		`tokend_tokens_served_total{profile="app"} 3`,
		`tokend_refreshes_total{profile="app"} 1`,
		`tokend_tokens_served_by_remaining_life_total{profile="app",remaining="ge60m"} 3`,
		`tokend_upstream_latency_seconds_count{profile="app"} 1`,
		`tokend_profile_state{profile="app",state="ready"} 1`,
		`tokend_profile_state{profile="user",state="login_required"} 1`,
		`tokend_store_healthy{backend="memory"} 1`,
		"# TYPE tokend_upstream_latency_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "eyJ") {
		t.Fatal("metrics carry a token")
	}
}

// TestErrorMapping: each kind of failure gets its documented code; permanent
// ones are 4xx, only retryable ones 5xx.
func TestErrorMapping(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	p := h.srv.profile("app")
	sl := p.slot(normScopes(p.cfg.Scopes))
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{idp.Setupf("az is not on tokend's PATH: install the Azure CLI"), 400, wire.CodeInvalidRequest},
		{&idp.Error{Code: "invalid_grant", LoginNeeded: true}, 409, wire.CodeLoginRequired},
		{&idp.Error{Status: 503, Temporary: true, RetryAfter: time.Minute}, 503, wire.CodeUpstreamUnavailable},
		{&idp.Error{Code: "invalid_scope", Status: 400}, 400, wire.CodeInvalidRequest},
		{fmt.Errorf("read: %w", store.ErrUnavailable), 503, wire.CodeStoreUnavailable},
		{errors.New("something unexpected"), 500, wire.CodeInternal},
	} {
		e := h.srv.apiErrorFor(p, tc.err, sl)
		if e.status != tc.status || e.code != tc.code {
			t.Errorf("%v → %d %s, want %d %s", tc.err, e.status, e.code, tc.status, tc.code)
		}
	}
}
