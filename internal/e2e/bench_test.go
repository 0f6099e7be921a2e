package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTokenGetProcess measures what a user feels: one whole `token get`
// process (start, ask the daemon over the socket, print, exit).
func BenchmarkTokenGetProcess(b *testing.B) {
	dir, err := os.MkdirTemp("", "tkdb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	env := append(os.Environ(),
		"TOKEND_SOCKET="+filepath.Join(dir, "s.sock"),
		"TOKEND_STATE_DIR="+filepath.Join(dir, "state"),
		"TOKEND_CONFIG="+filepath.Join(dir, "none.toml"),
		"TOKEND_HTTP=127.0.0.1:0")
	d := exec.Command(filepath.Join(binDir, "tokend"), "serve", "--emulator")
	d.Env = env
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { d.Process.Signal(os.Interrupt); d.Wait() }()
	if err := waitServing(filepath.Join(dir, "s.sock"), 20*time.Second); err != nil {
		b.Fatal(err)
	}
	token := filepath.Join(binDir, "token")
	for b.Loop() {
		cmd := exec.Command(token, "get", "demo")
		cmd.Env = env
		if out, err := cmd.Output(); err != nil || len(out) < 100 {
			b.Fatalf("token get: %v (%d bytes)", err, len(out))
		}
	}
}
