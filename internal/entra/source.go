// Package entra runs Microsoft Entra ID sign-in flows through MSAL Go, one
// Source per profile. A Source never answers from a cache: every Token call
// goes to the identity provider (redeeming a refresh token or a client
// credential). Caching and scheduling belong to the daemon.
package entra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// Secrets is what a Source needs from the secret store. Get wraps
// store.ErrNotFound for a missing key.
type Secrets interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	// Probe checks that a secret can be kept now.
	Probe(ctx context.Context) error
}

// Options are shared by every Source.
type Options struct {
	Secrets    Secrets
	Logger     *slog.Logger
	HTTPClient *http.Client // nil: built from the profile's ca_file
	Clock      clock.Clock  // the daemon's clock; nil: real time
}

// Source gets tokens for one profile.
type Source struct {
	profile *config.Profile
	opts    Options
	flow    provider
	mu      sync.Mutex // one MSAL call per profile at a time: one writer of refresh tokens
	cache   *msalCache // the MSAL cache of the user flows, made by New (see storedCache)
	corrupt error      // set when the stored cache could not be read; cleared by login
}

// provider is one way of getting tokens: every flow of the table
// (internal/flow) has one, built by builders.
type provider interface {
	// login runs the interactive or credential step and returns a first token
	// for the profile's scopes.
	login(ctx context.Context, req idp.LoginRequest) (idp.Token, error)
	// token redeems what login left behind (refresh token, credential) for a
	// new access token. It returns idp.ErrLoginRequired when nothing is there.
	token(ctx context.Context, scopes []string) (idp.Token, error)
	// forget drops in-memory state (after logout).
	forget()
}

var (
	_ provider = (*userFlow)(nil)
	_ provider = (*clientSecretFlow)(nil)
	_ provider = (*certificateFlow)(nil)
	_ provider = (*azureCLIFlow)(nil)
	_ provider = (*managedIdentityFlow)(nil)
	_ provider = (*workloadIdentityFlow)(nil)
	_ provider = (*discoveringFlow)(nil)
)

// builders make the provider of each flow; TestEveryFlowHasABuilder checks
// that the table has no flow without one. The user flows share one: any of
// their sign-in methods can sign in any user profile (userFlow.login).
var builders = map[flow.Name]func(*Source) (provider, error){
	flow.Browser:           newUserProvider,
	flow.DeviceCode:        newUserProvider,
	flow.Password:          newUserProvider,
	flow.RefreshToken:      newUserProvider,
	flow.ClientSecret:      func(s *Source) (provider, error) { return &clientSecretFlow{s: s}, nil },
	flow.ClientCertificate: func(s *Source) (provider, error) { return &certificateFlow{s: s}, nil },
	flow.AzureCLI:          func(s *Source) (provider, error) { return &azureCLIFlow{s: s}, nil },
	flow.ManagedIdentity:   func(s *Source) (provider, error) { return newManagedIdentityFlow(s) },
	flow.WorkloadIdentity:  func(s *Source) (provider, error) { return newWorkloadIdentityFlow(s) },
}

func newUserProvider(s *Source) (provider, error) { return newUserFlow(s) }

// New returns the Source of a profile.
func New(p *config.Profile, opts Options) (*Source, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.HTTPClient == nil {
		hc, err := httpClient(p.CAFile)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		opts.HTTPClient = hc
	}
	s := &Source{profile: p, opts: opts}
	if flow.Get(p.Flow).User {
		// Made here, not by the flow's builder: a profile that discovers
		// its tenant builds its flow on first use, while Login, Unsaved
		// and Save may already be reading s.cache.
		s.cache = s.storedCache()
	}
	build := builders[p.Flow]
	if build == nil {
		return nil, fmt.Errorf("profile %s: flow %q is not available in this build", p.Name, p.Flow)
	}
	if p.NeedsTenant() && p.DatabricksHost != "" && p.Flow != flow.AzureCLI && p.Flow != flow.ManagedIdentity {
		// The tenant comes from the workspace, on first use, into a copy
		// of the profile that this Source owns.
		own := *p
		s.profile = &own
		s.flow = &discoveringFlow{s: s, build: build}
		return s, nil
	}
	f, err := build(s)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	s.flow = f
	return s, nil
}

