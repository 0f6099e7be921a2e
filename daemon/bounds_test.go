package daemon

import (
	"context"
	"errors"
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
