package tokencli

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

func TestParseGitCredential(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string][]string // nil: an error
	}{
		{"get from git 2.39", "protocol=https\nhost=dev.azure.com\npath=org/repo\n\n", map[string][]string{"protocol": {"https"}, "host": {"dev.azure.com"}, "path": {"org/repo"}}},
		{"EOF ends it", "protocol=https\nhost=h", map[string][]string{"protocol": {"https"}, "host": {"h"}}},
		{"blank line ends it", "host=a\n\nhost=b\n", map[string][]string{"host": {"a"}}},
		{"CRLF", "protocol=https\r\nhost=h\r\n\r\n", map[string][]string{"protocol": {"https"}, "host": {"h"}}},
		{"git 2.46 capabilities", "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=h\nwwwauth[]=Bearer realm=\"x\"\nwwwauth[]=Basic realm=\"x\"\n",
			map[string][]string{"capability[]": {"authtype", "state"}, "protocol": {"https"}, "host": {"h"}, "wwwauth[]": {`Bearer realm="x"`, `Basic realm="x"`}}},
		{"value with =", "password=a=b==\n", map[string][]string{"password": {"a=b=="}}},
		{"last single value wins", "host=a\nhost=b\n", map[string][]string{"host": {"b"}}},
		{"empty value resets a list", "wwwauth[]=Basic\nwwwauth[]=\nwwwauth[]=Bearer\n", map[string][]string{"wwwauth[]": {"Bearer"}}},
		{"empty input", "", map[string][]string{}},
		{"no =", "protocol\n", nil},
		{"empty key", "=x\n", nil},
		{"NUL", "host=a\x00b\n", nil},
		{"CR inside", "host=a\rb\n", nil},
		{"line too long", "password=" + strings.Repeat("x", maxGitLine) + "\n", nil},
		{"input too large", strings.Repeat("k=v\n", maxGitInput/4+1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseGitCredential(strings.NewReader(tc.in))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", c.values)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.values) != len(tc.want) {
				t.Fatalf("got %v, want %v", c.values, tc.want)
			}
			for k, v := range tc.want {
				if !slices.Equal(c.values[k], v) {
					t.Errorf("%s = %q, want %q", k, c.values[k], v)
				}
			}
		})
	}
}

