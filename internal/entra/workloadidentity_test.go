package entra

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

func wiProfile(em *entraemu.Emulator, file string) *config.Profile {
	return &config.Profile{Name: "wi", Flow: "workload-identity", ClientID: entraemu.WorkloadClientID, Authority: em.Authority(),
		Scopes: []string{config.DatabricksScope}, Cloud: "public", FederatedTokenFile: file}
}

// TestWorkloadIdentityFlow exchanges the emulator's federated tokens, read
// from a file that changes between acquisitions as a projected token does.
func TestWorkloadIdentityFlow(t *testing.T) {
	em := startEmulator(t)
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	write := func(subject string, life time.Duration) {
		t.Helper()
		tok, err := em.FederatedToken(subject, "", life)
		if err != nil {
			t.Fatal(err)
		}
		// Atomically, as the kubelet replaces projected tokens.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	src := newTestSource(t, em, wiProfile(em, file), store.NewMemory())
	scope := func(i int) []string { return []string{"api://wi-" + string(rune('a'+i)) + "/.default"} }

	write(entraemu.FederatedSubject, time.Hour)
	tok, err := src.Login(testCtx(t, 10*time.Second), idp.LoginRequest{})
	if err != nil || tok.Account != entraemu.WorkloadClientID {
		t.Fatalf("Login = %+v, %v", tok, err)
	}
	if c := jwtClaims(t, tok.AccessToken); c["appid"] != entraemu.WorkloadClientID || c["aud"] != entraemu.DatabricksResource {
		t.Errorf("claims %v", c)
	}
	for i, step := range []struct {
		name    string
		prepare func()
		errText string
		class   string // "login", "temporary", "plain"; "" for success
	}{
		{"rotated", func() { write(entraemu.FederatedSubject, time.Hour) }, "", ""},
		{"another subject", func() { write("system:serviceaccount:default:other", time.Hour) }, "AADSTS700213", "login"},
		{"expired token", func() { write(entraemu.FederatedSubject, -time.Hour) }, "AADSTS700024", "temporary"},
		{"fresh token again", func() { write(entraemu.FederatedSubject, time.Hour) }, "", ""},
		{"file gone", func() { os.Remove(file) }, "the federated token file " + file + " (federated_token_file) cannot be read: no such file or directory", "plain"},
		{"empty file", func() { os.WriteFile(file, []byte("\n"), 0o600) }, "is empty", "plain"},
		{"not a token", func() { os.WriteFile(file, []byte("hello world"), 0o600) }, "does not hold a JWT", "plain"},
		{"back", func() { write(entraemu.FederatedSubject, time.Hour) }, "", ""},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.prepare()
			_, err := src.Token(testCtx(t, 10*time.Second), scope(i))
			switch {
			case step.class == "" && err != nil:
				t.Fatalf("Token: %v", err)
			case step.class == "":
			case err == nil || !strings.Contains(err.Error(), step.errText):
				t.Fatalf("err = %v, want %q", err, step.errText)
			case step.class == "login" && !errors.Is(err, idp.ErrLoginRequired),
				step.class == "temporary" && (!idp.IsTemporary(err) || errors.Is(err, idp.ErrLoginRequired)),
				step.class == "plain" && (idp.IsTemporary(err) || errors.Is(err, idp.ErrLoginRequired)):
				t.Fatalf("err = %#v, want a %s failure", err, step.class)
			}
		})
	}
}

func TestWorkloadIdentityFile(t *testing.T) {
	em := startEmulator(t)
	t.Run("from the environment", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "token")
		tok, _ := em.FederatedToken(entraemu.FederatedSubject, "", time.Hour)
		os.WriteFile(file, []byte(tok), 0o600)
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
		src := newTestSource(t, em, wiProfile(em, ""), store.NewMemory())
		if _, err := src.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope}); err != nil {
			t.Fatal(err)
		}
		os.Remove(file)
		_, err := src.Token(testCtx(t, 10*time.Second), []string{"api://x/.default"})
		if err == nil || !strings.Contains(err.Error(), "($AZURE_FEDERATED_TOKEN_FILE) cannot be read") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
		_, err := New(wiProfile(em, ""), Options{Secrets: store.NewMemory(), HTTPClient: em.HTTPClient()})
		if err == nil || !strings.Contains(err.Error(), "set federated_token_file in profiles.wi, or AZURE_FEDERATED_TOKEN_FILE") {
			t.Fatalf("New = %v", err)
		}
	})
}
