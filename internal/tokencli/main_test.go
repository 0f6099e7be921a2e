package tokencli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

func TestExitCodes(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	gone := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		{"no command", nil, "", exitUsage, "name a command: "},
		{"unknown command", []string{"fly"}, "", exitUsage, `unknown command "fly"`},
		{"daemon not running", []string{"get", "x", "--socket", gone}, "", exitUnreachable, "tokend serve"},
		{"status daemon not running", []string{"status", "--socket", gone}, "", exitUnreachable, "not reachable"},
		{"bad output", []string{"get", "-o", "xml", "--socket", gone}, "", exitUsage, `unknown output "xml"`},
		{"two profiles", []string{"get", "a", "-p", "b", "--socket", gone}, "", exitUsage, "profile given twice"},
		{"scope and resource", []string{"get", "--scope", "a", "--resource", "b", "--socket", gone}, "", exitUsage, "not both"},
		{"password on command line", []string{"login", "p", "--username", "u", "--password", "x"}, "", exitUsage, "refusing a password"},
		{"password without user", []string{"login", "p", "--password-stdin"}, "pw\n", exitUsage, "needs --username"},
		{"empty stdin", []string{"login", "p", "--client-secret-stdin", "--socket", gone}, "", exitUsage, "no client secret on stdin"},
		{"unknown flag", []string{"get", "--bogus"}, "", exitUsage, "unknown flag: --bogus\nsee `token get --help`\n"},
		{"typo", []string{"stauts"}, "", exitUsage, `unknown command "stauts" (did you mean status?)`},
		{"ttl too long", []string{"env", "p", "--ttl", "9000h"}, "", exitUsage, "--ttl 9000h0m0s: a capability lives at most 8784h (366 days)"},
		{"ttl too short", []string{"exec", "p", "--ttl", "10ms", "--", "true"}, "", exitUsage, "--ttl 10ms: a capability lives at least 1s"},
		{"exec without --", []string{"exec", "p", "true"}, "", exitUsage, "give the command after --"},
		{"status of two", []string{"status", "a", "b"}, "", exitUsage, `unexpected argument "b"`},
		{"setup without a name", []string{"setup"}, "", exitUsage, "name the profile"},
		{"setup with a dotted name", []string{"setup", "a.b"}, "", exitUsage, `profile name "a.b"`},
		{"logout needs profile", []string{"logout"}, "", exitUsage, "name a profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

// TestExitCodesOfUntrustedAndSilentDaemons: a socket that is not the
// user's alone, and a daemon that accepts but does not answer, are exit 3
// with one line that says which; the command that would start a child
// starts none.
func TestExitCodesOfUntrustedAndSilentDaemons(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	openSock := filepath.Join(open, "s.sock")
	ln, err := net.Listen("unix", openSock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	silent := filepath.Join(t.TempDir(), "s.sock")
	sln, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer sln.Close()
	go func() { // accepts, reads, never answers
		for {
			c, err := sln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	mark := filepath.Join(t.TempDir(), "ran")
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"untrusted get", []string{"get", "x", "--socket", openSock}, "refusing to talk to tokend at " + openSock},
		{"untrusted exec", []string{"exec", "x", "--socket", openSock, "--", "touch", mark}, "is writable by others"},
		{"silent get", []string{"get", "x", "--socket", silent, "--timeout", "100ms"}, fmt.Sprintf("tokend (pid %d) is not answering", os.Getpid())},
		{"silent exec", []string{"exec", "x", "--socket", silent, "--timeout", "100ms", "--", "touch", mark}, "is not answering"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != exitUnreachable || !strings.Contains(stderr.String(), tc.stderr) || strings.Contains(stderr.String(), "tokend serve") {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUnreachable, tc.stderr)
			}
		})
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("token exec started its command")
	}
	for _, args := range [][]string{{"get", "--timeout", "-1s"}, {"watch", "--timeout", "1s"}} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
			t.Errorf("token %v: exit %d, want usage: %s", args, code, stderr.String())
		}
	}
}

func TestExitCodeOfDaemonErrors(t *testing.T) {
	for code, want := range map[string]int{
		wire.CodeLoginRequired:       exitLogin,
		wire.CodeUpstreamUnavailable: exitUpstream,
		wire.CodeUnknownProfile:      exitError,
		wire.CodeForbidden:           exitError,
	} {
		got, msg := exitCode(context.Background(), &client.Error{Code: code, Description: "do this"})
		if got != want || msg != "do this" {
			t.Errorf("%s: exit %d %q, want %d", code, got, msg, want)
		}
	}
}

func TestReadSecretTrimsOneNewline(t *testing.T) {
	for in, want := range map[string]string{"s\n": "s", "s\r\n": "s", "s": "s", " s \n": " s ", "s\n\n": "s\n"} {
		got, err := readSecret(strings.NewReader(in), "x")
		if err != nil || got != want {
			t.Errorf("readSecret(%q) = %q, %v", in, got, err)
		}
	}
}

func TestStatusTable(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var b bytes.Buffer
	err := writeStatusTable(&b, &wire.Status{
		Version: "v1", PID: 7, Listeners: wire.Listeners{Socket: "/s"},
		Store: wire.StoreStatus{Backend: "memory", Warning: "memory store"},
		Profiles: []wire.ProfileStatus{
			{Name: "dbx", Flow: "password", State: "ready", Account: "a@b", ExpiresOn: now.Add(time.Hour).Unix(), NextRefresh: now.Add(20 * time.Minute).Unix()},
			{Name: "sp", Flow: "client-secret", State: "login_required", LastError: "no secret", Fix: "token login sp --client-secret-stdin"},
		},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"warning: memory store", "dbx  ", "1h0m0s", "20m0s", "login_required", "sp: run `token login sp --client-secret-stdin`"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
