package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
)

func TestDecodeClaims(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d","tid":"t","oid":"o","appid":"a","roles":["R"],"exp":1800003600}`))
	tok := "eyJhbGciOiJSUzI1NiJ9." + payload + ".c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1wcmludA"
	c, err := decodeClaims(tok)
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
		if _, err := decodeClaims(bad); err == nil {
			t.Errorf("decodeClaims(%q) succeeded", bad)
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
		usage  bool
		stdout string
	}{
		{[]string{"a", "b"}, true, ""},
		{[]string{"--bogus"}, true, ""},
		{[]string{"--config", cfg}, false, "profile            FAIL  name a profile"},
		{[]string{"nope", "--config", cfg}, false, `no profile "nope" in ` + cfg + " (profiles: a)"},
		{[]string{"--config", cfg, "a"}, false, "daemon             FAIL  tokend is not reachable"},
		{[]string{"--config", filepath.Join(dir, "missing.toml"), "a"}, false, "config             FAIL  read config:"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := doctor(context.Background(), tc.args, &out)
			var ue usageError
			if errors.As(err, &ue) != tc.usage || err == nil || !strings.Contains(out.String(), tc.stdout) {
				t.Fatalf("err %v, stdout:\n%s\nwant usage %v and %q", err, out.String(), tc.usage, tc.stdout)
			}
		})
	}
}
