package entra

import (
	"context"
	"fmt"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
)

// userFlow is what the sign-in flows of a person share (browser, device
// code, refresh-token import): the profile's MSAL public client over the
// profile's persisted cache, and Token redeeming the signed-in account's
// refresh token.
//
// A sign-in runs on a scratch MSAL client with a scratch cache. Only once it
// has succeeded does its cache replace the profile's, in one write through
// the profile cache's Export (which persists it). So a failed, cancelled or
// abandoned sign-in leaves the previous one working, and a sign-in as
// another account replaces the old account instead of sitting next to it.
type userFlow struct {
	s     *Source
	cache *msalCache
	app   public.Client
}

func newUserFlow(s *Source) (*userFlow, error) {
	app, err := s.publicClient(s.cache)
	if err != nil {
		return nil, err
	}
	return &userFlow{s: s, cache: s.cache, app: app}, nil
}

// publicClient is an MSAL public client of the profile over c.
func (s *Source) publicClient(c cache.ExportReplace) (public.Client, error) {
	p := s.profile
	app, err := public.New(p.ClientID,
		public.WithAuthority(p.AuthorityURL()),
		public.WithCache(c),
		public.WithHTTPClient(s.opts.HTTPClient),
		public.WithInstanceDiscovery(s.instanceDiscovery()),
	)
	if err != nil {
		return public.Client{}, fmt.Errorf("msal client: %w", err)
	}
	return app, nil
}

// login signs a person in with req.Method, the profile's own flow when it
// is empty. Every user method leaves the same thing behind (an account and
// its refresh token in the profile's cache), so any of them can sign in a
// profile of any user flow.
func (f *userFlow) login(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	switch req.Method {
	case flow.Browser:
		return f.loginBrowser(ctx, req)
	case flow.DeviceCode:
		return f.loginDeviceCode(ctx, req)
	case flow.Password:
		return f.loginPassword(ctx, req)
	case flow.RefreshToken:
		return f.loginRefreshToken(ctx, req)
	}
	return idp.Token{}, fmt.Errorf("profile %s cannot sign in with %s", f.s.profile.Name, req.Method)
}

func (f *userFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	return silent(ctx, f.app, f.s.profile.Name, scopes)
}

// forget has nothing to drop: Logout resets the profile's cache.
func (f *userFlow) forget() {}

// scratch returns a public client over a new in-memory cache holding seed
// (nothing if nil), for one sign-in.
func (f *userFlow) scratch(seed []byte) (public.Client, *memCache, error) {
	c := &memCache{blob: seed}
	app, err := f.s.publicClient(c)
	return app, c, err
}

// commit makes what a successful sign-in left in c the profile's cache once
// it is persisted (sealed, synced and read back), and clears a "stored
// sign-in unreadable" state. If the store cannot keep it, the sign-in fails
// and the previous one stays as it was, in memory and in the store. An
// interactive sign-in, which ran without the profile's lock, takes it here,
// so that no refresh of the old sign-in is in flight while it is replaced.
func (f *userFlow) commit(ctx context.Context, c *memCache, method flow.Name) error {
	if flow.Get(method).Interactive {
		f.s.mu.Lock()
		defer f.s.mu.Unlock()
	}
	if err := f.cache.replace(ctx, c); err != nil {
		return fmt.Errorf("save the sign-in of profile %s: %w", f.s.profile.Name, err)
	}
	f.s.corrupt = nil
	return nil
}

// memCache is an MSAL cache kept in memory only: the scratch cache of one
// sign-in. It is also a cache.Marshaler of its contents, which is how commit
// hands them to the profile's cache.
type memCache struct {
	mu   sync.Mutex
	blob []byte
}

var (
	_ cache.ExportReplace = (*memCache)(nil)
	_ cache.Marshaler     = (*memCache)(nil)
)

func (c *memCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	c.mu.Lock()
	blob := c.blob
	c.mu.Unlock()
	if len(blob) == 0 {
		return nil
	}
	return u.Unmarshal(blob)
}

func (c *memCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	blob, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("marshal msal cache: %w", err)
	}
	c.mu.Lock()
	c.blob = blob
	c.mu.Unlock()
	return nil
}

// Marshal returns the cache's contents.
func (c *memCache) Marshal() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.blob) == 0 {
		return []byte("{}"), nil
	}
	return append([]byte(nil), c.blob...), nil
}
