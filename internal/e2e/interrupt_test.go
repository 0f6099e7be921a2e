//go:build unix

package e2e

import (
	"bufio"
	"errors"
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
