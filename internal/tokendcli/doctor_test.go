package tokendcli

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/entra"
)

func TestDescribeClaims(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d","tid":"t","oid":"o","appid":"a","roles":["R"],"exp":1800003600}`))
	tok := "eyJhbGciOiJSUzI1NiJ9." + payload + ".c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1wcmludA"
	c, err := entra.ReadClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	got := describeClaims(c, &wire.Token{}, time.Unix(1_800_000_000, 0))
	want := "aud 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d, tid t, oid o, appid a, roles R, exp 2027-01-15T09:00:00Z (in 1h0m0s)"
	if got != want {
		t.Errorf("describeClaims =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(got, "c2lnbmF0dXJl") || strings.Contains(got, payload) {
		t.Error("the description quotes the token")
	}
	for _, bad := range []string{"opaque-token", "a.%%%.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c"} {
		if _, err := entra.ReadClaims(bad); err == nil {
			t.Errorf("ReadClaims(%q) succeeded", bad)
		}
	}
}

func TestAudienceOf(t *testing.T) {
	for in, want := range map[string]string{
		"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d",
		"https://management.core.windows.net//.default": "https://management.core.windows.net/",
		"User.Read": "",
		"api://a/.default api://b/.default (two scopes)": "",
	} {
		scopes := strings.Fields(in)
		if strings.HasSuffix(in, "(two scopes)") {
			scopes = scopes[:2]
		}
		if got := audienceOf(scopes); got != want {
			t.Errorf("audienceOf(%q) = %q, want %q", scopes, got, want)
		}
	}
}

func TestDoctorUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte("[profiles.a]\nflow = \"azure-cli\"\n"), 0o600)
	t.Setenv("TOKEND_SOCKET", filepath.Join(dir, "none.sock"))
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"a", "b"}, 2, "", "tokend: unexpected argument \"b\"\nsee `tokend doctor --help`\n"},
		{[]string{"--bogus"}, 2, "", "tokend: unknown flag: --bogus\nsee `tokend doctor --help`\n"},
		{[]string{"--config", cfg}, 1, "profile            FAIL  name a profile", ""},
		{[]string{"nope", "--config", cfg}, 1, `no profile "nope" in ` + cfg + " (profiles: a)", ""},
		{[]string{"--config", cfg, "a"}, 1, "daemon             FAIL  tokend is not reachable", ""},
		{[]string{"--config", filepath.Join(dir, "missing.toml"), "a"}, 1, "config             FAIL  " + filepath.Join(dir, "missing.toml") + " is missing: `token setup NAME --databricks-host URL` writes it", ""},
		{[]string{"--config", cfg, "a", "-o", "json"}, 1, `"check": "daemon",
      "ok": false,
      "error": "tokend is not reachable`, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), append([]string{"doctor"}, tc.args...), &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, %q and %q", code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}
