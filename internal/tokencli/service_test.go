package tokencli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tokend/tokend/client/wire"
)

// serviceDaemon is a fake daemon for the service-identity commands: it
// answers /v1/token, /v1/status and /v1/login and records what it was asked.
type serviceDaemon struct {
	profiles []wire.ProfileStatus
	mu       sync.Mutex
	tokens   []string // query of each /v1/token
	login    *wire.LoginRequest
}

func (d *serviceDaemon) start(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tkt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		switch r.URL.Path {
		case "/v1/token":
			d.tokens = append(d.tokens, r.URL.RawQuery)
			q := r.URL.Query()
			name := q.Get("profile")
			if name == "" {
				name = "sp" // the default profile
			}
			json.NewEncoder(w).Encode(wire.Token{AccessToken: "tok-of-" + q.Get("scope") + q.Get("resource"), TokenType: "Bearer", Profile: name})
		case "/v1/status":
			json.NewEncoder(w).Encode(wire.Status{Profiles: d.profiles})
		case "/v1/login":
			d.login = &wire.LoginRequest{}
			json.NewDecoder(r.Body).Decode(d.login)
			json.NewEncoder(w).Encode(wire.LoginResult{Profile: d.login.Profile, Account: "acct"})
		default:
			http.Error(w, "no", 404)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

const wsid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"

func TestDatabricksAdminHeaders(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		tokens []string
	}{
		{
			name: "named profile", args: []string{"sp"},
			stdout: "Authorization: Bearer tok-of-2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default\n" +
				"X-Databricks-Azure-SP-Management-Token: tok-of-https://management.core.windows.net/\n" +
				"X-Databricks-Azure-Workspace-Resource-Id: " + wsid + "\n",
			tokens: []string{"profile=sp&scope=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d%2F.default", "profile=sp&resource=https%3A%2F%2Fmanagement.core.windows.net%2F"},
		},
		{
			name: "default profile", args: nil,
			stdout: "X-Databricks-Azure-Workspace-Resource-Id: " + wsid + "\n",
			tokens: []string{"scope=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d%2F.default", "profile=sp&resource=https%3A%2F%2Fmanagement.core.windows.net%2F"},
		},
		{
			name: "no workspace resource id", args: []string{"user"}, code: exitError,
			stderr: "token: profile user has no azure_workspace_resource_id: set it in profiles.user of the config",
			tokens: []string{"profile=user&scope=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d%2F.default"},
		},
		{name: "with a scope", args: []string{"sp", "--scope", "x"}, code: exitUsage, stderr: "takes no --scope, --resource or -o"},
		{name: "with an output", args: []string{"sp", "-o", "raw"}, code: exitUsage, stderr: "takes no --scope, --resource or -o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &serviceDaemon{profiles: []wire.ProfileStatus{
				{Name: "sp", Flow: "client-secret", AzureWorkspaceResourceID: wsid},
				{Name: "user", Flow: "browser"},
			}}
			sock := d.start(t)
			var stdout, stderr bytes.Buffer
			args := append([]string{"get", "--databricks-admin-headers", "--socket", sock}, tc.args...)
			code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code || !strings.HasSuffix(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
			}
			if tc.code == 0 && strings.Count(stdout.String(), "\n") != 3 {
				t.Errorf("want three lines: %q", stdout.String())
			}
			if strings.Join(d.tokens, " | ") != strings.Join(tc.tokens, " | ") {
				t.Errorf("token requests %q, want %q", d.tokens, tc.tokens)
			}
		})
	}
}

