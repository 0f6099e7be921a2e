package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// countingSource issues a token per call, after release is closed (nil:
// at once), and counts its calls.
type countingSource struct {
	clk     clock.Clock
	release chan struct{}
	calls   atomic.Int64
}

func (c *countingSource) Token(ctx context.Context, scopes []string) (idp.Token, error) {
	c.calls.Add(1)
	if c.release != nil {
		select {
		case <-c.release:
		case <-ctx.Done():
			return idp.Token{}, ctx.Err()
		}
	}
	return idp.Token{AccessToken: "t", ExpiresOn: c.clk.Now().Add(time.Hour)}, nil
}

func (c *countingSource) Login(context.Context, idp.LoginRequest) (idp.Token, error) {
	return idp.Token{}, errors.New("no sign-in")
}

func (c *countingSource) Logout(context.Context) error { return nil }
func (c *countingSource) Unsaved() error               { return nil }
func (c *countingSource) Save(context.Context) error   { return nil }

// boundsServer is a Server with one profile "p" over src, on a fake clock.
func boundsServer(t *testing.T, src *countingSource, daemon string, mod func(*Config)) (*Server, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	src.clk = clk
	cfg, err := config.Parse("t.toml", []byte(daemon+"\n[profiles.p]\nflow = \"client-secret\"\nclient_id = \"c\"\ntenant = \"t\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := Config{
		Config:  cfg,
		Store:   store.NewMemory(),
		Clock:   clk,
		Sources: func(*config.Profile) (Source, error) { return src, nil },
	}
	if mod != nil {
		mod(&c)
	}
	srv, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, clk
}

// TestMaxWait: a request waits on a hanging identity provider for MaxWait
// (real time), then gets upstream_unavailable with Retry-After; the
// refresh goes on, and its token is served from memory once it comes.
func TestMaxWait(t *testing.T) {
	src := &countingSource{release: make(chan struct{})}
	srv, _ := boundsServer(t, src, "", func(c *Config) { c.MaxWait = 50 * time.Millisecond })
	p := srv.profile("p")
	_, err := srv.token(context.Background(), p, []string{"a/.default"})
	var ae *apiError
	if !errors.As(err, &ae) || ae.code != wire.CodeUpstreamUnavailable || ae.status != 503 || ae.retryAfter <= 0 {
		t.Fatalf("token = %v, want upstream_unavailable with Retry-After", err)
	}
	close(src.release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tok, err := srv.token(context.Background(), p, []string{"a/.default"})
		if err == nil && tok.AccessToken == "t" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background refresh never landed: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d identity-provider calls, want 1 (the caller that gave up did not start another)", n)
	}
}

// TestScopeSetBounds: a capability asks for at most MaxCapabilityScopeSets
// scope sets in its life and a profile keeps at most MaxScopeSets; beyond
// them requests get 403 before the identity provider is asked. The
// profile's own scopes are always served. Pairs nobody asked for in
// IdleAfter are dropped (not only paused), which makes room again.
func TestScopeSetBounds(t *testing.T) {
	src := &countingSource{}
	srv, clk := boundsServer(t, src, "[daemon]\nmax_scope_sets_per_profile = 5\nmax_scope_sets_per_capability = 3\n", func(c *Config) {
		c.MaxScopeSets, c.MaxCapabilityScopeSets = 5, 3 // as serve passes them from the config
	})
	p := srv.profile("p")
	ask := func(c *capability, path string) (int, string) {
		t.Helper()
		ctx := context.WithValue(context.Background(), callerKey{}, &caller{cap: c, uid: -1})
		req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
		if strings.HasPrefix(path, "/msi/") {
			req.Header.Set("X-IDENTITY-HEADER", "checked by the guard")
		}
		rec := httptest.NewRecorder()
		srv.routes.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	scope := func(i int) string { return fmt.Sprintf("/v1/token?scope=api://s%d/.default", i) }
	a, _ := srv.caps.testMint("p", nil, time.Hour)
	for _, i := range []int{1, 2, 3, 1, 2} {
		if code, body := ask(a, scope(i)); code != 200 {
			t.Fatalf("scope set %d: %d %s", i, code, body)
		}
	}
	for _, path := range []string{scope(4), "/msi/token?api-version=2019-08-01&resource=api://s4"} {
		code, body := ask(a, path)
		if code != 403 || !strings.Contains(body, "max_scope_sets_per_capability") {
			t.Fatalf("a 4th scope set through one capability (%s): %d %s", path, code, body)
		}
	}
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("%d identity-provider calls, want 3", n)
	}

	b, _ := srv.caps.testMint("p", nil, time.Hour)
	for _, i := range []int{4, 5} {
		if code, body := ask(b, scope(i)); code != 200 {
			t.Fatalf("scope set %d through another capability: %d %s", i, code, body)
		}
	}
	code, body := ask(b, scope(6))
	if code != 403 || !strings.Contains(body, "max_scope_sets_per_profile") {
		t.Fatalf("a 6th scope set of the profile: %d %s", code, body)
	}
	if n := src.calls.Load(); n != 5 {
		t.Fatalf("%d identity-provider calls, want 5", n)
	}
	if _, err := srv.token(context.Background(), p, normScopes(p.cfg.Scopes)); err != nil {
		t.Fatalf("the profile's own scopes while full: %v", err)
	}

	// A day later nobody asked for s1…s5: the refresher drops them, and
	// there is room again.
	clk.Advance(srv.cfg.IdleAfter + time.Minute)
	srv.due(clk.Now())
	p.mu.Lock()
	left := len(p.slots)
	p.mu.Unlock()
	if left != 1 {
		t.Fatalf("%d slots after the idle period, want 1 (the profile's own)", left)
	}
	c, _ := srv.caps.testMint("p", nil, time.Hour)
	for _, i := range []int{6, 7} {
		if code, body := ask(c, scope(i)); code != 200 {
			t.Fatalf("scope set %d after the idle ones were dropped: %d %s", i, code, body)
		}
	}
	// A request that finds the profile full drops idle pairs itself.
	clk.Advance(srv.cfg.IdleAfter + time.Minute)
	for _, i := range []int{8, 9, 10, 11} {
		d, _ := srv.caps.testMint("p", nil, time.Hour)
		if code, body := ask(d, scope(i)); code != 200 {
			t.Fatalf("scope set %d: %d %s", i, code, body)
		}
	}
}
