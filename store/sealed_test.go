package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKeyring is an in-memory keychain with the failure modes of real ones.
type fakeKeyring struct {
	mu      sync.Mutex
	m       map[string]string
	max     int           // refuse secrets longer than this (0: no cap)
	lieFrom int           // accept but drop secrets at least this long (0: never)
	hang    chan struct{} // block every call until closed
	err     error         // fail every call
	calls   int
}

func newFakeKeyring() *fakeKeyring { return &fakeKeyring{m: map[string]string{}} }

func (f *fakeKeyring) wait() error {
	f.mu.Lock()
	hang, err := f.hang, f.err
	f.calls++
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	return err
}

func (f *fakeKeyring) Get(service, user string) (string, error) {
	if err := f.wait(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[service+"\x00"+user]
	if !ok {
		return "", ErrKeyringNotFound
	}
	return v, nil
}

func (f *fakeKeyring) Set(service, user, secret string) error {
	if err := f.wait(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.max > 0 && len(secret) > f.max {
		return errors.New("secret too large")
	}
	if f.lieFrom > 0 && len(secret) >= f.lieFrom {
		return nil
	}
	f.m[service+"\x00"+user] = secret
	return nil
}

func (f *fakeKeyring) Delete(service, user string) error {
	if err := f.wait(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, service+"\x00"+user)
	return nil
}

func random(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// A 16 KB refresh-token cache fits every keychain, whatever its size cap,
// because only the 32-byte key goes there.
func TestKeyringBigBlobThroughCappedKeychains(t *testing.T) {
	for _, tc := range []struct {
		name string
		kr   *fakeKeyring
	}{
		{"windows cap 2560", &fakeKeyring{m: map[string]string{}, max: 2560}},
		{"macos cap 4096", &fakeKeyring{m: map[string]string{}, max: 4096}},
		{"lies at 4096", &fakeKeyring{m: map[string]string{}, lieFrom: 4096}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := NewKeyring(dir, Options{Keyring: tc.kr})
			if err != nil {
				t.Fatal(err)
			}
			blob := random(t, 16<<10)
			if err := s.Set(t.Context(), "profile/dbx/msal-cache", blob); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// A new process: key from the keychain, blob from disk.
			s2, err := NewKeyring(dir, Options{Keyring: tc.kr})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			got, err := s2.Get(t.Context(), "profile/dbx/msal-cache")
			if err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("round trip: %d bytes, %v", len(got), err)
			}
			for k, v := range tc.kr.m {
				if len(v) > 64 || !strings.HasPrefix(k, KeyringService+"\x00store-key:") {
					t.Errorf("keychain holds %q = %d bytes", k, len(v))
				}
			}
		})
	}
}

// A keychain that accepts the key and keeps nothing is caught by the
// read-back, and nothing is sealed with a key that would be lost.
func TestKeyringThatLiesIsCaught(t *testing.T) {
	kr := &fakeKeyring{m: map[string]string{}, lieFrom: 1}
	s, err := NewKeyring(t.TempDir(), Options{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Set(t.Context(), "profile/a/client-secret", []byte("x"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not keep") {
		t.Fatalf("Set = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "profile%2Fa%2Fclient-secret.sealed")); err == nil {
		t.Fatal("a secret was sealed with a key the keychain did not keep")
	}
}

// A keychain that hangs costs the timeout, not the daemon: the store says
// unavailable with the fix, reports unhealthy, and recovers by itself.
func TestKeyringHangsThenRecovers(t *testing.T) {
	kr := newFakeKeyring()
	kr.hang = make(chan struct{})
	// The timeout also bounds each call of the recovery below: short, but
	// not so short that a loaded machine misses it.
	s, err := NewKeyring(t.TempDir(), Options{Keyring: kr, KeyringTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	err = s.Set(t.Context(), "profile/a/client-secret", []byte("x"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "--store file") {
		t.Fatalf("Set on a hung keychain = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("hung for %v", d)
	}
	if s.Health() == nil {
		t.Fatal("Health is nil while the keychain hangs")
	}
	close(kr.hang)
	kr.mu.Lock()
	kr.hang = nil
	kr.mu.Unlock()
	if err := s.Set(t.Context(), "profile/a/client-secret", []byte("x")); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if err := s.Health(); err != nil {
		t.Fatalf("Health after recovery = %v", err)
	}
}

func TestKeyringErrorIsUnavailable(t *testing.T) {
	kr := newFakeKeyring()
	kr.err = errors.New("The name org.freedesktop.secrets was not provided by any .service files")
	s, _ := NewKeyring(t.TempDir(), Options{Keyring: kr})
	defer s.Close()
	if _, err := s.Get(t.Context(), "profile/a/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a key never stored = %v (no keychain needed to know)", err)
	}
	if err := s.Set(t.Context(), "profile/a/x", []byte("v")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set = %v", err)
	}
}

// The keychain entry vanished (new machine, keychain reset): the sealed
// files are left alone and the error says what to do.
func TestKeyringKeyGone(t *testing.T) {
	dir := t.TempDir()
	kr := newFakeKeyring()
	s, _ := NewKeyring(dir, Options{Keyring: kr})
	if err := s.Set(t.Context(), "profile/a/msal-cache", []byte("rt")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := snapshot(t, dir)
	kr.m = map[string]string{}
	s2, _ := NewKeyring(dir, Options{Keyring: kr})
	defer s2.Close()
	if _, err := s2.Get(t.Context(), "profile/a/msal-cache"); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Get = %v", err)
	}
	if err := s2.Set(t.Context(), "profile/a/msal-cache", []byte("new")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Set = %v", err)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatal("files changed after a key mismatch")
	}
	if len(kr.m) != 0 {
		t.Fatal("a new key was put in the keychain over existing secrets")
	}
}

func TestFileWrongPassphraseChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFile(dir, Options{Passphrase: "right"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(t.Context(), "profile/a/msal-cache", []byte("rt")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := snapshot(t, dir)
	s2, _ := NewFile(dir, Options{Passphrase: "wrong"})
	defer s2.Close()
	_, err = s2.Get(t.Context(), "profile/a/msal-cache")
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "$"+PassphraseEnv) {
		t.Fatalf("Get with the wrong passphrase = %v", err)
	}
	if err := s2.Set(t.Context(), "profile/a/msal-cache", []byte("x")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Set with the wrong passphrase = %v", err)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatal("files changed under the wrong passphrase")
	}
	s2.Close()
	s3, _ := NewFile(dir, Options{Passphrase: "right"})
	defer s3.Close()
	if got, err := s3.Get(t.Context(), "profile/a/msal-cache"); err != nil || string(got) != "rt" {
		t.Fatalf("right passphrase again: %q %v", got, err)
	}
}

func TestFileKeyFile(t *testing.T) {
	t.Setenv(PassphraseEnv, "")
	dir := t.TempDir()
	s, err := NewFile(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Warning(), "store.key") {
		t.Errorf("warning = %q", s.Warning())
	}
	if err := s.Set(t.Context(), "profile/a/client-secret", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for name, want := range map[string]os.FileMode{".": 0o700, "store.key": 0o600, "profile%2Fa%2Fclient-secret.sealed": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if bytes.Contains([]byte(snapshot(t, dir)), []byte("s3cret")) {
		t.Fatal("plaintext secret on disk")
	}
	// Losing the key file while secrets exist is an error, not a new key.
	os.Remove(filepath.Join(dir, "store.key"))
	s2, _ := NewFile(dir, Options{})
	defer s2.Close()
	if _, err := s2.Get(t.Context(), "profile/a/client-secret"); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Get without key file = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "store.key")); err == nil {
		t.Fatal("a new key file was made over existing secrets")
	}
}

func TestCorruptionIsDetected(t *testing.T) {
	dir := t.TempDir()
	s, _ := NewFile(dir, Options{Passphrase: "p"})
	defer s.Close()
	ctx := t.Context()
	s.Set(ctx, "profile/a/msal-cache", []byte("aaaa"))
	s.Set(ctx, "profile/b/msal-cache", []byte("bbbb"))
	pa := filepath.Join(dir, "profile%2Fa%2Fmsal-cache.sealed")
	data, _ := os.ReadFile(pa)
	data[len(data)-1] ^= 1
	os.WriteFile(pa, data, 0o600)
	if _, err := s.Get(ctx, "profile/a/msal-cache"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped bit: %v", err)
	}
	if got, err := s.Get(ctx, "profile/b/msal-cache"); err != nil || string(got) != "bbbb" {
		t.Fatalf("other profile: %q %v", got, err)
	}
	// A file copied under another name does not open: the name is bound in.
	pb := filepath.Join(dir, "profile%2Fb%2Fmsal-cache.sealed")
	b, _ := os.ReadFile(pb)
	os.WriteFile(pa, b, 0o600)
	if _, err := s.Get(ctx, "profile/a/msal-cache"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("swapped file: %v", err)
	}
	os.WriteFile(pa, []byte("short"), 0o600)
	if _, err := s.Get(ctx, "profile/a/msal-cache"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated file: %v", err)
	}
	// Set replaces the damaged file.
	if err := s.Set(ctx, "profile/a/msal-cache", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "profile/a/msal-cache"); string(got) != "new" {
		t.Fatalf("after Set: %q", got)
	}
}

func TestOneProcessPerDir(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFile(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFile(dir, Options{Passphrase: "p"}); err == nil || !strings.Contains(err.Error(), "another tokend") {
		t.Fatalf("second open = %v", err)
	}
	s.Close()
	s2, err := NewFile(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

func TestDeleteAndBadKeys(t *testing.T) {
	s, _ := NewFile(t.TempDir(), Options{Passphrase: "p"})
	defer s.Close()
	ctx := context.Background()
	s.Set(ctx, "profile/a/x", []byte("v"))
	if err := s.Delete(ctx, "profile/a/x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "profile/a/x"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Get(ctx, "profile/a/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete = %v", err)
	}
	for _, k := range []string{"", ".key-check", ".lock", "../../etc/x"} {
		if err := s.Set(ctx, k, []byte("v")); err == nil {
			t.Errorf("Set(%q) accepted", k)
		}
	}
	// Escaping keeps every key inside the directory.
	if err := s.Set(ctx, "a/../../etc/x", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "a%2F..%2F..%2Fetc%2Fx.sealed")); err != nil {
		t.Fatalf("escaped key file: %v", err)
	}
}

// snapshot is the content of every file in dir, for "nothing changed".
func snapshot(t testing.TB, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".lock" {
			data, _ := os.ReadFile(p)
			b.WriteString(p + "\x00" + string(data) + "\x00")
		}
		return nil
	})
	return b.String()
}
