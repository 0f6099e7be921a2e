package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/tokend/tokend/internal/wintest"
)

// TestLockDirWindows: a second store on the same directory is refused
// while the first holds it, and allowed once it lets go.
func TestLockDirWindows(t *testing.T) {
	dir := wintest.TempDir(t)
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u2, err := lockDir(dir); err == nil || !strings.Contains(err.Error(), "another tokend") {
		if u2 != nil {
			u2()
		}
		t.Fatalf("second lock = %v, want another tokend", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	u3, err := lockDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	u3()
}

// TestCredentialManager: the keyring store through go-keyring's wincred,
// the real Credential Manager: a 16 KB secret round-trips across store
// instances, and Credential Manager holds the 44-byte key, never the
// secret.
func TestCredentialManager(t *testing.T) {
	dir := filepath.Join(wintest.TempDir(t), "secrets")
	abs, _ := filepath.Abs(dir)
	user := "store-key:" + abs
	t.Cleanup(func() { keyring.Delete(KeyringService, user) })
	s, err := NewKeyring(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("refresh-token-0123456789abcdef."), 16<<10/31)
	ctx := context.Background()
	if err := s.Set(ctx, "profile/dbx/msal-cache", blob); err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeyring(dir, Options{}); err == nil {
		t.Fatal("a second keyring store opened the locked directory")
	}
	s.Close()
	s2, err := NewKeyring(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Get(ctx, "profile/dbx/msal-cache")
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}
	key, err := keyring.Get(KeyringService, user)
	if err != nil {
		t.Fatalf("Credential Manager has no entry %s/%s: %v", KeyringService, user, err)
	}
	if raw, err := base64.StdEncoding.DecodeString(key); len(key) != 44 || err != nil || len(raw) != 32 {
		t.Fatalf("Credential Manager holds %d bytes, want a 44-byte base64 key", len(key))
	}
	if s2.Backend() != "keyring" || s2.Health() != nil {
		t.Fatalf("backend %s, health %v", s2.Backend(), s2.Health())
	}
}
