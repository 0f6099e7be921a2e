// Package store keeps tokend's secrets: refresh-token caches, client secrets
// and certificate keys, under keys like "profile/NAME/msal-cache". Backends:
// memory (nothing persisted, for tests and the emulator demo); the OS keychain
// and an encrypted file come with the persistence work.
package store

import (
	"context"
	"errors"
	"sync"
)

// ErrNotFound is returned (wrapped) by Get for a key that holds nothing.
var ErrNotFound = errors.New("secret not found")

// Memory keeps secrets in this process only.
type Memory struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{m: map[string][]byte{}} }

// Backend names the backend for status output.
func (s *Memory) Backend() string { return "memory" }

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
