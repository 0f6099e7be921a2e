package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/tokend/tokend/internal/atomicfile"
)

// The socket rule, one for the daemon and its clients: $TOKEND_SOCKET, else
// daemon.socket of the config file, else DefaultSocket(). The daemon reads
// it through Config.SocketPath; clients through FindSocket, which adds
// their --socket flag in front and reads the config file only when it
// names a socket. Where a client finds no daemon at that path, it looks at
// SocketCandidates before it says the daemon is down: the two ends may not
// share the environment DefaultSocket depends on ($XDG_RUNTIME_DIR set in
// a terminal, not in the service manager, or the reverse).

// FindSocket is where a client looks for the daemon first: flag (a
// --socket flag), else the daemon's own rule (SocketPath) read from the
// same places. explicit says the user named the path (flag or
// $TOKEND_SOCKET): then only that path is tried.
func FindSocket(flag string) (path string, explicit bool) {
	if flag != "" {
		return flag, true
	}
	if s := os.Getenv("TOKEND_SOCKET"); s != "" {
		return s, true
	}
	// Most config files name no socket; parse only those that may.
	if p := Path(""); p != "" {
		if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, []byte("socket")) {
			if cfg, err := Parse(p, data); err == nil && cfg.Daemon.Socket != "" {
				return cfg.Daemon.Socket, false
			}
		}
	}
	return DefaultSocket(), false
}

// SocketCandidates are the places a client looks at, in order, when no
// daemon answers at first (the path FindSocket gave): the path the running
// daemon recorded (SocketRecord), then every place DefaultSocket can give
// in some environment of the same user: $XDG_RUNTIME_DIR, the usual
// runtime dir /run/user/<uid>, the user cache dir, the cache dir of the
// home directory in the user database, $TMPDIR/tokend-<uid>. first is not
// repeated. Each is only a place to look: the client holds whatever it
// finds there to the socket's rules (internal/safesocket.Dial) before it
// sends anything.
func SocketCandidates(first string) []string {
	var out []string
	add := func(p string) {
		if p != "" && p != first && !contains(out, p) {
			out = append(out, p)
		}
	}
	if p, err := ReadSocketRecord(); err == nil {
		add(p)
	}
	if pipe := defaultPipe(); pipe != "" {
		add(pipe)
		return out
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		add(filepath.Join(d, "tokend", "tokend.sock"))
	}
	if runtime.GOOS == "linux" {
		add(filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "tokend", "tokend.sock"))
	}
	if d, err := os.UserCacheDir(); err == nil {
		add(filepath.Join(d, "tokend", "tokend.sock"))
	}
	if u, err := user.Current(); err == nil && filepath.IsAbs(u.HomeDir) && u.HomeDir != "/" {
		cache := filepath.Join(u.HomeDir, ".cache")
		if runtime.GOOS == "darwin" {
			cache = filepath.Join(u.HomeDir, "Library", "Caches")
		}
		add(filepath.Join(cache, "tokend", "tokend.sock"))
	}
	add(filepath.Join(os.TempDir(), fmt.Sprintf("tokend-%d", os.Getuid()), "tokend.sock"))
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// socketRecordName is the file in the state directory where the running
// daemon records its socket.
const socketRecordName = "socket"

// SocketRecord is the file where the running daemon records the path of
// its socket (or pipe), for clients whose environment leads them
// elsewhere: <state dir>/socket.
func SocketRecord() (string, error) {
	d, err := StateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, socketRecordName), nil
}

// WriteSocketRecord records path as the running daemon's socket (0600, in
// the state directory, which it creates 0700), replacing the file
// atomically. The record outlives the daemon: a client that finds no
// daemon there goes on looking, and the next daemon replaces it.
func WriteSocketRecord(path string) error {
	rec, err := SocketRecord()
	if err != nil {
		return err
	}
	if old, err := readRecord(rec); err == nil && old == path {
		return nil // as it should be: nothing to write (nor a disk to fill)
	}
	if err := os.MkdirAll(filepath.Dir(rec), 0o700); err != nil {
		return fmt.Errorf("record the socket: %w", err)
	}
	if err := atomicfile.Write(rec, []byte(path+"\n"), 0o600, nil); err != nil {
		return fmt.Errorf("record the socket: %w", err)
	}
	return nil
}

// ReadSocketRecord returns the socket the running daemon recorded.
func ReadSocketRecord() (string, error) {
	rec, err := SocketRecord()
	if err != nil {
		return "", err
	}
	return readRecord(rec)
}

func readRecord(rec string) (string, error) {
	data, err := os.ReadFile(rec)
	if err != nil {
		return "", err
	}
	p := strings.TrimSpace(string(data))
	if p == "" || strings.ContainsAny(p, "\n\x00") || len(p) > 4096 {
		return "", fmt.Errorf("%s: not a socket path", rec)
	}
	return p, nil
}

// Exists reports whether the config file at path exists; a file that
// cannot be checked counts as existing (reading it will say why).
func Exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
