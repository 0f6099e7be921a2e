package config

import (
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

// TestWindowsDefaults: the pipe is named after the user's SID, state goes
// to %LOCALAPPDATA% and the config to %APPDATA%.
func TestWindowsDefaults(t *testing.T) {
	t.Setenv("TOKEND_SOCKET", "")
	t.Setenv("TOKEND_STATE_DIR", "")
	t.Setenv("TOKEND_CONFIG", "")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := DefaultSocket(), `\\.\pipe\tokend-`+u.Uid; got != want {
		t.Errorf("DefaultSocket = %q, want %q", got, want)
	}
	if got := (&Config{}).SocketPath(); got != DefaultSocket() {
		t.Errorf("SocketPath = %q", got)
	}
	state, err := StateDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(os.Getenv("LOCALAPPDATA"), "tokend", "state"); state != want {
		t.Errorf("StateDir = %q, want %q", state, want)
	}
	if got, want := Path(""), filepath.Join(os.Getenv("APPDATA"), "tokend", "config.toml"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}
