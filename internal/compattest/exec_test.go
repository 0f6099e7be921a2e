package compattest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// execChild runs the test binary in mode under `token exec app`, with extra
// environment, and returns its report.
func (d *tokend) execChild(t *testing.T, mode string, env ...string) childReport {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := d.tokenCmd(t.Context(), "exec", "app", "--", self)
	cmd.Env = append(append(cmd.Env, childEnvVar+"="+mode), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("token exec: %v\n%s", err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("child report %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	return rep
}

// checkResults: each token the child got is one the emulator issued for
// the resource asked, and the one tokend serves for it.
func (d *tokend) checkResults(t *testing.T, rep childReport, want []string) {
	t.Helper()
	if len(rep.Results) != len(want) {
		t.Fatalf("child got %d tokens, want %d", len(rep.Results), len(want))
	}
	for i, r := range rep.Results {
		if r.Resource != want[i] {
			t.Fatalf("result %d is for %q, want %q", i, r.Resource, want[i])
		}
		if aud := claims(t, r.Token)["aud"]; aud != r.Resource {
			t.Errorf("%s: token aud %v", r.Resource, aud)
		}
		if !d.issued(r.Token) {
			t.Errorf("%s: not a token the emulator issued", r.Resource)
		}
		served := d.token(t, r.Resource)
		if served.AccessToken != r.Token || served.ExpiresOn != r.ExpiresOn {
			t.Errorf("%s: child got a token expiring %d, tokend serves one expiring %d", r.Resource, r.ExpiresOn, served.ExpiresOn)
		}
	}
}

// checkRevoked: the capability a child was given no longer works.
func (d *tokend) checkRevoked(t *testing.T, capability string) {
	t.Helper()
	if !strings.HasPrefix(capability, "tkd1.") {
		t.Fatalf("child was given IDENTITY_HEADER %q", capability)
	}
	req, _ := http.NewRequest("GET", "http://"+d.tcp+"/msi/token?api-version=2019-08-01&resource="+mgmtResource, nil)
	req.Header.Set("X-IDENTITY-HEADER", capability)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("capability of an exited child: status %d, want 401", resp.StatusCode)
	}
}

// TestManagedIdentityClients: the Azure SDK's and MSAL's managed-identity
// clients, unchanged, get tokens for two resources from `token exec`'s
// environment; the capability dies with the child.
func TestManagedIdentityClients(t *testing.T) {
	d := startTokend(t, nil)
	for _, tc := range []struct {
		name, mode string
		env        []string
	}{
		{"azidentity ManagedIdentityCredential", "azidentity-mi", nil},
		{"azidentity DefaultAzureCredential, only IDENTITY_*", "azidentity-dac", nil},
		{"azidentity DefaultAzureCredential with AZURE_CLIENT_ID", "azidentity-dac", []string{"AZURE_CLIENT_ID=11111111-2222-3333-4444-555555555555"}},
		{"MSAL Go managedidentity", "msal-mi", nil},
		{"inherited MSI_ENDPOINT and IDENTITY_SERVER_THUMBPRINT are dropped", "msal-mi",
			[]string{"MSI_ENDPOINT=http://127.0.0.1:9/stale", "MSI_SECRET=x", "IDENTITY_SERVER_THUMBPRINT=ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := d.execChild(t, tc.mode, tc.env...)
			d.checkResults(t, rep, childResources)
			d.checkRevoked(t, rep.Capability)
		})
	}
}

// TestDatabricksMetadataClient: a client of the Databricks metadata service
// gets a token for the workspace from `token exec`'s environment.
func TestDatabricksMetadataClient(t *testing.T) {
	d := startTokend(t, nil)
	rep := d.execChild(t, "databricks")
	d.checkResults(t, rep, []string{databricksResource})
	d.checkRevoked(t, rep.Capability)
}

// TestExecProcess: token exec passes the child's exit status through,
// relays signals that did not come from the terminal, and revokes the
// capability however the child ends.
func TestExecProcess(t *testing.T) {
	d := startTokend(t, nil)
	for _, tc := range []struct {
		name   string
		script string
		signal syscall.Signal // sent to token once the child is ready; 0: none
		code   int
		got    string // what the child's trap recorded
	}{
		{"exit code", "exit 3", 0, 3, ""},
		{"SIGTERM relayed", "trap 'echo TERM >> got; exit 42' TERM", syscall.SIGTERM, 42, "TERM\n"},
		{"SIGINT relayed off a terminal", "trap 'echo INT >> got; exit 43' INT", syscall.SIGINT, 43, "INT\n"},
		{"SIGHUP relayed", "trap 'echo HUP >> got; exit 44' HUP", syscall.SIGHUP, 44, "HUP\n"},
		{"killed child: 128+signal", "kill -KILL $$", 0, 128 + 9, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script := `printf %s "$IDENTITY_HEADER" > cap; ` + tc.script + `; touch ready; while :; do sleep 0.05; done`
			cmd := d.tokenCmd(t.Context(), "exec", "app", "--", "sh", "-c", script)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.signal != 0 {
				waitFile(t, filepath.Join(dir, "ready"))
				if err := cmd.Process.Signal(tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("token exec did not exit")
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "got")); string(got) != tc.got {
				t.Errorf("child's trap recorded %q, want %q (one copy of the signal)", got, tc.got)
			}
			capability, err := os.ReadFile(filepath.Join(dir, "cap"))
			if err != nil {
				t.Fatal(err)
			}
			d.checkRevoked(t, string(capability))
		})
	}
}
