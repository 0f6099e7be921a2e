// Package store keeps tokend's secrets (MSAL refresh-token caches, client
// secrets) under keys like "profile/NAME/msal-cache". Three backends:
//
//   - keyring (default): each secret is sealed with AES-256-GCM into its own
//     file under the state directory, written atomically and read back; the
//     256-bit key lives in the OS keychain (Secret Service, macOS Keychain,
//     Windows Credential Manager) through go-keyring. Only 44 bytes ever go
//     to the keychain, so its size caps (2560 bytes on Windows, about 4 KB
//     on macOS) never matter, and a keychain that claims to have stored
//     something it did not is caught by the read-back.
//   - file: the same sealed files, with the key in a 0600 file next to them
//     or derived from $TOKEND_STORE_PASSPHRASE. For headless machines and
//     containers; weaker than a keychain, and it says so.
//   - memory: nothing persisted.
//
// Keychain calls time out (3 s by default) instead of hanging; the store
// then reports ErrUnavailable and the daemon keeps serving what it has.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tokend/tokend/internal/idp"
)

// Errors callers branch on (always wrapped with detail).
var (
	// ErrNotFound: nothing is stored under the key.
	ErrNotFound = errors.New("secret not found")
	// ErrUnavailable: the store cannot keep or give secrets now (the
	// keychain is locked, missing or not answering; the disk is full or
	// read-only). It is idp.ErrStoreUnavailable, the daemon's word for it.
	ErrUnavailable = idp.ErrStoreUnavailable
	// ErrWrongKey: the secrets on disk were sealed with another key; it
	// wraps ErrUnavailable.
	ErrWrongKey = fmt.Errorf("%w: the key does not match", ErrUnavailable)
	// ErrCorrupt: a stored secret cannot be decrypted or is damaged.
	ErrCorrupt = errors.New("stored secret is corrupted")
)

// Memory keeps secrets in this process only.
type Memory struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{m: map[string][]byte{}} }

// Backend names the backend for status output.
func (s *Memory) Backend() string { return "memory" }

// Health is always nil: memory does not fail.
func (s *Memory) Health() error { return nil }

// Warning says what the user should know about this backend.
func (s *Memory) Warning() string {
	return "memory store: sign-ins are lost when the daemon stops"
}

// Close does nothing.
func (s *Memory) Close() error { return nil }

// Probe always succeeds: memory can keep anything until the daemon stops.
func (s *Memory) Probe(context.Context) error { return nil }

// Get returns a copy of the value at key.
func (s *Memory) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

// Set stores a copy of value at key.
func (s *Memory) Set(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), value...)
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}
