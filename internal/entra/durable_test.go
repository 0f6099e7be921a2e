package entra

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// fullStore is a memory store whose writes fail while full is set.
type fullStore struct {
	*store.Memory
	full error
}

func (s *fullStore) Set(ctx context.Context, k string, v []byte) error {
	if s.full != nil {
		return s.full
	}
	return s.Memory.Set(ctx, k, v)
}

func (s *fullStore) Probe(context.Context) error { return s.full }

var errFull = fmt.Errorf("%w: write /s/secrets/.tmp-1: %w; the file system is full", store.ErrUnavailable, syscall.ENOSPC)

// cacheOver is a cache whose store keeps *stored, and is full while *fail.
func cacheOver(stored *[]byte, fail *bool) *msalCache {
	return &msalCache{
		load: func(context.Context) ([]byte, error) { return nil, nil },
		persist: func(_ context.Context, b []byte) error {
			if *fail {
				return errFull
			}
			*stored = b
			return nil
		},
	}
}

// A sign-in whose cache cannot be persisted changes nothing: the cache
// keeps the previous sign-in, in memory and in the store.
func TestCacheReplaceKeepsThePreviousSignIn(t *testing.T) {
	var stored []byte
	fail := false
	c := cacheOver(&stored, &fail)
	ctx := context.Background()
	if err := c.replace(ctx, cacheJSON("rt1", "at1", "id1")); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := c.replace(ctx, cacheJSON("rt2", "at2", "id2")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("replace on a full store = %v", err)
	}
	var s sink
	if err := c.Replace(ctx, &s, struct{ PartitionKey string }{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s.got), "rt1") || strings.Contains(string(s.got), "rt2") || !strings.Contains(string(stored), "rt1") {
		t.Fatalf("after a failed replace: memory %s, store %s", s.got, stored)
	}
	if c.unsavedErr() != nil {
		t.Fatal("a refused sign-in counts as unsaved")
	}
}

// A rotation the store does not take is kept in memory and reported as
// unsaved until a save succeeds; the save writes the newest refresh token.
func TestCacheUnsavedUntilSaved(t *testing.T) {
	var stored []byte
	fail := false
	c := cacheOver(&stored, &fail)
	ctx := context.Background()
	if err := c.Export(ctx, cacheJSON("rt1", "at1", "id1"), struct{ PartitionKey string }{}); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := c.Export(ctx, cacheJSON("rt2", "at2", "id2"), struct{ PartitionKey string }{}); err != nil {
		t.Fatalf("Export must not fail MSAL's token: %v", err)
	}
	if !errors.Is(c.unsavedErr(), syscall.ENOSPC) {
		t.Fatalf("unsaved = %v", c.unsavedErr())
	}
	if err := c.save(ctx); !errors.Is(err, store.ErrUnavailable) || c.unsavedErr() == nil {
		t.Fatalf("save on a full store = %v, unsaved %v", err, c.unsavedErr())
	}
	fail = false
	if err := c.save(ctx); err != nil || c.unsavedErr() != nil {
		t.Fatalf("save = %v, unsaved %v", err, c.unsavedErr())
	}
	if !strings.Contains(string(stored), "rt2") {
		t.Fatalf("stored %s, want the newest refresh token", stored)
	}
}

// Every flow that keeps something checks the store before it asks anyone
// anything: no browser, no device code, no request to the identity
// provider for a sign-in that could not be kept.
func TestSignInChecksTheStoreFirst(t *testing.T) {
	em := startEmulator(t)
	certPEM, keyPEM := em.ClientCertificate()
	for _, tc := range []struct {
		flow flow.Name
		req  idp.LoginRequest
	}{
		{"browser", idp.LoginRequest{}},
		{"device-code", idp.LoginRequest{}},
		{"password", idp.LoginRequest{Username: entraemu.Username, Password: entraemu.Password}},
		{"refresh-token", idp.LoginRequest{RefreshToken: "anything"}},
		{"client-secret", idp.LoginRequest{ClientSecret: entraemu.ClientSecret}},
		{"client-certificate", idp.LoginRequest{Certificate: append(certPEM, keyPEM...)}},
	} {
		t.Run(string(tc.flow), func(t *testing.T) {
			p := userProfile(em, tc.flow)
			if tc.flow == "client-secret" || tc.flow == "client-certificate" {
				p.ClientID = entraemu.ConfidentialClientID
			}
			src, err := New(p, Options{Secrets: &fullStore{Memory: store.NewMemory(), full: errFull}, HTTPClient: em.HTTPClient()})
			if err != nil {
				t.Fatal(err)
			}
			em.ResetCounts()
			shown := false
			tc.req.Interact = func(idp.Interaction) { shown = true }
			_, err = src.Login(testCtx(t, 10*time.Second), tc.req)
			if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "could not be saved") || !strings.Contains(err.Error(), "full") {
				t.Fatalf("sign-in with a full store = %v", err)
			}
			if n := len(em.Counts()); n != 0 || shown {
				t.Fatalf("the identity provider saw %v, person shown something: %v", em.Counts(), shown)
			}
		})
	}
}

// A password sign-in as another account on a store that has filled up
// since fails, and the first account keeps working.
func TestSignInFailureKeepsThePreviousAccount(t *testing.T) {
	em := startEmulator(t)
	st := &fullStore{Memory: store.NewMemory()}
	src, err := New(userProfile(em, "password"), Options{Secrets: st, HTTPClient: em.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 30*time.Second)
	if _, err := src.Login(ctx, idp.LoginRequest{Username: entraemu.Username, Password: entraemu.Password}); err != nil {
		t.Fatal(err)
	}
	before := storedCache(t, st.Memory)
	st.full = errFull
	if _, err := src.Login(ctx, idp.LoginRequest{Username: entraemu.SecondUsername, Password: entraemu.Password}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("second sign-in on a full store = %v", err)
	}
	if storedCache(t, st.Memory) != before {
		t.Fatal("the stored sign-in changed")
	}
	tok, err := src.Token(ctx, []string{config.DatabricksScope})
	if err != nil || tok.Account != entraemu.Username {
		t.Fatalf("Token after the refused sign-in = %+v, %v", tok, err)
	}
}

// A file system's errno implements net.Error; it must not be mistaken for
// a network failure (that made a full disk "identity provider: network
// error").
func TestClassifyDiskVersusNetwork(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EROFS, syscall.EACCES, syscall.EDQUOT} {
		err := classify(fmt.Errorf("store client secret: %w", &fs.PathError{Op: "write", Path: "/s/x", Err: errno}))
		var ie *idp.Error
		if errors.As(err, &ie) || !errors.Is(err, errno) {
			t.Errorf("%v classified as %#v", errno, err)
		}
	}
	for _, err := range []error{
		&url.Error{Op: "Post", URL: "https://login.test/t", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
		&net.DNSError{Err: "no such host", Name: "login.test", IsNotFound: true},
		context.DeadlineExceeded,
	} {
		if !idp.IsTemporary(classify(err)) {
			t.Errorf("%v is not a temporary network error", err)
		}
	}
}
