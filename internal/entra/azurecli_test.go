package entra

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	c, err := entraemu.DecodeClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeJWT is an unsigned token with claims, as the Azure CLI would print
// one (tokend only reads who it is for).
func fakeJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}

// fakeAz installs an `az` on a PATH of its own: a shell script that
// records its arguments in DIR/args and runs body (shell builtins only).
func fakeAz(t *testing.T, body string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"" + dir + "/args\"\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return dir
}

func azSource(t *testing.T, tenant string) *Source {
	t.Helper()
	p := &config.Profile{Name: "cli", Flow: "azure-cli", Tenant: tenant, Scopes: []string{config.DatabricksScope}, Cloud: "public"}
	src, err := New(p, Options{Secrets: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestAzureCLIFlow(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	user := fakeJWT(map[string]any{"upn": "alice@corp.example", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"})
	app := fakeJWT(map[string]any{"appid": "c0ffee00-1234-4abc-9def-0123456789ab", "tid": "8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f"})
	ok := func(tok string, fields string) string {
		return fmt.Sprintf("printf '%%s' '{\"accessToken\": \"%s\", \"tokenType\": \"Bearer\"%s}'", tok, fields)
	}
	for _, tc := range []struct {
		name    string
		script  string
		tenant  string
		scopes  []string
		args    string // the arguments az got, one a line
		account string
		tenantW string // tenant of the token
		errText string
		class   string // failures: "login", "temporary", "permanent" or "plain"
	}{
		{name: "resource, expires_on", script: ok(user, fmt.Sprintf(`, "expires_on": %d, "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"`, exp.Unix())),
			args: "account get-access-token --output json --resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", account: "alice@corp.example", tenantW: "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{name: "management resource, tenant", tenant: "8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f", scopes: []string{"https://management.core.windows.net//.default"},
			script: ok(app, fmt.Sprintf(`, "expiresOn": "%s", "tenant": "8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f"`, exp.Local().Format("2006-01-02 15:04:05.000000"))),
			args:   "account get-access-token --output json --resource https://management.core.windows.net/ --tenant 8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f", account: "c0ffee00-1234-4abc-9def-0123456789ab", tenantW: "8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f"},
		{name: "scopes", scopes: []string{"User.Read", "Mail.Read"}, script: ok(user, fmt.Sprintf(`, "expires_on": "%d"`, exp.Unix())),
			args: "account get-access-token --output json --scope User.Read Mail.Read", account: "alice@corp.example", tenantW: "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{name: "not logged in", script: "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1",
			errText: "az account get-access-token: Please run 'az login' to setup account.", class: "login"},
		{name: "refresh token expired", script: "echo 'WARNING: a warning' >&2; echo 'ERROR: AADSTS700082: The refresh token has expired due to inactivity.' >&2; exit 1",
			errText: "AADSTS700082", class: "login"},
		{name: "resource unknown", script: "echo 'ERROR: AADSTS500011: The resource principal named api://nope was not found in the tenant.' >&2; exit 1",
			errText: "AADSTS500011", class: "permanent"},
		{name: "network", script: "echo 'ERROR: HTTPSConnectionPool(host=login.microsoftonline.com, port=443): Max retries exceeded' >&2; exit 1",
			errText: "Max retries exceeded", class: "temporary"},
		{name: "killed", script: "exit 137", errText: "exit status 137", class: "temporary"},
		{name: "not JSON", script: "echo 'Welcome to Azure CLI'", errText: "az account get-access-token: the output is not the JSON object", class: "plain"},
		{name: "no expiry", script: ok(user, ""), errText: "neither expires_on nor an expiresOn", class: "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fakeAz(t, tc.script)
			src := azSource(t, tc.tenant)
			scopes := tc.scopes
			if scopes == nil {
				scopes = []string{config.DatabricksScope}
			}
			tok, err := src.Token(testCtx(t, 20*time.Second), scopes)
			if tc.class == "" {
				if err != nil {
					t.Fatal(err)
				}
				// The Source moves the expiry onto the daemon's clock, to the second.
				if d := tok.ExpiresOn.Sub(exp); tok.AccessToken == "" || d < -2*time.Second || d > time.Second || tok.Account != tc.account || tok.TenantID != tc.tenantW {
					t.Errorf("token %+v (expires %v, want %v)", tok, tok.ExpiresOn, exp)
				}
				args, _ := os.ReadFile(filepath.Join(dir, "args"))
				if got := strings.Join(strings.Fields(string(args)), " "); got != tc.args {
					t.Errorf("az got %q, want %q", got, tc.args)
				}
				return
			}
			var ie *idp.Error
			isIDP := errors.As(err, &ie)
			switch {
			case err == nil || !strings.Contains(err.Error(), tc.errText):
				t.Fatalf("err = %v, want %q", err, tc.errText)
			case tc.class == "login" && !errors.Is(err, idp.ErrLoginRequired),
				tc.class == "temporary" && !idp.IsTemporary(err),
				tc.class == "permanent" && (!isIDP || ie.Temporary || ie.LoginNeeded),
				tc.class == "plain" && isIDP:
				t.Fatalf("err = %#v, want a %s failure", err, tc.class)
			}
			if strings.Contains(err.Error(), user) {
				t.Error("the error quotes the token")
			}
		})
	}
}

func TestAzureCLIMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := azSource(t, "").Token(testCtx(t, 5*time.Second), []string{config.DatabricksScope})
	if err == nil || !strings.Contains(err.Error(), "`az` is not on tokend's PATH: install the Azure CLI") || errors.Is(err, idp.ErrLoginRequired) {
		t.Fatalf("err = %v", err)
	}
}

func TestAzureCLISlow(t *testing.T) {
	fakeAz(t, "while :; do :; done")
	_, err := azSource(t, "").Token(testCtx(t, 300*time.Millisecond), []string{config.DatabricksScope})
	if !idp.IsTemporary(err) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseAzureCLIToken(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name, out string
		exp       time.Time
		err       string
	}{
		{"expires_on number", `{"accessToken":"a.b.c","expires_on":1700000000,"expiresOn":"2000-01-01 00:00:00.000000"}`, time.Unix(1700000000, 0), ""},
		{"expires_on string", `{"accessToken":"a.b.c","expires_on":"1700000000"}`, time.Unix(1700000000, 0), ""},
		{"expiresOn local", `{"accessToken":"a.b.c","expiresOn":"2023-11-14 23:13:20.123456"}`, time.Date(2023, 11, 14, 23, 13, 20, 123456000, loc), ""},
		{"expiresOn without fraction", `{"accessToken":"a.b.c","expiresOn":"2023-11-14 23:13:20"}`, time.Date(2023, 11, 14, 23, 13, 20, 0, loc), ""},
		{"no token", `{"expires_on":1700000000}`, time.Time{}, "no accessToken"},
		{"token with space", `{"accessToken":"a b","expires_on":1700000000}`, time.Time{}, "characters no access token has"},
		{"pop token", `{"accessToken":"a","tokenType":"pop","expires_on":1700000000}`, time.Time{}, `tokenType "pop"`},
		{"expires_on garbage", `{"accessToken":"a","expires_on":"soon"}`, time.Time{}, "not a unix time"},
		{"expires_on negative", `{"accessToken":"a","expires_on":-5}`, time.Time{}, "not a unix time"},
		{"array", `[]`, time.Time{}, "not the JSON object"},
		{"empty", ``, time.Time{}, "not the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := parseAzureCLIToken([]byte(tc.out), loc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !tok.ExpiresOn.Equal(tc.exp) {
				t.Fatalf("= %v, %v; want expiry %v", tok.ExpiresOn, err, tc.exp)
			}
		})
	}
}

// FuzzAzureCLIToken feeds az's output parser: it never panics, never
// quotes the output in an error, and accepts only a token with an expiry.
func FuzzAzureCLIToken(f *testing.F) {
	f.Add([]byte(`{"accessToken":"eyJ0.eyJ1.c2ln","expiresOn":"2023-11-14 23:13:20.000000","expires_on":1700000000,"tenant":"8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f","tokenType":"Bearer"}`))
	f.Add([]byte(`{"accessToken":"x","expiresOn":"2023-11-14 23:13:20.000000"}`))
	f.Add([]byte(`{"accessToken":"x","expires_on":"1700000000","subscription":"s"}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		tok, err := parseAzureCLIToken(out, time.UTC)
		if err != nil {
			var a struct {
				AccessToken string `json:"accessToken"`
			}
			if json.Unmarshal(out, &a) == nil && len(a.AccessToken) >= 16 && strings.Contains(err.Error(), a.AccessToken) {
				t.Fatalf("the error quotes the token: %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.ExpiresOn.IsZero() || strings.ContainsAny(tok.AccessToken, " \r\n\t") {
			t.Fatalf("accepted %+v", tok)
		}
	})
}
