//go:build unix

package safesocket

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListenPermissionsAndStale(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "tokend.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", p, got, want)
		}
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen = %v, want ErrInUse", err)
	}
	// A socket nobody serves any more is replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over stale socket: %v", err)
	}
	ln2.Close()
}

// TestListenDirChecks: a directory of ours that others can only read or
// enter is tightened; one that others can write to, or that someone else
// owns, is refused and left as it was; so is a path that is not a socket.
func TestListenDirChecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    os.FileMode
		chown   bool                            // give the dir to another uid (needs root)
		prepare func(t *testing.T, path string) // put something at the socket path
		want    error                           // nil: Listen works
		after   os.FileMode                     // dir mode afterwards
	}{
		{name: "0700", mode: 0o700, after: 0o700},
		{name: "readable by all", mode: 0o755, after: 0o700},
		{name: "enterable by group", mode: 0o710, after: 0o700},
		{name: "world-writable", mode: 0o777, want: ErrUnsafe, after: 0o777},
		{name: "group-writable", mode: 0o770, want: ErrUnsafe, after: 0o770},
		{name: "sticky world-writable", mode: 0o777 | os.ModeSticky, want: ErrUnsafe, after: 0o777},
		{name: "owned by another uid", mode: 0o700, chown: true, want: ErrUnsafe, after: 0o700},
		{name: "regular file at the path", mode: 0o700, want: ErrUnsafe, after: 0o700, prepare: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "symlink at the path", mode: 0o700, want: ErrUnsafe, after: 0o700, prepare: func(t *testing.T, path string) {
			if err := os.Symlink("/elsewhere/tokend.sock", path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.chown && os.Getuid() != 0 {
				if os.Getenv("CI") != "" {
					t.Fatal("CI runs as root: the ownership check must be tested")
				}
				t.Skip("chown to another uid needs root")
			}
			dir := filepath.Join(t.TempDir(), "run")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "tokend.sock")
			if tc.prepare != nil {
				tc.prepare(t, path)
			}
			if err := os.Chmod(dir, tc.mode); err != nil { // not subject to umask
				t.Fatal(err)
			}
			if tc.chown {
				if err := os.Chown(dir, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			ln, err := Listen(path)
			if ln != nil {
				ln.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Listen = %v, want %v", err, tc.want)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.after {
				t.Errorf("dir mode after Listen = %v, want %v", got, tc.after)
			}
			if tc.prepare != nil {
				if _, err := os.Lstat(path); err != nil {
					t.Errorf("Listen removed what was at the socket path: %v", err)
				}
			}
		})
	}
}

// TestDial: the client's side accepts the user's own daemon and refuses,
// before connecting, a socket whose directory or file is not the user's
// alone; nothing reaches a listener it refused.
func TestDial(t *testing.T) {
	for _, tc := range []struct {
		name    string
		root    bool                                 // needs chown to another uid
		prepare func(t *testing.T, dir, path string) // after the listener is up
		unsafe  bool                                 // want ErrUnsafe (else: the user's daemon)
	}{
		{name: "own daemon"},
		{name: "own dir readable by others", prepare: func(t *testing.T, dir, _ string) { chmod(t, dir, 0o755) }},
		{name: "dir writable by others", unsafe: true, prepare: func(t *testing.T, dir, _ string) { chmod(t, dir, 0o777) }},
		{name: "dir writable by group", unsafe: true, prepare: func(t *testing.T, dir, _ string) { chmod(t, dir, 0o770) }},
		{name: "dir of another uid", root: true, unsafe: true, prepare: func(t *testing.T, dir, _ string) { chown(t, dir) }},
		{name: "socket of another uid", root: true, unsafe: true, prepare: func(t *testing.T, _, path string) { chown(t, path) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Getuid() != 0 {
				if os.Getenv("CI") != "" {
					t.Fatal("CI runs as root: the ownership check must be tested")
				}
				t.Skip("chown to another uid needs root")
			}
			dir := filepath.Join(t.TempDir(), "run")
			path := filepath.Join(dir, "tokend.sock")
			ln, err := Listen(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				if c, err := ln.Accept(); err == nil {
					accepted <- c
				}
			}()
			if tc.prepare != nil {
				tc.prepare(t, dir, path)
			}
			c, cred, err := Dial(t.Context(), path)
			if tc.unsafe {
				if !errors.Is(err, ErrUnsafe) || c != nil {
					t.Fatalf("Dial = %v, %v; want ErrUnsafe", c, err)
				}
				if !strings.Contains(err.Error(), path[:len(dir)]) || !strings.Contains(err.Error(), "uid") {
					t.Errorf("the refusal names neither the path nor the owner: %v", err)
				}
				select {
				case <-accepted:
					t.Fatal("the refused socket got a connection")
				case <-time.After(50 * time.Millisecond):
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if cred.UID != os.Getuid() || cred.PID != os.Getpid() {
				t.Fatalf("cred = %+v", cred)
			}
		})
	}
	t.Run("no socket", func(t *testing.T) {
		_, _, err := Dial(t.Context(), filepath.Join(t.TempDir(), "none.sock"))
		if err == nil || errors.Is(err, ErrUnsafe) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Dial = %v, want not-exist", err)
		}
	})
	t.Run("no dir", func(t *testing.T) {
		_, _, err := Dial(t.Context(), filepath.Join(t.TempDir(), "none", "s.sock"))
		if err == nil || errors.Is(err, ErrUnsafe) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Dial = %v, want not-exist", err)
		}
	})
	for name, prepare := range map[string]func(path string) error{
		"regular file": func(path string) error { return os.WriteFile(path, nil, 0o600) },
		"symlink":      func(path string) error { return os.Symlink("/elsewhere.sock", path) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.sock")
			if err := prepare(path); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Dial(t.Context(), path); !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Dial = %v, want ErrUnsafe", err)
			}
		})
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string) {
	t.Helper()
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}
