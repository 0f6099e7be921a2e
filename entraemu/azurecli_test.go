package entraemu

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAzureCLIEndpoints walks what the Azure CLI (MSAL Python and the ARM
// SDK) does against a custom cloud whose authority is the emulator's ADFS
// path: discovery, a client-credentials token for ARM, the subscription
// list.
func TestAzureCLIEndpoints(t *testing.T) {
	e := start(t, Config{})
	hc := e.HTTPClient()
	getJSON := func(req *http.Request, want int) map[string]any {
		t.Helper()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v: %s", req.URL.Path, err, b)
		}
		return m
	}

	// MSAL Python reads <authority>/.well-known/openid-configuration for an
	// ADFS authority, without instance discovery.
	req, _ := http.NewRequest("GET", e.URL()+ADFSPath+"/.well-known/openid-configuration", nil)
	doc := getJSON(req, 200)
	tokenURL, _ := doc["token_endpoint"].(string)
	if !strings.HasPrefix(tokenURL, e.URL()+"/") || doc["authorization_endpoint"] == nil {
		t.Fatalf("openid configuration: %v", doc)
	}

	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {ConfidentialClientID}, "client_secret": {ClientSecret},
		"scope": {"https://management.core.windows.net//.default"},
	}
	req, _ = http.NewRequest("POST", tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tok, _ := getJSON(req, 200)["access_token"].(string)
	if tok == "" {
		t.Fatal("no access token")
	}

	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401},
		{"a token not issued here", "Bearer eyJhbGciOiJub25lIn0.e30.", 401},
		{"an issued token", "Bearer " + tok, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.URL()+"/subscriptions?api-version=2022-12-01", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			m := getJSON(req, tc.status)
			if v, ok := m["value"].([]any); tc.status == 200 && (!ok || len(v) != 0) {
				t.Fatalf("subscriptions: %v", m)
			}
		})
	}
	if got := e.Counts()["subscriptions"]; got != 3 {
		t.Fatalf("subscriptions counted %d times, want 3", got)
	}
}

// TestRealAzureCLI signs the real Azure CLI in to the emulator, offline,
// the way `make bench` does, and checks that a second
// `az account get-access-token` is answered from the CLI's cache. Skipped
// where az is not installed (Debian: apt-get install azure-cli).
func TestRealAzureCLI(t *testing.T) {
	azPath, err := exec.LookPath("az")
	switch {
	case testing.Short():
		t.Skip("-short: the Azure CLI takes seconds")
	case err != nil && os.Getenv("CI") != "":
		t.Fatal("CI must install the Azure CLI (apt-get install azure-cli): .ci/run does")
	case err != nil:
		t.Skip("no az on PATH (apt-get install azure-cli)")
	}
	e := start(t, Config{Dir: t.TempDir()})
	dir := t.TempDir()
	env := append(os.Environ(), "AZURE_CONFIG_DIR="+filepath.Join(dir, "az"), "AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_ONLY_SHOW_ERRORS=true", "AZURE_CORE_SURVEY_MESSAGE=false", "REQUESTS_CA_BUNDLE="+e.Fixture().CAFile)
	az := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(azPath, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("az %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
			}
			t.Fatalf("az %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	az("cloud", "register", "-n", "emulator", "--endpoint-active-directory", e.URL()+ADFSPath,
		"--endpoint-active-directory-resource-id", "https://management.core.windows.net/",
		"--endpoint-active-directory-graph-resource-id", "https://graph.windows.net/",
		"--endpoint-resource-manager", e.URL()+"/")
	az("cloud", "set", "-n", "emulator")
	az("login", "--service-principal", "--allow-no-subscriptions", "-u", ConfidentialClientID, "-p", ClientSecret, "--tenant", TenantID)
	if got := e.Counts()["subscriptions"]; got != 1 {
		t.Fatalf("az login listed subscriptions %d times, want 1", got)
	}
	get := func() string {
		var tok struct {
			AccessToken string `json:"accessToken"`
			Tenant      string `json:"tenant"`
		}
		if err := json.Unmarshal(az("account", "get-access-token", "--resource", DatabricksResource, "-o", "json"), &tok); err != nil || tok.Tenant != TenantID {
			t.Fatalf("get-access-token: %+v, %v", tok, err)
		}
		return tok.AccessToken
	}
	first := get()
	e.ResetCounts()
	if second := get(); second != first {
		t.Fatal("the second get-access-token got another token")
	}
	if n := len(e.Counts()); n != 0 {
		t.Fatalf("a cached get-access-token reached the emulator: %v", e.Counts())
	}
}
