//go:build unix

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCtrlCExits130: Ctrl-C (SIGINT) ends a command that waits (token
// watch, an interactive sign-in) with exit code 130, as a shell reports a
// command the signal killed, and SIGTERM with 143; the sign-in says nothing
// changed.
func TestCtrlCExits130(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	for _, tc := range []struct {
		name   string
		args   []string
		ready  string // the line on stderr after which it waits
		sig    syscall.Signal
		code   int
		stderr string
	}{
		{"watch, Ctrl-C", []string{"watch"}, "token: watching every profile (Ctrl-C to stop)", syscall.SIGINT, 130, ""},
		{"watch, SIGTERM", []string{"watch", "user"}, "token: watching profile user (Ctrl-C to stop)", syscall.SIGTERM, 143, ""},
		{"device code, Ctrl-C", []string{"login", "user", "--device-code"}, "waiting for the code to be entered (Ctrl-C cancels)...", syscall.SIGINT, 130, "token: sign-in to user cancelled; nothing changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, "token"), tc.args...)
			cmd.Env = m.env
			errPipe, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			r := bufio.NewReader(errPipe)
			var seen strings.Builder
			for !strings.Contains(seen.String(), tc.ready) {
				line, err := r.ReadString('\n')
				seen.WriteString(line)
				if err != nil {
					t.Fatalf("token %v ended before it waited: %v\n%s", tc.args, err, seen.String())
				}
			}
			cmd.Process.Signal(tc.sig)
			rest, _ := readAll(r)
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("token %v after %v: %v, want exit %d\n%s%s", tc.args, tc.sig, err, tc.code, seen.String(), rest)
			}
			if !strings.Contains(rest, tc.stderr) || (tc.stderr == "" && rest != "") {
				t.Errorf("stderr after the signal: %q, want %q", rest, tc.stderr)
			}
		})
	}
}

func readAll(r *bufio.Reader) (string, error) {
	var b strings.Builder
	_, err := r.WriteTo(&b)
	return b.String(), err
}

// TestInstallTakesOver: `tokend install` stops a tokend that runs outside
// the service (token setup starts one in the background) before it starts
// the service, which would otherwise find the socket taken.
func TestInstallTakesOver(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	pid := m.daemon.Process.Pid
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "systemctl"), []byte("#!/bin/sh\necho \"systemctl $*\" >> \"$0.log\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "tokend"), "install")
	cmd.Env = append(append([]string{}, m.env...), "XDG_CONFIG_HOME="+t.TempDir(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("stopped tokend (pid %d), which ran outside the service", pid)) {
		t.Fatalf("tokend install: %v\n%s", err, out)
	}
	if err := m.daemon.Wait(); err != nil {
		t.Errorf("the daemon did not stop gracefully: %v", err)
	}
	m.daemon = nil
	if log, _ := os.ReadFile(filepath.Join(fake, "systemctl.log")); !strings.Contains(string(log), "systemctl --user enable --now tokend.service") {
		t.Errorf("the service was not started: %s", log)
	}
}
