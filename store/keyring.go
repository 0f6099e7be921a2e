package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// Keyring is the part of an OS keychain the keyring backend uses: one small
// secret per (service, user). go-keyring provides it; tests use fakes.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// ErrKeyringNotFound is what a Keyring returns for a missing entry.
var ErrKeyringNotFound = keyring.ErrNotFound

// OSKeyring is the system keychain through go-keyring.
type OSKeyring struct{}

func (OSKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (OSKeyring) Set(service, user, secret string) error   { return keyring.Set(service, user, secret) }
func (OSKeyring) Delete(service, user string) error        { return keyring.Delete(service, user) }

// KeyringService is the keychain service name of tokend's entries.
const KeyringService = "tokend"

// keyringKey keeps the sealing key in the keychain, one entry per secrets
// directory.
type keyringKey struct {
	kr      Keyring
	user    string
	timeout time.Duration
}

func (k *keyringKey) describe() string {
	return fmt.Sprintf("the keychain entry service=%s user=%s", KeyringService, k.user)
}

func (k *keyringKey) key(ctx context.Context, create bool) ([]byte, error) {
	v, err := k.call(ctx, "read", func() (string, error) { return k.kr.Get(KeyringService, k.user) })
	switch {
	case err == nil:
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%w: %s does not hold a 32-byte key", ErrWrongKey, k.describe())
		}
		return b, nil
	case !errors.Is(err, ErrKeyringNotFound):
		return nil, err
	case !create:
		return nil, fmt.Errorf("%w: %s is gone, so the sealed secrets cannot be opened; nothing was changed (restore the keychain, or move the secrets dir away and sign in again)", ErrWrongKey, k.describe())
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(b)
	if _, err := k.call(ctx, "write", func() (string, error) { return "", k.kr.Set(KeyringService, k.user, enc) }); err != nil {
		return nil, err
	}
	// Keychains have reported success for writes they did not keep.
	back, err := k.call(ctx, "read back", func() (string, error) { return k.kr.Get(KeyringService, k.user) })
	if err != nil && !errors.Is(err, ErrKeyringNotFound) {
		return nil, err
	}
	if back != enc {
		return nil, fmt.Errorf("%w: the keychain did not keep the key it accepted (%s)", ErrUnavailable, k.describe())
	}
	return b, nil
}

// call runs one keychain operation with a deadline: a locked or absent
// keychain must not hang the daemon.
func (k *keyringKey) call(ctx context.Context, what string, f func() (string, error)) (string, error) {
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1) // the goroutine may outlive a timeout
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	t := time.NewTimer(k.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil && !errors.Is(r.err, ErrKeyringNotFound) {
			return "", fmt.Errorf("%w: keychain %s failed: %v; %s", ErrUnavailable, what, r.err, keyringFix)
		}
		return r.v, r.err
	case <-t.C:
		return "", fmt.Errorf("%w: keychain %s did not answer within %v (locked?); %s", ErrUnavailable, what, k.timeout, keyringFix)
	case <-ctx.Done():
		return "", fmt.Errorf("%w: keychain %s: %w", ErrUnavailable, what, ctx.Err())
	}
}

const keyringFix = "start or unlock your keychain (log in to the desktop session; on Linux a Secret Service such as gnome-keyring must run on the session bus), or run tokend with --store file on a headless machine"
