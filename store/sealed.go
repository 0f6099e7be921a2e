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
	"time"

	"github.com/tokend/tokend/internal/atomicfile"
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

	mu      sync.Mutex
	aead    cipher.AEAD
	keyErr  error // the last failure to obtain the key, nil when fine
	diskErr error // the last failed read or write of a sealed file, nil once one works
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
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("secrets dir: %w", err)
		}
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Sealed{backend: backend, dir: dir, src: src, unlock: unlock}
	s.removeLeftovers()
	return s, nil
}

// tmpPrefix starts the name of a sealed file being written (write); a crash
// between its creation and its rename leaves it behind.
const tmpPrefix = ".tmp-"

// removeLeftovers deletes what crashed writes left in the directory: regular
// files of tokend's own temp pattern that this user owns, and nothing else.
// They hold sealed copies of old secrets that nothing would ever read.
func (s *Sealed) removeLeftovers() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !ownedByMe(fi) {
			continue
		}
		os.Remove(filepath.Join(s.dir, e.Name()))
	}
}

// probeName and probeText make the canary that Probe writes.
const (
	probeName = ".probe"
	probeText = "tokend sealed store probe"
)

// Probe checks that the store can keep a secret now: it obtains the key,
// seals a canary into a file of its own, reads it back and deletes it.
// Health reflects the outcome.
func (s *Sealed) Probe(ctx context.Context) error {
	aead, err := s.cipher(ctx)
	if err != nil {
		return err
	}
	err = s.write(aead, probeName, probeName, []byte(probeText))
	if err == nil {
		err = s.remove(probeName)
	}
	return s.noteDisk(err)
}

// Backend names the backend.
func (s *Sealed) Backend() string { return s.backend }

// Warning says what the user should know about this backend, or "".
func (s *Sealed) Warning() string { return s.warning }

// Dir is where the sealed files live.
func (s *Sealed) Dir() string { return s.dir }

// Health returns why the store cannot keep secrets right now: the last
// failure to obtain the key, else the last failed read or write of a sealed
// file (cleared by the next one that works). Nil when healthy.
func (s *Sealed) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keyErr != nil {
		return s.keyErr
	}
	return s.diskErr
}

// noteDisk records the outcome of a read or write of a sealed file for
// Health: a store-level failure (ErrUnavailable) makes the store unhealthy,
// success makes it healthy again. Other errors (a missing or damaged
// secret) say nothing about the store.
func (s *Sealed) noteDisk(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		s.mu.Lock()
		s.diskErr = err
		s.mu.Unlock()
	}
	return err
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
	s.keyErr = err
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
		return nil, diskError("read", filepath.Join(s.dir, checkName), err)
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
		if _, derr := os.Stat(s.dir); derr != nil {
			return nil, s.noteDisk(diskError("read", s.dir, derr))
		}
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, s.noteDisk(diskError("read", filepath.Join(s.dir, name), err))
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
	return s.noteDisk(s.write(aead, key, name, value))
}

// Delete removes key's file; a missing one is not an error.
func (s *Sealed) Delete(_ context.Context, key string) error {
	name, err := fileName(key)
	if err != nil {
		return err
	}
	return s.noteDisk(s.remove(name))
}

// SetAside moves key's file out of the way, to NAME.damaged-TIME next to
// it, and returns its new path: a damaged file is kept for inspection and
// never overwritten by the next Set. The file keeps its sealed content (it
// no longer opens under any key name).
func (s *Sealed) SetAside(_ context.Context, key string) (string, error) {
	name, err := fileName(key)
	if err != nil {
		return "", err
	}
	from := filepath.Join(s.dir, name)
	to := from + ".damaged-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(from, to); err != nil {
		return "", diskError("set aside", from, err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return "", diskError("sync", s.dir, err)
	}
	return to, nil
}

// remove deletes a file of the directory durably; a missing one is fine.
func (s *Sealed) remove(name string) error {
	path := filepath.Join(s.dir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return diskError("delete", path, err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return diskError("sync", s.dir, err)
	}
	return nil
}

// write replaces name with the sealed value: temp file, fsync, rename, fsync
// of the directory, then a read-back that must decrypt to value. A crash at
// any point leaves the old or the new file, never a torn one (and maybe a
// temp file, which the next start removes). Every failure is ErrUnavailable
// naming the path; the old file is then untouched.
func (s *Sealed) write(aead cipher.AEAD, key, name string, value []byte) error {
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := append([]byte(magic), nonce...)
	sealed = aead.Seal(sealed, nonce, value, []byte(magic+key))

	path := filepath.Join(s.dir, name)
	f, err := os.CreateTemp(s.dir, tmpPrefix)
	if err != nil {
		return diskError("write", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(sealed); err != nil {
		f.Close()
		return diskError("write", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return diskError("sync", path, err)
	}
	if err := f.Close(); err != nil {
		return diskError("write", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return diskError("replace", path, err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return diskError("sync", s.dir, err)
	}
	back, err := os.ReadFile(path)
	if err != nil {
		return diskError("read back", path, err)
	}
	if pt, err := open(aead, key, back); err != nil || !bytes.Equal(pt, value) {
		return fmt.Errorf("%w: read back %s: the file does not hold what was written; check the disk", ErrUnavailable, path)
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