func TestLoginServiceIdentities(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pemFile := write("sp.pem", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
	encFile := write("enc.pem", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n")
	pfxFile := write("sp.pfx", "\x30\x82\x01\x00binary")
	big := write("big.pfx", strings.Repeat("x", maxCertificateFile+1))
	b64 := func(p string) string {
		data, _ := os.ReadFile(p)
		return base64.StdEncoding.EncodeToString(data)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string
		req    *wire.LoginRequest
	}{
		{name: "PEM", args: []string{"sp", "--certificate", pemFile}, stdin: "not read\n",
			req: &wire.LoginRequest{Profile: "sp", Flow: "client-certificate", Certificate: b64(pemFile)}},
		{name: "encrypted PEM key", args: []string{"sp", "--certificate", encFile}, stdin: "pem-pw\n",
			req: &wire.LoginRequest{Profile: "sp", Flow: "client-certificate", Certificate: b64(encFile), CertificatePassword: "pem-pw"}},
		{name: "PFX with password", args: []string{"sp", "--certificate", pfxFile}, stdin: "pfx pw\n",
			req: &wire.LoginRequest{Profile: "sp", Flow: "client-certificate", Certificate: b64(pfxFile), CertificatePassword: "pfx pw"}},
		{name: "PFX without password", args: []string{"sp", "--certificate", pfxFile}, stdin: "",
			req: &wire.LoginRequest{Profile: "sp", Flow: "client-certificate", Certificate: b64(pfxFile)}},
		{name: "missing file", args: []string{"sp", "--certificate", filepath.Join(dir, "nope.pem")}, code: exitError, stderr: "no such file"},
		{name: "too large", args: []string{"sp", "--certificate", big}, code: exitError, stderr: "too large for a certificate"},
		{name: "certificate and secret", args: []string{"sp", "--certificate", pemFile, "--client-secret-stdin"}, code: exitUsage, stderr: "choose one way"},
		{name: "azure cli", args: []string{"cli"}, req: &wire.LoginRequest{Profile: "cli", Flow: "azure-cli"}},
		{name: "managed identity", args: []string{"mi"}, req: &wire.LoginRequest{Profile: "mi", Flow: "managed-identity"}},
		{name: "workload identity", args: []string{"wi"}, req: &wire.LoginRequest{Profile: "wi", Flow: "workload-identity"}},
		{name: "a certificate profile without its file", args: []string{"sp"}, code: exitUsage, stderr: "profile sp signs in with a certificate: name its file, `token login sp --certificate FILE`"},
		{name: "unknown profile", args: []string{"nope"}, code: exitError, stderr: `no profile "nope" in tokend's config (`},
		// Without a flag, the profile's own flow, its input read as the flow says.
		{name: "secret profile, secret on stdin", args: []string{"app"}, stdin: "s3cret\n",
			req: &wire.LoginRequest{Profile: "app", Flow: "client-secret", ClientSecret: "s3cret"}},
		{name: "password profile", args: []string{"pw", "--username", "alice"}, stdin: "pw\n",
			req: &wire.LoginRequest{Profile: "pw", Flow: "password", Username: "alice", Password: "pw"}},
		{name: "password profile without a user", args: []string{"pw"}, stdin: "pw\n", code: exitUsage, stderr: "profile pw signs in with a password: give --username USER"},
		{name: "refresh-token profile", args: []string{"rt"}, stdin: "1.AR\n",
			req: &wire.LoginRequest{Profile: "rt", Flow: "refresh-token", RefreshToken: "1.AR"}},
		{name: "browser profile by device code", args: []string{"web", "--device-code", "--timeout", "3s"},
			req: &wire.LoginRequest{Profile: "web", Flow: "device-code", TimeoutSeconds: 3}},
		{name: "a username on a device-code profile", args: []string{"dev", "--username", "u"}, code: exitUsage, stderr: "--username goes with --password-stdin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &serviceDaemon{profiles: []wire.ProfileStatus{
				{Name: "sp", Flow: "client-certificate"}, {Name: "cli", Flow: "azure-cli"},
				{Name: "mi", Flow: "managed-identity"}, {Name: "wi", Flow: "workload-identity"},
				{Name: "app", Flow: "client-secret"}, {Name: "pw", Flow: "password"}, {Name: "rt", Flow: "refresh-token"},
				{Name: "web", Flow: "browser"}, {Name: "dev", Flow: "device-code"},
			}}
			sock := d.start(t)
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append([]string{"login", "--socket", sock}, tc.args...), strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
			switch {
			case tc.req == nil && d.login != nil:
				t.Errorf("sent %+v", *d.login)
			case tc.req != nil && (d.login == nil || *d.login != *tc.req):
				t.Errorf("sent %+v, want %+v", d.login, *tc.req)
			}
		})
	}
}
