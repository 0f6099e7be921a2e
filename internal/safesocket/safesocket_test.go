package safesocket

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
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
