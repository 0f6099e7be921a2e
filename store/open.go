package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Options tune the backends. Zero values are the production defaults.
type Options struct {
	Keyring        Keyring       // nil: OSKeyring
	KeyringTimeout time.Duration // 0: 3s
	Passphrase     string        // file backend; "": $TOKEND_STORE_PASSPHRASE, else a key file
}

// Backend is what every store offers the daemon.
type Backend interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	Backend() string
	Warning() string
	Health() error
	// Probe checks that a secret can be kept now (for the sealed stores:
	// seal a canary, read it back, delete it); Health reflects the outcome.
	Probe(ctx context.Context) error
	Close() error
}

var (
	_ Backend = (*Memory)(nil)
	_ Backend = (*Sealed)(nil)
)

// Open opens the named backend ("keyring", "file" or "memory"); the sealed
// backends keep their files in stateDir/secrets.
func Open(name, stateDir string, o Options) (Backend, error) {
	dir := filepath.Join(stateDir, "secrets")
	switch name {
	case "memory":
		return NewMemory(), nil
	case "keyring":
		return NewKeyring(dir, o)
	case "file":
		return NewFile(dir, o)
	}
	return nil, fmt.Errorf("unknown store %q: want keyring, file or memory", name)
}

// NewKeyring returns the keyring backend: sealed files in dir, key in the OS
// keychain. The keychain is first asked when a secret is first needed.
func NewKeyring(dir string, o Options) (*Sealed, error) {
	kr := o.Keyring
	if kr == nil {
		kr = OSKeyring{}
	}
	timeout := o.KeyringTimeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s, err := newSealed("keyring", abs, &keyringKey{kr: kr, user: "store-key:" + abs, timeout: timeout})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewFile returns the file backend: sealed files in dir, key from a
// passphrase or from dir/store.key.
func NewFile(dir string, o Options) (*Sealed, error) {
	pass := o.Passphrase
	if pass == "" {
		pass = os.Getenv(PassphraseEnv)
	}
	k := &fileKey{dir: dir, passphrase: pass}
	s, err := newSealed("file", dir, k)
	if err != nil {
		return nil, err
	}
	s.warning = "file store: secrets are encrypted on disk with " + k.describe() +
		", which guards less than an OS keychain; use it only where no keychain exists"
	return s, nil
}
