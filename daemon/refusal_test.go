package daemon

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/idp"
)

// scopeCounter counts the identity-provider calls of each scope set.
type scopeCounter struct {
	Source
	mu    sync.Mutex
	calls map[string]int
}

func (c *scopeCounter) Token(ctx context.Context, scopes []string) (idp.Token, error) {
	c.mu.Lock()
	c.calls[scopeKey(scopes)]++
	c.mu.Unlock()
	return c.Source.Token(ctx, scopes)
}

func (c *scopeCounter) count(scopes ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[scopeKey(scopes)]
}

// TestRefusedScopeEndsThePairOnly: the identity provider refuses a scope
// for good (invalid_resource). The caller gets a 4xx with the provider's
// words and the fix; the pair is shown refused while the profile and its
// own scope stay ready; nothing retries it in 24 hours; a request after
// the refusal's retry time asks once more, and one right after does not.
func TestRefusedScopeEndsThePairOnly(t *testing.T) {
	app := &scopeCounter{calls: map[string]int{}}
	h := newHarness(t, harnessOpts{wrapSource: func(profile string, s Source) Source {
		if profile != "app" {
			return s
		}
		app.Source = s
		return app
	}})
	h.waitReady("app")
	const nope = "api://nope/.default"
	ask := func() response { return h.get("/v1/token?profile=app&scope=" + url.QueryEscape(nope)) }

	r := ask()
	if r.status != 400 || r.errCode(t) != wire.CodeInvalidRequest || !strings.Contains(string(r.body), "AADSTS500011") ||
		!strings.Contains(string(r.body), "api://nope") || !strings.Contains(string(r.body), "check --scope") {
		t.Fatalf("refused scope: %d %s", r.status, r.body)
	}
	if n := app.count(nope); n != 1 {
		t.Fatalf("%d identity-provider calls for the refused scope, want 1", n)
	}
	st := h.profileStatus("app")
	if st.State != wire.StateReady || len(st.Tokens) != 2 {
		t.Fatalf("profile after a refused scope: %+v", st)
	}
	if own, other := st.Tokens[0], st.Tokens[1]; own.State != wire.StateReady || other.State != wire.StateRefused ||
		other.Scopes[0] != nope || !strings.Contains(other.LastError, "AADSTS500011") {
		t.Fatalf("tokens: %+v", st.Tokens)
	}

	// A day of background refreshing leaves the refused pair alone; the
	// callers of the profile's own scope are served throughout.
	for range 24 * 12 {
		h.clk.Advance(5 * time.Minute)
		h.settle()
		h.get("/v1/token?profile=app").token(t)
	}
	if n := app.count(nope); n != 1 {
		t.Fatalf("%d identity-provider calls for the refused scope in 24 h, want 1", n)
	}
	// Later, a request asks once more; the next one right after does not.
	if r := ask(); r.status != 400 {
		t.Fatalf("asking again: %d %s", r.status, r.body)
	}
	if r := ask(); r.status != 400 || !strings.Contains(string(r.body), "tries once more") {
		t.Fatalf("asking right after: %d %s", r.status, r.body)
	}
	if n := app.count(nope); n != 2 {
		t.Fatalf("%d identity-provider calls after asking twice more, want 2", n)
	}
	if st := h.profileStatus("app"); st.State != wire.StateReady {
		t.Fatalf("profile state %s after refusals of another scope", st.State)
	}
}

// TestConsentMissingForAnotherScope: a sign-in without consent for one
// resource (AADSTS65001) refuses that scope set alone; the profile is not
// sent to login_required, its own scope keeps being served.
func TestConsentMissingForAnotherScope(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if r := h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password}); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	h.waitReady("user")
	const mail = "https://graph.microsoft.com/Mail.Read"
	if err := h.em.SetScopeConsent(entraemu.Username, entraemu.PublicClientID, mail, false); err != nil {
		t.Fatal(err)
	}
	r := h.get("/v1/token?profile=user&scope=" + url.QueryEscape(mail))
	if r.status != 400 || r.errCode(t) != wire.CodeInvalidRequest || !strings.Contains(string(r.body), "AADSTS65001") || !strings.Contains(string(r.body), "consent") {
		t.Fatalf("scope without consent: %d %s", r.status, r.body)
	}
	st := h.profileStatus("user")
	if st.State != wire.StateReady || len(st.Tokens) != 2 || st.Tokens[1].State != wire.StateRefused {
		t.Fatalf("profile after a refused consent: %+v", st)
	}
	h.get("/v1/token?profile=user").token(t)
}
