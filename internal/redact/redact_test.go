package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// Secrets shaped like the real ones (not real).
const (
	jwt        = "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJhdWQiOiJ4IiwiZXhwIjoxfQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
	capability = "tkd1.0123456789abcdef.Zm9vYmFyYmF6cXV4cXV1eHF1dXp6eXp6eXp6eXp6eXoxMjM"
	refresh    = "1.ARwA6Xs3Fq9zT0y1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ_-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	secret     = "Qm8Q~abcDEF123ghiJKL456mnoPQR789stuVWX0yz"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain text", "token refreshed for profile dbx", "token refreshed for profile dbx"},
		{"jwt", "got " + jwt + " back", "got [redacted] back"},
		{"jwt in JSON", `{"access_token":"` + jwt + `"}`, `{"access_token":"[redacted]"}`},
		{"jwt glued to text", "token=" + jwt + ";", "token=[redacted];"},
		{"capability", "X-IDENTITY-HEADER: " + capability, "X-IDENTITY-HEADER: [redacted]"},
		{"capability in a URL path", "GET /databricks/" + capability, "GET /databricks/[redacted]"},
		{"truncated capability", "tkd1.0123456789abcdef.", "[redacted]"},
		{"bearer", "Authorization: Bearer abc", "Authorization: Bearer [redacted]"},
		{"bearer any case", "authorization: BEARER   abc.def", "authorization: BEARER   [redacted]"},
		{"basic", "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [redacted]"},
		{"refresh token", "invalid_grant for " + refresh, "invalid_grant for [redacted]"},
		{"client secret", "secret " + secret + " refused", "secret [redacted] refused"},
		{"several", jwt + " " + capability + " " + refresh, "[redacted] [redacted] [redacted]"},
		{"uuid stays", "tenant 72f988bf-86f1-41af-91ab-2d7cd011db47", "tenant 72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{"sha256 hex stays", "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		{"host stays", "https://adb-1234567890123456.7.azuredatabricks.net", "https://adb-1234567890123456.7.azuredatabricks.net"},
		{"path stays", "/run/user/1000/tokend/tokend.sock", "/run/user/1000/tokend/tokend.sock"},
		{"AADSTS stays", "AADSTS70000: The provided grant is invalid", "AADSTS70000: The provided grant is invalid"},
		{"word with eyJ stays", "keyJar", "keyJar"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Fatalf("String(%q)\n = %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestStringDoesNotAllocateWhenClean(t *testing.T) {
	s := "token refreshed profile=dbx scopes=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
	if n := testing.AllocsPerRun(100, func() { String(s) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

type stringer struct{}

func (stringer) String() string { return "Bearer " + capability }

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue(jwt) }

// TestHandler: only whitelisted fields print, masked; Authorization and
// X-IDENTITY-HEADER never print; messages, groups, errors, lists, headers,
// Stringers and LogValuers are masked too, in both handler formats.
func TestHandler(t *testing.T) {
	hdr := http.Header{"Authorization": {"Bearer " + jwt}, "X-Identity-Header": {capability}, "Accept": {"*/*"}}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			var inner slog.Handler = slog.NewTextHandler(&buf, nil)
			if format == "json" {
				inner = slog.NewJSONHandler(&buf, nil)
			}
			log := slog.New(NewHandler(inner, "profile", "err", "scopes", "note", "header", "n", "Authorization", "who", "v"))
			log = log.With("profile", "dbx", "secret", secret)
			log.Info("served "+jwt,
				"err", fmt.Errorf("refresh: %w", errors.New("invalid_grant: "+refresh)),
				"scopes", []string{"api://x/.default", capability},
				"note", "Bearer "+jwt,
				"token", jwt, // not whitelisted
				"n", 3,
				"Authorization", "Bearer "+jwt, // denied even if whitelisted
				"x-identity-header", capability,
				"header", hdr,
				"who", stringer{},
				"v", valuer{},
				slog.Group("req", "profile", "inner", "password", "hunter2"),
			)
			out := buf.String()
			for _, leak := range []string{jwt, capability, refresh, secret, "hunter2", "0123456789abcdef"} {
				if strings.Contains(out, leak) {
					t.Errorf("log holds %q:\n%s", leak, out)
				}
			}
			for _, want := range []string{"dbx", "invalid_grant", "api://x/.default", "inner", "3", "Accept", "[redacted]"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			for _, gone := range []string{"Authorization", "x-identity-header", "X-Identity-Header"} {
				if strings.Contains(out, gone) {
					t.Errorf("log names %s:\n%s", gone, out)
				}
			}
			if format == "json" {
				var m map[string]any
				if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, out)
				}
				for k, want := range map[string]any{"token": Masked, "secret": Masked, "profile": "dbx", "n": 3.0} {
					if m[k] != want {
						t.Errorf("%s = %v, want %v", k, m[k], want)
					}
				}
				if g, _ := m["req"].(map[string]any); g["profile"] != "inner" || g["password"] != Masked {
					t.Errorf("group = %v", m["req"])
				}
			}
		})
	}
}

func BenchmarkString(b *testing.B) {
	for _, tc := range []struct{ name, in string }{
		{"clean", "token issued profile=dbx scopes=[2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default] exe=/usr/bin/python3"},
		{"jwt", "got " + jwt + " back"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				String(tc.in)
			}
		})
	}
}

// FuzzString: a secret placed anywhere in any text never survives String,
// String is idempotent, and text without secrets is left alone when it has
// no long mixed runs.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "Bearer ", "token=", "a b c", "/databricks/", `{"access_token":"`, "x-", "AADSTS50173: "} {
		f.Add(s, s, uint8(0))
	}
	secrets := []string{jwt, capability, refresh, secret}
	f.Fuzz(func(t *testing.T, prefix, suffix string, which uint8) {
		sec := secrets[int(which)%len(secrets)]
		out := String(prefix + sec + suffix)
		if strings.Contains(out, sec) {
			t.Fatalf("String(%q + secret + %q) = %q keeps the secret", prefix, suffix, out)
		}
		if again := String(out); again != out {
			t.Fatalf("not idempotent: %q then %q", out, again)
		}
		plain := String(prefix)
		if !strings.Contains(prefix, "eyJ") && !strings.Contains(prefix, "tkd1") &&
			!strings.Contains(strings.ToLower(prefix), "bearer") && !strings.Contains(strings.ToLower(prefix), "basic") &&
			len(prefix) < minOpaque && plain != prefix {
			t.Fatalf("String(%q) = %q changed clean text", prefix, plain)
		}
	})
}
