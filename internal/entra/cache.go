package entra

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// msalCache is the cache MSAL is given. It keeps everything MSAL writes except
// access tokens: MSAL therefore never answers from its own cache, and the
// daemon alone decides when a token is redeemed.
//
// With a store behind it (load and persist set), it is filled from the store
// on first use, and it persists the refresh token, account and app metadata
// (not access or id tokens) whenever the refresh token changes, never for a
// mere access-token write. A failed write during a refresh never fails the
// token MSAL just obtained (MSAL would drop it): the cache is then unsaved
// until save, or the next export, succeeds. A sign-in's cache goes through
// replace instead, which keeps nothing it could not persist.
type msalCache struct {
	load    func(ctx context.Context) ([]byte, error) // nil: memory only
	persist func(ctx context.Context, blob []byte) error
	onError func(error)

	mu      sync.Mutex
	loaded  bool
	blob    []byte // MSAL's cache minus access tokens
	saved   []byte // the RefreshToken section last persisted
	unsaved error  // why the newest refresh token is not persisted; nil when it is
}

var _ cache.ExportReplace = (*msalCache)(nil)

// ensure loads the cache from the store once. A load error is returned each
// time until a load succeeds.
func (c *msalCache) ensure(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded || c.load == nil {
		return nil
	}
	blob, err := c.load(ctx)
	if err != nil {
		return err
	}
	c.loaded, c.blob = true, blob
	c.saved = section(blob, "RefreshToken")
	return nil
}

// Replace hands MSAL the cache without access tokens.
func (c *msalCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	if err := c.ensure(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	blob := c.blob
	c.mu.Unlock()
	if len(blob) == 0 {
		blob = []byte("{}")
	}
	return u.Unmarshal(blob)
}

// Export keeps what MSAL wrote, minus access tokens, and persists it when the
// refresh token changed.
func (c *msalCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	blob, err := withoutAccessTokens(m)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blob, c.loaded = blob, true
	if c.persist == nil || (c.unsaved == nil && bytes.Equal(section(blob, "RefreshToken"), c.saved)) {
		return nil
	}
	if err := c.persistLocked(ctx, blob); err != nil && c.onError != nil {
		c.onError(err)
	}
	return nil
}

// persistLocked writes blob (minus id tokens) to the store and records the
// outcome in saved and unsaved.
func (c *msalCache) persistLocked(ctx context.Context, blob []byte) error {
	keep, err := without(blob, "IdToken")
	if err == nil {
		err = c.persist(ctx, keep)
	}
	if err != nil {
		c.unsaved = err
		return err
	}
	c.saved, c.unsaved = section(blob, "RefreshToken"), nil
	return nil
}

// unsavedErr says why the newest refresh token is not in the store yet, nil
// when it is.
func (c *msalCache) unsavedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unsaved
}

// save retries persisting an unsaved cache.
func (c *msalCache) save(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unsaved == nil || c.persist == nil {
		return nil
	}
	return c.persistLocked(ctx, c.blob)
}

// replace makes what m holds (a finished sign-in's cache) this cache, once
// it is persisted. If it cannot be, nothing changes, in memory or in the
// store, and the error says why.
func (c *msalCache) replace(ctx context.Context, m cache.Marshaler) error {
	blob, err := withoutAccessTokens(m)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.persist != nil {
		keep, err := without(blob, "IdToken")
		if err != nil {
			return err
		}
		if err := c.persist(ctx, keep); err != nil {
			return err
		}
	}
	c.blob, c.loaded = blob, true
	c.saved, c.unsaved = section(blob, "RefreshToken"), nil
	return nil
}

// reset forgets everything (after logout).
func (c *msalCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blob, c.saved, c.unsaved = nil, nil, nil
	c.loaded = true
}

// withoutAccessTokens is what m holds, minus its access tokens.
func withoutAccessTokens(m cache.Marshaler) ([]byte, error) {
	data, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal msal cache: %w", err)
	}
	return without(data, "AccessToken")
}

// without returns the cache JSON minus the named sections.
func without(data []byte, names ...string) ([]byte, error) {
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(data, &sections); err != nil {
		return nil, fmt.Errorf("decode msal cache: %w", err)
	}
	for _, n := range names {
		delete(sections, n)
	}
	// encoding/json sorts map keys, so equal content gives equal bytes.
	out, err := json.Marshal(sections)
	if err != nil {
		return nil, fmt.Errorf("encode msal cache: %w", err)
	}
	return out, nil
}

// section returns one section of the cache JSON in canonical form, or nil.
func section(data []byte, name string) []byte {
	var sections map[string]json.RawMessage
	if json.Unmarshal(data, &sections) != nil || len(sections[name]) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(sections[name], &v) != nil {
		return nil
	}
	out, _ := json.Marshal(v)
	if string(out) == "{}" || string(out) == "null" {
		return nil
	}
	return out
}
