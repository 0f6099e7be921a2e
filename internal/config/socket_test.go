//go:build unix

package config

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// TestFindSocket: a client looks where the daemon listens, by the same
// rule: --socket and $TOKEND_SOCKET are explicit (nowhere else is tried),
// then the config file's daemon.socket, then the default path.
func TestFindSocket(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	t.Setenv("TOKEND_CONFIG", cfg)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	t.Setenv("TOKEND_SOCKET", "")
	for _, tc := range []struct {
		flag, env, file string
		want            string
		explicit        bool
	}{
		{want: filepath.Join(dir, "run", "tokend", "tokend.sock")},
		{file: "[profiles.a]\nflow = \"azure-cli\"\n", want: filepath.Join(dir, "run", "tokend", "tokend.sock")},
		{file: "[daemon]\nsocket = \"/srv/t.sock\"\n", want: "/srv/t.sock"},
		{file: "[daemon]\nsocket = \"/srv/t.sock\"\nbogus = 1\n", want: filepath.Join(dir, "run", "tokend", "tokend.sock")}, // as the daemon, which would not start
		{env: "/e.sock", file: "[daemon]\nsocket = \"/srv/t.sock\"\n", want: "/e.sock", explicit: true},
		{flag: "/f.sock", env: "/e.sock", want: "/f.sock", explicit: true},
	} {
		os.Remove(cfg)
		if tc.file != "" {
			os.WriteFile(cfg, []byte(tc.file), 0o600)
		}
		t.Setenv("TOKEND_SOCKET", tc.env)
		got, explicit := FindSocket(tc.flag)
		if got != tc.want || explicit != tc.explicit {
			t.Errorf("flag %q, env %q, file %q: %q (explicit %v), want %q (%v)", tc.flag, tc.env, tc.file, got, explicit, tc.want, tc.explicit)
		}
		// The daemon's own rule agrees, wherever the file lets it start.
		if c, err := Load(cfg, false); err == nil && tc.flag == "" && c.SocketPath() != got {
			t.Errorf("the daemon listens at %q, the client looks at %q", c.SocketPath(), got)
		}
	}
}

// TestSocketCandidates: the other places are every default the socket can
// have in another environment of the same user, the recorded one first,
// each once, never the first place again.
func TestSocketCandidates(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TOKEND_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	first := filepath.Join(dir, "run", "tokend", "tokend.sock")
	got := SocketCandidates(first)
	cache := filepath.Join(dir, "cache", "tokend", "tokend.sock")
	if slices.Contains(got, first) || !slices.Contains(got, cache) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("candidates %q", got)
	}
	if runtime.GOOS == "linux" && !slices.Contains(got, filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "tokend", "tokend.sock")) {
		t.Errorf("candidates %q lack the usual runtime dir", got)
	}
	// The daemon records where it listens; that comes first.
	rec := filepath.Join(dir, "elsewhere", "t.sock")
	if err := WriteSocketRecord(rec); err != nil {
		t.Fatal(err)
	}
	if got := SocketCandidates(first); got[0] != rec {
		t.Fatalf("candidates %q: the record is not first", got)
	}
	if p, err := ReadSocketRecord(); err != nil || p != rec {
		t.Fatalf("record %q, %v", p, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "state", "socket"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record file: %v %v", fi.Mode(), err)
	}
	// A record that is not a path is ignored.
	os.WriteFile(filepath.Join(dir, "state", "socket"), []byte("a\nb\n"), 0o600)
	if got := SocketCandidates(first); got[0] == "a\nb" || slices.Contains(got, "a") {
		t.Fatalf("candidates %q", got)
	}
}
