package compattest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/entraemu"
)

// python is Debian's interpreter, which has python3-msal; "python3" on PATH
// may be another one without it.
const python = "/usr/bin/python3"

// needMSALPython skips the test without python3-msal, or fails it in CI
// (where .ci/run installs the package).
func needMSALPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import msal; print(msal.__version__)").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("no MSAL for Python (apt-get install python3-msal): %v: %s", err, out)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// pyEmulator is an emulator on port 443 of a loopback address of its own,
// as MSAL for Python's username/password flow asks the user realm at
// https://HOST/common/userrealm/… whatever the authority's port. Binding
// port 443 needs privilege: without it the test is skipped, or fails in CI.
type pyEmulator struct {
	em  *entraemu.Emulator
	env []string
}

func startPyEmulator(t *testing.T) *pyEmulator {
	t.Helper()
	em, err := entraemu.New(entraemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		addr := fmt.Sprintf("127.%d.%d.%d:443", 1+rand.IntN(250), rand.IntN(256), 2+rand.IntN(250))
		if err = em.Start(addr); err == nil {
			break
		}
	}
	if err != nil {
		msg := fmt.Sprintf("cannot listen on port 443 of a loopback address: %v", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { em.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, em.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(), "REQUESTS_CA_BUNDLE="+ca, "NO_PROXY=*", "no_proxy=*")
	return &pyEmulator{em: em, env: env}
}

// pyResult is one JSON line of the script.
type pyResult struct {
	Result    map[string]any `json:"result"`
	Cached    map[string]any `json:"cached"`
	Refreshed map[string]any `json:"refreshed"`
	Accounts  int            `json:"accounts"`
	PKCE      bool           `json:"pkce"`
	UserCode  string         `json:"user_code"`
	Message   string         `json:"message"`
}

func (p *pyEmulator) cfg(extra map[string]any) string {
	c := map[string]any{
		"authority": p.em.Authority(), "client_id": entraemu.PublicClientID,
		"scopes":   []string{databricksResource + "/.default"},
		"username": entraemu.Username, "password": entraemu.Password, "redirect_uri": "http://localhost",
	}
	for k, v := range extra {
		c[k] = v
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// run runs one flow of testdata/databricks_msal.py; onLine, if not nil,
// sees each line before the last.
func (p *pyEmulator) run(t *testing.T, flow string, extra map[string]any, onLine func(pyResult)) pyResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), python, filepath.Join("testdata", "databricks_msal.py"), flow, p.cfg(extra))
	cmd.Env = p.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var last pyResult
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r pyResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %q: %v", flow, sc.Text(), err)
		}
		if r.Result == nil && onLine != nil {
			onLine(r)
		}
		last = r
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", flow, err, stderr.String())
	}
	return last
}

// userToken checks a result holds an Azure Databricks token for the
// fixture user (a v1.0 token, as Entra issues for Azure Databricks) and
// that the response names the granted permission.
func userToken(t *testing.T, r map[string]any) {
	t.Helper()
	if r["error"] != nil {
		t.Fatalf("MSAL for Python: %v: %v", r["error"], r["error_description"])
	}
	at, _ := r["access_token"].(string)
	if at == "" {
		t.Fatalf("no access token in %v", r)
	}
	c := claims(t, at)
	if c["aud"] != databricksResource || c["upn"] != entraemu.Username || c["ver"] != "1.0" {
		t.Errorf("claims %v", c)
	}
	if scope, _ := r["scope"].(string); !strings.Contains(scope, databricksResource+"/user_impersonation") {
		t.Errorf("scope %q", r["scope"])
	}
}

// TestDatabricksMSALPython runs the flows of the Azure Databricks MSAL
// documentation with MSAL for Python against the emulator.
func TestDatabricksMSALPython(t *testing.T) {
	needMSALPython(t)
	p := startPyEmulator(t)

	var rt string
	t.Run("username and password", func(t *testing.T) {
		r := p.run(t, "username_password", nil, nil).Result
		userToken(t, r)
		rt, _ = r["refresh_token"].(string)
		if p.em.Counts()["userrealm"] == 0 {
			t.Error("MSAL for Python did not ask the user realm")
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		if rt == "" {
			t.Skip("no refresh token from the password flow")
		}
		userToken(t, p.run(t, "refresh_token", map[string]any{"refresh_token": rt}, nil).Result)
		// Entra keeps a redeemed refresh token valid: redeem it again.
		userToken(t, p.run(t, "refresh_token", map[string]any{"refresh_token": rt}, nil).Result)
	})
	for _, flow := range []string{"auth_code", "auth_code_pkce"} {
		t.Run(flow, func(t *testing.T) {
			r := p.run(t, flow, nil, nil)
			userToken(t, r.Result)
			if r.PKCE != (flow == "auth_code_pkce") {
				t.Errorf("PKCE %v", r.PKCE)
			}
		})
	}
	t.Run("device code", func(t *testing.T) {
		r := p.run(t, "device_code", nil, func(line pyResult) {
			if !strings.Contains(line.Message, line.UserCode) || !strings.Contains(line.Message, p.em.URL()+"/devicelogin") {
				t.Errorf("message %q", line.Message)
			}
			// The person types the code on the device login page.
			if err := p.em.ApproveDeviceCode(line.UserCode, ""); err != nil {
				t.Error(err)
			}
		})
		userToken(t, r.Result)
	})
	t.Run("client credentials", func(t *testing.T) {
		r := p.run(t, "client_credentials", map[string]any{"client_id": entraemu.ConfidentialClientID, "client_secret": entraemu.ClientSecret}, nil).Result
		at, _ := r["access_token"].(string)
		if at == "" {
			t.Fatalf("no token: %v", r)
		}
		if c := claims(t, at); c["aud"] != databricksResource || c["appid"] != entraemu.ConfidentialClientID || c["idtyp"] != "app" {
			t.Errorf("claims %v", c)
		}
	})
	t.Run("cache and silent", func(t *testing.T) {
		before := p.em.Counts()
		r := p.run(t, "cache_silent", nil, nil)
		userToken(t, r.Result)
		if r.Accounts != 1 || r.Cached["access_token"] != r.Result["access_token"] {
			t.Errorf("silent call did not answer from the cache: %d accounts", r.Accounts)
		}
		userToken(t, r.Refreshed)
		if r.Refreshed["access_token"] == r.Result["access_token"] {
			t.Error("force_refresh returned the cached token")
		}
		after := p.em.Counts()
		if after["password"]-before["password"] != 1 || after["refresh_token"]-before["refresh_token"] != 1 {
			t.Errorf("token requests: %d password, %d refresh_token; want 1 and 1",
				after["password"]-before["password"], after["refresh_token"]-before["refresh_token"])
		}
	})
}
