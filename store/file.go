package store

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// PassphraseEnv names the variable that, when set, gives the file store's
// passphrase instead of a key file.
const PassphraseEnv = "TOKEND_STORE_PASSPHRASE"

const pbkdf2Iterations = 600_000

// fileKey is the file backend's key: derived from a passphrase (PBKDF2-SHA256
// with a stored random salt), or read from a 0600 key file.
type fileKey struct {
	dir        string
	passphrase string
}

func (k *fileKey) describe() string {
	if k.passphrase != "" {
		return "the passphrase in $" + PassphraseEnv
	}
	return "the key file " + filepath.Join(k.dir, "store.key")
}

func (k *fileKey) key(_ context.Context, create bool) ([]byte, error) {
	if k.passphrase != "" {
		salt, err := k.readOrCreate("salt", create, 16)
		if err != nil {
			return nil, err
		}
		return pbkdf2.Key(sha256.New, k.passphrase, salt, pbkdf2Iterations, 32)
	}
	return k.readOrCreate("store.key", create, 32)
}

// readOrCreate reads a base64 file of n random bytes, creating it if allowed.
func (k *fileKey) readOrCreate(name string, create bool, n int) ([]byte, error) {
	path := filepath.Join(k.dir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(b) != n {
			return nil, fmt.Errorf("%w: %s is damaged", ErrWrongKey, path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, diskError("read", path, err)
	}
	if !create {
		return nil, fmt.Errorf("%w: %s is missing, so the sealed secrets cannot be opened; nothing was changed (restore it, or move %s away and sign in again)", ErrWrongKey, path, k.dir)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, diskError("create", path, err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(b) + "\n")
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		os.Remove(path) // a torn key file would read as "damaged" forever
		return nil, diskError("write", path, err)
	}
	return b, nil
}