func TestGitAnswer(t *testing.T) {
	tok := &wire.Token{AccessToken: "eyJ.tok.sig", ExpiresOn: 1_800_000_000}
	for _, tc := range []struct{ name, in, want string }{
		{"git 2.46, no challenge yet: Bearer", "capability[]=authtype\nprotocol=https\nhost=dev.azure.com\n",
			"capability[]=authtype\nauthtype=Bearer\ncredential=eyJ.tok.sig\nephemeral=1\npassword_expiry_utc=1800000000\n"},
		{"git 2.46, server offers Bearer", "capability[]=authtype\nwwwauth[]=Basic realm=\"a\"\nwwwauth[]=bearer authorization_uri=x\n",
			"capability[]=authtype\nauthtype=Bearer\ncredential=eyJ.tok.sig\nephemeral=1\npassword_expiry_utc=1800000000\n"},
		{"git 2.46, server wants Basic only", "capability[]=authtype\nwwwauth[]=Basic realm=\"a\"\n",
			"username=tokend\npassword=eyJ.tok.sig\npassword_expiry_utc=1800000000\n"},
		{"old git: password", "protocol=https\nhost=dev.azure.com\n",
			"username=tokend\npassword=eyJ.tok.sig\npassword_expiry_utc=1800000000\n"},
		{"user name from the URL kept", "protocol=https\nhost=dev.azure.com\nusername=org\n",
			"username=org\npassword=eyJ.tok.sig\npassword_expiry_utc=1800000000\n"},
		{"other capabilities only", "capability[]=state\n",
			"username=tokend\npassword=eyJ.tok.sig\npassword_expiry_utc=1800000000\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseGitCredential(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := writeGitAnswer(&b, c, tok); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("answer:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
	if err := writeGitAnswer(&bytes.Buffer{}, &gitCredential{}, &wire.Token{AccessToken: "a\nhost=evil"}); err == nil {
		t.Fatal("a token with a newline was written")
	}
}

func TestGitHostMatches(t *testing.T) {
	for _, tc := range []struct {
		host     string
		patterns []string
		want     bool
	}{
		{"dev.azure.com", defaultGitHosts, true},
		{"DEV.Azure.com", defaultGitHosts, true},
		{"org.visualstudio.com", defaultGitHosts, true},
		{"a.b.visualstudio.com", defaultGitHosts, true},
		{"visualstudio.com", defaultGitHosts, false},
		{"evilvisualstudio.com", defaultGitHosts, false},
		{"org.visualstudio.com:8443", defaultGitHosts, false},
		{"dev.azure.com.evil.example", defaultGitHosts, false},
		{"dev.azure.com:444", defaultGitHosts, false},
		{"github.com", defaultGitHosts, false},
		{"", defaultGitHosts, false},
		{"127.0.0.1:8443", []string{"127.0.0.1:8443"}, true},
		{"127.0.0.1:8444", []string{"127.0.0.1:8443"}, false},
		{"git.corp.example", []string{"*.corp.example"}, true},
	} {
		if got := hostMatches(tc.host, tc.patterns); got != tc.want {
			t.Errorf("hostMatches(%q, %v) = %v", tc.host, tc.patterns, got)
		}
	}
}

// TestGitCredentialIgnores: what is not ours gets no answer and no daemon
// call (the socket does not exist, so a call would fail).
func TestGitCredentialIgnores(t *testing.T) {
	gone := t.TempDir() + "/none.sock"
	for _, tc := range []struct {
		name, op, in string
		args         []string
	}{
		{"http", "get", "protocol=http\nhost=dev.azure.com\n", nil},
		{"other host", "get", "protocol=https\nhost=github.com\n", nil},
		{"not configured host", "get", "protocol=https\nhost=dev.azure.com\n", []string{"--host", "git.corp.example"}},
		{"store", "store", "protocol=https\nhost=dev.azure.com\nusername=u\npassword=p\n", nil},
		{"future operation", "frobnicate", "protocol=https\nhost=dev.azure.com\n", nil},
		{"erase of another host", "erase", "protocol=https\nhost=github.com\npassword=p\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"git-credential", "--socket", gone}, tc.args...)
			code := Run(t.Context(), append(args, tc.op), strings.NewReader(tc.in), &stdout, &stderr)
			if code != 0 || stdout.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
			}
		})
	}
	t.Run("ours, daemon down: exit 3", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), []string{"git-credential", "--socket", gone, "get"}, strings.NewReader("protocol=https\nhost=dev.azure.com\n"), &stdout, &stderr)
		if code != exitUnreachable || stdout.Len() != 0 {
			t.Fatalf("exit %d, stdout %q", code, stdout.String())
		}
	})
	t.Run("malformed input: error", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), []string{"git-credential", "--socket", gone, "get"}, strings.NewReader("protocol\n"), &stdout, &stderr)
		if code != exitError || !strings.Contains(stderr.String(), "line 1") {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
	t.Run("no operation: usage", func(t *testing.T) {
		code := Run(t.Context(), []string{"git-credential"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		if code != exitUsage {
			t.Fatalf("exit %d", code)
		}
	})
}

func TestParseExecInfo(t *testing.T) {
	for _, tc := range []struct {
		name, info, want string // want "": an error
	}{
		{"absent", "", execV1beta1},
		{"blank", "  ", execV1beta1},
		{"v1 from client-go", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`, execV1},
		{"v1beta1 with cluster", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"cluster":{"server":"https://x"},"interactive":true}}`, execV1beta1},
		{"no apiVersion", `{"kind":"ExecCredential"}`, execV1beta1},
		{"v1alpha1 (removed from Kubernetes)", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}`, ""},
		{"other group", `{"kind":"ExecCredential","apiVersion":"example.com/v1"}`, ""},
		{"other kind", `{"kind":"Pod","apiVersion":"client.authentication.k8s.io/v1"}`, ""},
		{"not JSON", `apiVersion: v1`, ""},
		{"JSON array", `[]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseExecInfo(tc.info)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted as %q", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestExecCredential(t *testing.T) {
	exp := time.Date(2026, 3, 1, 10, 30, 0, 0, time.FixedZone("CET", 3600))
	for _, v := range []string{execV1, execV1beta1} {
		b, err := json.Marshal(execCredential(v, &wire.Token{AccessToken: "tok", ExpiresOn: exp.Unix()}))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"apiVersion":"` + v + `","kind":"ExecCredential","spec":{"interactive":false},"status":{"expirationTimestamp":"2026-03-01T09:30:00Z","token":"tok"}}`
		if string(b) != want {
			t.Errorf("%s:\n%s\nwant\n%s", v, b, want)
		}
	}
}

func TestEnvShells(t *testing.T) {
	vars := []client.EnvVar{{Name: "IDENTITY_ENDPOINT", Value: "http://127.0.0.1:1/msi/token"}, {Name: "X", Value: `it's a \ test`}}
	c := &wire.Capability{ID: "abc", Profile: "dbx", ExpiresOn: 1_800_000_000}
	for _, tc := range []struct {
		shell string
		want  []string
	}{
		{"sh", []string{"# tokend capability abc for profile dbx, valid until 2027-01-15T08:00:00Z",
			"export IDENTITY_ENDPOINT='http://127.0.0.1:1/msi/token'", `export X='it'\''s a \ test'`, "unset MSI_ENDPOINT"}},
		{"fish", []string{"set -gx IDENTITY_ENDPOINT 'http://127.0.0.1:1/msi/token';", `set -gx X 'it\'s a \\ test';`, "set -e MSI_SECRET;"}},
		{"powershell", []string{"$env:IDENTITY_ENDPOINT = 'http://127.0.0.1:1/msi/token'", `$env:X = 'it''s a \ test'`,
			"Remove-Item Env:IDENTITY_SERVER_THUMBPRINT -ErrorAction SilentlyContinue"}},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeEnv(&b, quoters[tc.shell], vars, c); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(b.String(), "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("no line %q in\n%s", w, b.String())
				}
			}
		})
	}
	// What sh prints, sh reads back unchanged.
	var b bytes.Buffer
	writeEnv(&b, quoters["sh"], vars, c)
	out, err := exec.Command("sh", "-c", b.String()+`printf %s "$X"`).Output()
	if err != nil || string(out) != `it's a \ test` {
		t.Fatalf("sh read back %q, %v", out, err)
	}
}