// Token gets a new access token for scopes from the identity provider.
//
// The calls of flows that keep a refresh token are serialized per profile,
// so that one redemption at a time rotates it and one write at a time
// stores it. The other flows present a credential and run in parallel, so
// one slow scope does not hold up the others.
func (s *Source) Token(ctx context.Context, scopes []string) (idp.Token, error) {
	if flow.Get(s.profile.Flow).User {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if s.cache != nil {
		if err := s.cache.ensure(ctx); err != nil {
			return idp.Token{}, err
		}
		if s.corrupt != nil {
			return idp.Token{}, s.corrupt
		}
	}
	t, err := s.flow.token(ctx, scopes)
	return s.rebase(t), classify(err)
}

// Login signs in and returns a token for the profile's scopes.
//
// An interactive sign-in (browser, device code) waits on a person for up to
// its timeout without holding the profile's lock: it runs on a scratch cache
// and takes the lock only to commit (userflow.go), so the profile's current
// sign-in keeps refreshing meanwhile.
//
// req.Method picks among the profile's sign-in methods (flow.Flow.Methods);
// empty, it is the profile's own flow.
func (s *Source) Login(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	if req.Method == "" {
		req.Method = s.profile.Flow
	}
	own := flow.Get(s.profile.Flow)
	if !own.Allows(req.Method) {
		return idp.Token{}, idp.Setupf("profile %s (flow %s) cannot sign in with %s: run `%s`", s.profile.Name, own.Name, req.Method, own.LoginCommand(s.profile.Name))
	}
	m := flow.Get(req.Method)
	// What a sign-in must keep is checked for before anyone is sent to a
	// browser or shown a code: nobody should do MFA for a sign-in that
	// cannot be kept.
	if m.Keeps {
		if err := s.opts.Secrets.Probe(ctx); err != nil {
			return idp.Token{}, fmt.Errorf("profile %s cannot be signed in, because its sign-in could not be saved: %w", s.profile.Name, err)
		}
	}
	if !m.Interactive {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if s.cache != nil {
		if err := s.cache.ensure(ctx); err != nil {
			return idp.Token{}, err
		}
	}
	t, err := s.flow.login(ctx, req)
	return s.rebase(t), classify(err)
}

// Unsaved says why the profile's newest refresh token is not in the store
// (a write failed during a refresh), nil when everything is saved.
func (s *Source) Unsaved() error {
	if s.cache == nil {
		return nil
	}
	return s.cache.unsavedErr()
}

// Save retries writing an unsaved refresh token to the store.
func (s *Source) Save(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache.save(ctx)
}

// Logout removes everything of this profile from the store and from memory.
func (s *Source) Logout(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flow.forget()
	if s.cache != nil {
		s.cache.reset()
	}
	s.corrupt = nil
	var errs []error
	for _, k := range []string{keyClientSecret, keyClientCertificate, keyMSALCache} {
		if err := s.opts.Secrets.Delete(ctx, s.key(k)); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rebase moves MSAL's expiry, computed on the system clock, onto the
// daemon's clock (what counts is the lifetime left when the token arrived),
// and fills in the tenant where MSAL has no account to take it from.
func (s *Source) rebase(t idp.Token) idp.Token {
	if !t.ExpiresOn.IsZero() {
		t.ExpiresOn = s.opts.Clock.Now().Add(time.Until(t.ExpiresOn)).Truncate(time.Second)
	}
	if t.TenantID == "" && t.AccessToken != "" {
		t.TenantID = s.profile.Tenant
		if t.TenantID == "" {
			t.TenantID = path.Base(s.profile.AuthorityURL())
		}
	}
	return t
}

const (
	keyClientSecret      = "client-secret"
	keyClientCertificate = "client-certificate" // PEM: certificate chain and PKCS#8 key
	keyMSALCache         = "msal-cache"
)

func (s *Source) key(k string) string { return "profile/" + s.profile.Name + "/" + k }

// secret reads a stored secret; a missing one means the user must log in.
func (s *Source) secret(ctx context.Context, k, how string) ([]byte, error) {
	v, err := s.opts.Secrets.Get(ctx, s.key(k))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no %s stored for profile %s (%s): %w", k, s.profile.Name, how, idp.ErrLoginRequired)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of profile %s: %w", k, s.profile.Name, err)
	}
	return v, nil
}

// storedCache returns a new MSAL cache for the profile, filled from the
// store on first use and persisted back to it when the refresh token
// changes. A stored cache that cannot be decrypted counts as "not signed
// in": the profile needs a new login, which overwrites it.
func (s *Source) storedCache() *msalCache {
	key := s.key(keyMSALCache)
	return &msalCache{
		load: func(ctx context.Context) ([]byte, error) {
			blob, err := s.opts.Secrets.Get(ctx, key)
			switch {
			case err == nil:
				return blob, nil
			case errors.Is(err, store.ErrNotFound):
				return nil, nil
			case errors.Is(err, store.ErrCorrupt):
				s.opts.Logger.Error("stored sign-in is unreadable; a new login will replace it", "profile", s.profile.Name, "err", err)
				s.corrupt = fmt.Errorf("the stored sign-in of profile %s is unreadable (%v): %w", s.profile.Name, err, idp.ErrLoginRequired)
				return nil, nil
			}
			return nil, fmt.Errorf("read sign-in of profile %s: %w", s.profile.Name, err)
		},
		persist: func(ctx context.Context, blob []byte) error {
			return s.opts.Secrets.Set(ctx, key, blob)
		},
		onError: func(err error) {
			s.opts.Logger.Error("could not save the new refresh token; tokend keeps it in memory and retries", "profile", s.profile.Name, "err", err)
		},
	}
}

// instanceDiscovery is on only for Microsoft's own authority hosts: for any
// other host (the emulator, a private cloud) MSAL would otherwise ask the
// public cloud whether the host is valid.
func (s *Source) instanceDiscovery() bool {
	u, err := url.Parse(s.profile.AuthorityURL())
	if err != nil {
		return false
	}
	for _, h := range config.AuthorityHosts {
		if strings.EqualFold(u.Hostname(), h) {
			return true
		}
	}
	return false
}

func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
