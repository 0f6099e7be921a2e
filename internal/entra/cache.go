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
// daemon alone decides when a token is redeemed. Refresh tokens, accounts and
// app metadata are kept, and handed to persist whenever the refresh token set
// changes (never for a mere access-token write).
type msalCache struct {
	mu      sync.Mutex
	blob    []byte // MSAL's serialized cache minus the AccessToken section
	persist func(ctx context.Context, blob []byte) error
}

var _ cache.ExportReplace = (*msalCache)(nil)

// Replace hands MSAL the cache without access tokens.
func (c *msalCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	c.mu.Lock()
	blob := c.blob
	c.mu.Unlock()
	if len(blob) == 0 {
		blob = []byte("{}")
	}
	return u.Unmarshal(blob)
}

// Export keeps what MSAL wrote, minus access tokens, and persists it when
// anything but the access tokens changed.
func (c *msalCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("marshal msal cache: %w", err)
	}
	blob, err := withoutAccessTokens(data)
	if err != nil {
		return err
	}
	c.mu.Lock()
	changed := !bytes.Equal(blob, c.blob)
	c.blob = blob
	persist := c.persist
	c.mu.Unlock()
	if changed && persist != nil {
		return persist(ctx, blob)
	}
	return nil
}

// load sets the cache from persisted state.
func (c *msalCache) load(blob []byte) {
	c.mu.Lock()
	c.blob = blob
	c.mu.Unlock()
}

func withoutAccessTokens(data []byte) ([]byte, error) {
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(data, &sections); err != nil {
		return nil, fmt.Errorf("decode msal cache: %w", err)
	}
	delete(sections, "AccessToken")
	// encoding/json sorts map keys, so equal content gives equal bytes.
	out, err := json.Marshal(sections)
	if err != nil {
		return nil, fmt.Errorf("encode msal cache: %w", err)
	}
	return out, nil
}