func TestChildEnv(t *testing.T) {
	for _, tc := range []struct {
		name, tcp, dbx string
		want           map[string]string // nil: an error
	}{
		{"msi only", "127.0.0.1:4000", "", map[string]string{
			"IDENTITY_ENDPOINT": "http://127.0.0.1:4000/msi/token", "IDENTITY_HEADER": "CAP"}},
		{"databricks", "127.0.0.1:4000", "https://adb-1.azuredatabricks.net", map[string]string{
			"IDENTITY_ENDPOINT": "http://127.0.0.1:4000/msi/token", "IDENTITY_HEADER": "CAP",
			"DATABRICKS_HOST": "https://adb-1.azuredatabricks.net", "DATABRICKS_AUTH_TYPE": "metadata-service",
			"DATABRICKS_METADATA_SERVICE_URL": "http://127.0.0.1:4000/databricks/CAP"}},
		{"daemon on ::1", "[::1]:4000", "https://adb-1.azuredatabricks.net", map[string]string{
			"IDENTITY_ENDPOINT": "http://[::1]:4000/msi/token", "IDENTITY_HEADER": "CAP",
			"DATABRICKS_HOST": "https://adb-1.azuredatabricks.net", "DATABRICKS_AUTH_TYPE": "metadata-service",
			"DATABRICKS_METADATA_SERVICE_URL": "http://127.0.0.1:4000/databricks/CAP"}}, // the daemon's companion listener
		{"daemon on 127.0.0.2", "127.0.0.2:4000", "https://adb-1.azuredatabricks.net", map[string]string{
			"IDENTITY_ENDPOINT": "http://127.0.0.2:4000/msi/token", "IDENTITY_HEADER": "CAP",
			"DATABRICKS_HOST": "https://adb-1.azuredatabricks.net", "DATABRICKS_AUTH_TYPE": "metadata-service",
			"DATABRICKS_METADATA_SERVICE_URL": "http://127.0.0.1:4000/databricks/CAP"}},
		{"TCP off", "", "", nil},
		{"not loopback", "10.0.0.1:4000", "", nil},
		{"garbage", "localhost", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars, err := client.ChildEnv(tc.tcp, "CAP", tc.dbx)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", vars)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, v := range vars {
				got[v.Name] = v.Value
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v", got)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	environ := []string{"PATH=/bin", "IDENTITY_HEADER=old", "MSI_ENDPOINT=http://x", "IDENTITY_SERVER_THUMBPRINT=ab", "MSI_SECRET=s", "HOME=/h"}
	got := mergeEnv(environ, []client.EnvVar{{Name: "IDENTITY_ENDPOINT", Value: "e"}, {Name: "IDENTITY_HEADER", Value: "new"}}, client.ChildEnvUnset())
	want := []string{"PATH=/bin", "HOME=/h", "IDENTITY_ENDPOINT=e", "IDENTITY_HEADER=new"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCompatUsage(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	gone := t.TempDir() + "/none.sock"
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"exec without --", []string{"exec", "dbx", "ls"}, exitUsage, "after --"},
		{"exec without command", []string{"exec", "dbx", "--"}, exitUsage, "after --"},
		{"exec without profile", []string{"exec", "--", "ls"}, exitUsage, "name a profile"},
		{"exec daemon down", []string{"exec", "dbx", "--socket", gone, "--", "true"}, exitUnreachable, "not reachable"},
		{"env without profile", []string{"env"}, exitUsage, "name a profile"},
		{"env bad shell", []string{"env", "dbx", "--shell", "csh"}, exitUsage, `unknown shell "csh"`},
		{"env daemon down", []string{"env", "dbx", "--socket", gone}, exitUnreachable, "not reachable"},
		{"kube bad exec info", []string{"kube", "dbx", "--socket", gone}, exitError, "KUBERNETES_EXEC_INFO"},
		{"watch two profiles", []string{"watch", "a", "b"}, exitUsage, "unexpected argument"},
		{"watch daemon down", []string{"watch", "--socket", gone}, exitUnreachable, "not reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "kube") {
				t.Setenv("KUBERNETES_EXEC_INFO", `{"apiVersion":"client.authentication.k8s.io/v1alpha1"}`)
			}
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

// TestTokenFormats: the -o shapes other tools read.
func TestTokenFormats(t *testing.T) {
	tok := &wire.Token{AccessToken: "eyJ.a.b", TokenType: "Bearer", ExpiresOn: 1_800_000_000, ExpiresIn: 3600,
		Profile: "dbx", Scopes: []string{"s/.default"}, Tenant: "tid"}
	exp := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		out  string
		want map[string]any // JSON fields and values
	}{
		{"az", map[string]any{"accessToken": "eyJ.a.b", "expiresOn": exp.Local().Format("2006-01-02 15:04:05.000000"),
			"expires_on": float64(1_800_000_000), "tenant": "tid", "tokenType": "Bearer"}},
		{"databricks", map[string]any{"access_token": "eyJ.a.b", "token_type": "Bearer", "expiry": exp.Format(time.RFC3339)}},
		{"json", map[string]any{"access_token": "eyJ.a.b", "token_type": "Bearer", "expires_on": float64(1_800_000_000),
			"expires_in": float64(3600), "profile": "dbx", "scopes": []any{"s/.default"}, "tenant": "tid"}},
	} {
		t.Run(tc.out, func(t *testing.T) {
			var b bytes.Buffer
			if err := tokenWriters[tc.out](&b, tok); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if gb, wb := mustMarshal(got[k]), mustMarshal(v); gb != wb {
					t.Errorf("%s = %s, want %s", k, gb, wb)
				}
			}
		})
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
