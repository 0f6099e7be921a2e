package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tokend/tokend/internal/fsfault"
)

// Every file-system failure is "the store is unavailable", with the path,
// the operating system's words and a fix — never something a caller could
// mistake for a network problem.
func TestDiskErrorsAreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		errno error
		fix   string
	}{
		{syscall.ENOSPC, "full"},
		{syscall.EDQUOT, "quota"},
		{syscall.EROFS, "read-only"},
		{syscall.EACCES, "chmod 700"},
		{syscall.EPERM, "chmod 700"},
		{syscall.ENOENT, "restart tokend"},
		{syscall.EIO, "check the disk"},
	} {
		err := diskError("write", "/state/secrets/x.sealed", &fs.PathError{Op: "write", Path: "/state/secrets/x.sealed", Err: tc.errno})
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, tc.errno) {
			t.Errorf("%v: %v is not ErrUnavailable wrapping the errno", tc.errno, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "/state/secrets/x.sealed") || !strings.Contains(msg, tc.errno.Error()) || !strings.Contains(msg, tc.fix) {
			t.Errorf("%v: message %q lacks the path, the OS error or the fix %q", tc.errno, msg, tc.fix)
		}
	}
}

// A crash between a temp file's creation and its rename leaves the temp
// file; the next start removes it, and only it.
func TestLeftoverTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFile(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(context.Background(), "profile/a/msal-cache", []byte("v")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, name := range []string{".tmp-123", ".tmp-"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("sealed old token"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, ".tmp-dir"), 0o700)
	os.Symlink("/etc/passwd", filepath.Join(dir, ".tmp-link"))
	os.WriteFile(filepath.Join(dir, "notes.tmp-1"), []byte("x"), 0o600)

	s, err = NewFile(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]bool{".tmp-123": false, ".tmp-": false, ".tmp-dir": true, ".tmp-link": true, "notes.tmp-1": true} {
		_, err := os.Lstat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s: present %v after start, want %v", name, got, want)
		}
	}
	if got, err := s.Get(context.Background(), "profile/a/msal-cache"); err != nil || string(got) != "v" {
		t.Fatalf("the stored secret did not survive the clean-up: %q, %v", got, err)
	}
}

// Health follows writes: a failed one makes the store unhealthy with the
// cause, the next one that works makes it healthy again. A vanished secrets
// directory is the store's problem, not "not signed in".
func TestHealthFollowsWrites(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "secrets")
	s, err := NewFile(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Probe(ctx); err != nil || s.Health() != nil {
		t.Fatalf("probe of a fresh store: %v, health %v", err, s.Health())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // .lock, .key-check, salt
		t.Errorf("the probe left files behind: %v", entries)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err = s.Set(ctx, "profile/a/client-secret", []byte("s"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("write into a vanished dir: %v", err)
	}
	if h := s.Health(); !errors.Is(h, ErrUnavailable) {
		t.Fatalf("health after a failed write: %v", h)
	}
	if _, err := s.Get(ctx, "profile/a/client-secret"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read from a vanished dir: %v, want ErrUnavailable (not ErrNotFound)", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "profile/a/client-secret", []byte("s")); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); h != nil {
		t.Fatalf("health after a write that worked: %v", h)
	}
}

// On a full file system a write fails with the fix and leaves the old
// secret exactly as it was; once there is room again, writes work and the
// store is healthy. A read-only file system alike. (Real tmpfs and bind
// mounts: root only; CI runs as root.)
func TestFullAndReadOnlyFileSystem(t *testing.T) {
	mnt := fsfault.Tmpfs(t, 64<<10)
	dir := filepath.Join(mnt, "secrets")
	s, err := NewFile(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	old := bytes.Repeat([]byte("old refresh token "), 100)
	if err := s.Set(ctx, "profile/u/msal-cache", old); err != nil {
		t.Fatal(err)
	}
	free := fsfault.Fill(t, mnt)
	err = s.Set(ctx, "profile/u/msal-cache", bytes.Repeat([]byte("new refresh token "), 200))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "free some space") {
		t.Fatalf("write on a full disk: %v", err)
	}
	if err := s.Probe(ctx); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("probe on a full disk: %v", err)
	}
	if !errors.Is(s.Health(), ErrUnavailable) {
		t.Fatal("a full disk reports healthy")
	}
	if got, err := s.Get(ctx, "profile/u/msal-cache"); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the old secret changed: %v", err)
	}
	if names := tempFiles(t, dir); len(names) > 0 {
		t.Fatalf("a failed write left %v", names)
	}
	free()
	if err := s.Set(ctx, "profile/u/msal-cache", []byte("new")); err != nil || s.Health() != nil {
		t.Fatalf("after freeing space: %v, health %v", err, s.Health())
	}

	restore := fsfault.ReadOnly(t, mnt)
	err = s.Set(ctx, "profile/u/msal-cache", []byte("newer"))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write on a read-only file system: %v", err)
	}
	if got, _ := s.Get(ctx, "profile/u/msal-cache"); string(got) != "new" {
		t.Fatalf("read on a read-only file system: %q", got)
	}
	s.Close()
	// A daemon starting on the read-only file system still reads what is there.
	ro, err := NewFile(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatalf("open a read-only store: %v", err)
	}
	if got, err := ro.Get(ctx, "profile/u/msal-cache"); err != nil || string(got) != "new" {
		t.Fatalf("read from a read-only store: %q, %v", got, err)
	}
	if err := ro.Probe(ctx); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("probe of a read-only store: %v", err)
	}
	ro.Close()
	restore()
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			names = append(names, e.Name())
		}
	}
	return names
}
