package store

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needSecretService skips outside a Secret Service session on a developer
// machine, and fails in CI, where scripts/with-keyring.sh must provide one.
func needSecretService(t testing.TB) {
	t.Helper()
	if os.Getenv("TOKEND_SECRET_SERVICE") == "1" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI must run keychain tests with a Secret Service: run them through scripts/with-keyring.sh (make test does)")
	}
	t.Skip("no Secret Service session: run through scripts/with-keyring.sh")
}

// TestOSKeyring uses the real Secret Service (gnome-keyring over D-Bus):
// a 16 KB secret round-trips across store instances, and what the keychain
// holds (as secret-tool shows it) is a 32-byte key, never the secret.
func TestOSKeyring(t *testing.T) {
	needSecretService(t)
	dir := t.TempDir()
	s, err := NewKeyring(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("refresh-token-0123456789abcdef."), 16<<10/31)
	ctx := context.Background()
	if err := s.Set(ctx, "profile/dbx/msal-cache", blob); err != nil {
		t.Fatal(err)
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
	out, err := exec.Command("secret-tool", "search", "--all", "service", KeyringService).CombinedOutput()
	if err != nil {
		t.Fatalf("secret-tool: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "store-key:"+dir) {
		t.Fatalf("secret-tool does not list the store key of %s:\n%s", dir, out)
	}
	if strings.Contains(string(out), "refresh-token") {
		t.Fatal("the keychain holds the secret itself")
	}
	t.Cleanup(func() { OSKeyring{}.Delete(KeyringService, "store-key:"+dir) })
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), 4096)
	backends := map[string]func() Backend{
		"memory": func() Backend { return NewMemory() },
		"file": func() Backend {
			s, err := NewFile(b.TempDir(), Options{Passphrase: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	if os.Getenv("TOKEND_SECRET_SERVICE") == "1" {
		backends["keyring"] = func() Backend {
			s, err := NewKeyring(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
	}
	for name, mk := range backends {
		s := mk()
		if err := s.Set(ctx, "profile/p/msal-cache", value); err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/Get", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Get(ctx, "profile/p/msal-cache"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Set", func(b *testing.B) {
			for b.Loop() {
				if err := s.Set(ctx, "profile/p/msal-cache", value); err != nil {
					b.Fatal(err)
				}
			}
		})
		s.Close()
	}
	if os.Getenv("TOKEND_SECRET_SERVICE") == "1" {
		// What one keychain round trip costs (paid once per daemon start).
		OSKeyring{}.Set(KeyringService, "bench", "v")
		b.Run("secret-service/Get", func(b *testing.B) {
			for b.Loop() {
				if _, err := (OSKeyring{}).Get(KeyringService, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
		OSKeyring{}.Delete(KeyringService, "bench")
	}
}
