package tokendcli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestLoggerRedacts: the daemon's logger, in both formats, prints
// whitelisted fields masked and nothing else.
func TestLoggerRedacts(t *testing.T) {
	const capability = "tkd1.0123456789abcdef.Zm9vYmFyYmF6cXV4cXV1eHF1dXp6eXp6eXp6eXp6eXoxMjM"
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLogger(&buf, format, "debug")
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("request with Authorization: Bearer "+jwt,
				"profile", "dbx",
				"err", errors.New("refused "+capability),
				"access_token", jwt,
				"Authorization", "Bearer "+jwt,
				"X-IDENTITY-HEADER", capability,
			)
			out := buf.String()
			for _, leak := range []string{jwt, capability, "0123456789abcdef", "X-IDENTITY-HEADER", "Authorization=", `"Authorization":`} {
				if strings.Contains(out, leak) {
					t.Errorf("log holds %q: %s", leak, out)
				}
			}
			for _, want := range []string{"dbx", "refused [redacted]", "access_token", "Bearer [redacted]"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q: %s", want, out)
				}
			}
		})
	}
}

// TestReloadLogNamesProfiles: the reload line says which profiles were
// added, removed and changed (profile names are not secrets).
func TestReloadLogNamesProfiles(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("config reloaded", "added", []string{"dbx"}, "removed", []string{"old"}, "changed", []string{"sp"}, "kept", []string{"k"})
	if got := buf.String(); !strings.Contains(got, "added=[dbx] removed=[old] changed=[sp] kept=[k]") {
		t.Fatalf("log = %s", got)
	}
}
