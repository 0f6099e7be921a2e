package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// keySource yields the 32-byte sealing key. create says whether a missing
// key may be made (only when nothing was sealed yet).
type keySource interface {
	key(ctx context.Context, create bool) ([]byte, error)
	describe() string
}

// Sealed keeps each secret AES-256-GCM sealed in its own file under dir.
type Sealed struct {
	backend string
	warning string
	dir     string
	src     keySource
	unlock  func() error

	mu     sync.Mutex
	aead   cipher.AEAD
	health error // the last key failure, nil when fine
}

const (
	magic     = "TKD1"
	checkName = ".key-check"
	checkText = "tokend sealed store key check v1"
)

func newSealed(backend, dir string, src keySource) (*Sealed, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secrets dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	return &Sealed{backend: backend, dir: dir, src: src, unlock: unlock}, nil
}

// Backend names the backend.
func (s *Sealed) Backend() string { return s.backend }

// Warning says what the user should know about this backend, or "".
func (s *Sealed) Warning() string { return s.warning }

// Dir is where the sealed files live.
func (s *Sealed) Dir() string { return s.dir }

// Health returns the last failure to obtain the key, nil when healthy.
func (s *Sealed) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Close releases the directory lock.
func (s *Sealed) Close() error { return s.unlock() }

// cipher returns the AEAD, obtaining and verifying the key on first use. A
// failure is not cached: the next call asks the keychain again.
func (s *Sealed) cipher(ctx context.Context) (cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aead != nil {
		return s.aead, nil
	}
	aead, err := s.openKey(ctx)
	s.health = err
	if err != nil {
		return nil, err
	}
	s.aead = aead
	return aead, nil
}

func (s *Sealed) openKey(ctx context.Context) (cipher.AEAD, error) {
	check, err := os.ReadFile(filepath.Join(s.dir, checkName))
	fresh := errors.Is(err, fs.ErrNotExist)
	if err != nil && !fresh {
		return nil, fmt.Errorf("read key check: %w", err)
	}
	k, err := s.src.key(ctx, fresh)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := s.write(aead, checkName, checkName, []byte(checkText)); err != nil {
			return nil, err
		}
		return aead, nil
	}
	if pt, err := open(aead, checkName, check); err != nil || string(pt) != checkText {
		return nil, fmt.Errorf("%w: the secrets in %s were sealed with another key than %s; nothing was changed (restore that key, or move %s away and sign in again)",
			ErrWrongKey, s.dir, s.src.describe(), s.dir)
	}
	return aead, nil
}

func newAEAD(k []byte) (cipher.AEAD, error) {
	if len(k) != 32 {
		return nil, fmt.Errorf("%w: key is %d bytes, want 32", ErrWrongKey, len(k))
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// fileName maps a key to its file: one path segment, escaped.
func fileName(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("bad secret key %q", key)
	}
	return url.PathEscape(key) + ".sealed", nil
}

// Get returns the secret at key.
func (s *Sealed) Get(ctx context.Context, key string) ([]byte, error) {
	name, err := fileName(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	aead, err := s.cipher(ctx)
	if err != nil {
		return nil, err
	}
	pt, err := open(aead, key, data)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", key, filepath.Join(s.dir, name), err)
	}
	return pt, nil
}

// Set seals value into key's file atomically, then reads it back.
func (s *Sealed) Set(ctx context.Context, key string, value []byte) error {
	name, err := fileName(key)
	if err != nil {
		return err
	}
	aead, err := s.cipher(ctx)
	if err != nil {
		return err
	}
	return s.write(aead, key, name, value)
}

// Delete removes key's file; a missing one is not an error.
func (s *Sealed) Delete(_ context.Context, key string) error {
	name, err := fileName(key)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return syncDir(s.dir)
}

// write replaces name with the sealed value: temp file, fsync, rename, fsync
// of the directory, then a read-back that must decrypt to value. A crash at
// any point leaves the old or the new file, never a torn one.
func (s *Sealed) write(aead cipher.AEAD, key, name string, value []byte) error {
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := append([]byte(magic), nonce...)
	sealed = aead.Seal(sealed, nonce, value, []byte(magic+key))

	f, err := os.CreateTemp(s.dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(sealed); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	path := filepath.Join(s.dir, name)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	back, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	if pt, err := open(aead, key, back); err != nil || !bytes.Equal(pt, value) {
		return fmt.Errorf("read back %s: the file does not hold what was written", key)
	}
	return nil
}

func open(aead cipher.AEAD, key string, data []byte) ([]byte, error) {
	n := len(magic) + aead.NonceSize()
	if len(data) < n+aead.Overhead() || string(data[:len(magic)]) != magic {
		return nil, ErrCorrupt
	}
	pt, err := aead.Open(nil, data[len(magic):n], data[n:], []byte(magic+key))
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}
