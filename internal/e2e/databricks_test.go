package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/databrickscfg"
	"github.com/tokend/tokend/internal/emutest"
)

const (
	e2eWorkspace = "https://adb-1.1.azuredatabricks.net"  // tcpMachine's databricks_host; never contacted
	e2eAccount   = "https://accounts.azuredatabricks.net" // a header value only: never contacted
	e2eAccountID = "0f0e0d0c-0b0a-4909-8807-060504030201"
)

// dbxMachine is tcpMachine whose app profile also answers for the account
// console, on a fixed port of its own (what the default port is to a user),
// with $DATABRICKS_CONFIG_FILE in the test's directory.
func dbxMachine(t *testing.T) (m *machine, port int, cfgFile string) {
	m = tcpMachine(t, fmt.Sprintf("databricks_hosts = [%q]\ndatabricks_account_id = %q\n", e2eAccount, e2eAccountID))
	port = freePort(t)
	cfgFile = filepath.Join(t.TempDir(), ".databrickscfg")
	m.env = append(m.env, "TOKEND_HTTP=127.0.0.1:"+strconv.Itoa(port), "DATABRICKS_CONFIG_FILE="+cfgFile)
	return m, port, cfgFile
}

// freePort is a loopback port nobody listens on now, for a daemon that
// starts later (and again after a restart). It is below every system's
// ephemeral range (as tokend's default port is), so no outgoing
// connection or port-0 listener takes it in between.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

// envVars reads `token env --shell sh` output.
func envVars(t *testing.T, out string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^export ([A-Z_]+)='([^']*)'$`).FindAllStringSubmatch(out, -1) {
		vars[m[1]] = m[2]
	}
	if vars["IDENTITY_HEADER"] == "" || vars["DATABRICKS_METADATA_SERVICE_URL"] == "" {
		t.Fatalf("token env printed:\n%s", out)
	}
	return vars
}

// sdkToken asks as an SDK does, with no wrapper and no `token` command:
// the metadata service of a URL for a Databricks host, or the App Service
// endpoint with a capability for a resource. It returns the HTTP status
// and the access token.
func metadataToken(t *testing.T, msURL, host string) (int, string) {
	t.Helper()
	if u, _ := url.Parse(msURL); u == nil || u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" {
		t.Fatalf("metadata-service URL %q: the Databricks SDKs accept only 127.0.0.1 and localhost", msURL)
	}
	req, _ := http.NewRequest("GET", msURL, nil)
	req.Header.Set("X-Databricks-Metadata-Version", "1")
	req.Header.Set("X-Databricks-Host", host)
	return tokenAnswer(t, req)
}

func msiToken(t *testing.T, endpoint, capability, resource string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", endpoint+"?api-version=2019-08-01&resource="+url.QueryEscape(resource), nil)
	req.Header.Set("X-IDENTITY-HEADER", capability)
	return tokenAnswer(t, req)
}

func tokenAnswer(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, &body)
	return resp.StatusCode, body.AccessToken
}

func iat(t *testing.T, jwt string) time.Time {
	t.Helper()
	c, err := entraemu.DecodeClaims(jwt)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := c["iat"].(float64)
	return time.Unix(int64(f), 0)
}

// TestRestartKeepsEndpoints is the promise of issue 16 through the real
// binaries: a shell's `token env` and two ~/.databrickscfg profiles (a
// workspace and the account console) written by `token databricks
// configure`; then tokend restarts, and the emulator's clock moves a day
// (the tokens it issues say so; the daemon keeps the real clock, and its
// capabilities' own day is TestCapabilitiesSurviveRestart's). The same
// variables and the same file still get new tokens, read as the SDKs read
// them, without `token` run again; every other profile of the file is left
// byte for byte.
func TestRestartKeepsEndpoints(t *testing.T) {
	m, port, cfgFile := dbxMachine(t)
	if err := os.WriteFile(cfgFile, []byte(emutest.UserDatabricksCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	vars := envVars(t, m.mustToken("", "env", "app", "--shell", "sh"))
	if want := fmt.Sprintf("http://127.0.0.1:%d/msi/token", port); vars["IDENTITY_ENDPOINT"] != want {
		t.Fatalf("IDENTITY_ENDPOINT %q, want %q", vars["IDENTITY_ENDPOINT"], want)
	}
	out := m.mustToken("", "databricks", "configure", "app")
	if !regexp.MustCompile(`^wrote profile \[app\] in ` + regexp.QuoteMeta(cfgFile) + `: host ` + e2eWorkspace + `, capability [0-9a-f]{16} of tokend profile app, valid until 20`).MatchString(out) {
		t.Fatalf("configure said %q", out)
	}
	m.mustToken("", "databricks", "configure", "app", "--section", "app-account", "--host", e2eAccount)

	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), emutest.UserDatabricksCfg) {
		t.Fatalf("the user's profiles changed:\n%s", data)
	}
	if fi, _ := os.Stat(cfgFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	f, err := databrickscfg.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := f.Section("app")
	acct, _ := f.Section("app-account")
	if ws["host"] != e2eWorkspace || ws["auth_type"] != "metadata-service" || acct["host"] != e2eAccount || acct["account_id"] != e2eAccountID {
		t.Fatalf("profiles written: %v %v\n%s", ws, acct, data)
	}
	if _, ok := ws["account_id"]; ok {
		t.Fatal("account_id written for a workspace")
	}

	// Every way in, before the restart.
	type way struct {
		name string
		get  func() (int, string)
	}
	ways := []way{
		{"token env: App Service endpoint", func() (int, string) {
			return msiToken(t, vars["IDENTITY_ENDPOINT"], vars["IDENTITY_HEADER"], "https://management.azure.com")
		}},
		{"token env: metadata service", func() (int, string) {
			return metadataToken(t, vars["DATABRICKS_METADATA_SERVICE_URL"], vars["DATABRICKS_HOST"])
		}},
		{"[app]: the workspace", func() (int, string) { return metadataToken(t, ws["metadata_service_url"], ws["host"]) }},
		{"[app]: the account console", func() (int, string) { return metadataToken(t, ws["metadata_service_url"], e2eAccount) }},
		{"[app-account]: the account console", func() (int, string) { return metadataToken(t, acct["metadata_service_url"], acct["host"]) }},
	}
	before := map[string]string{}
	for _, w := range ways {
		code, tok := w.get()
		if code != 200 || tok == "" {
			t.Fatalf("%s before the restart: HTTP %d", w.name, code)
		}
		before[w.name] = tok
	}

	m.stop()
	start := m.em.Now()
	m.em.ShiftClock(24 * time.Hour)
	m.start()
	// No `token` from here on: the saved variables and the file alone.
	for _, w := range ways {
		code, tok := w.get()
		if code != 200 || tok == "" {
			t.Fatalf("%s after the restart: HTTP %d\n%s", w.name, code, m.logs.String())
		}
		if tok == before[w.name] {
			t.Errorf("%s: the same token after the restart (access tokens are not kept)", w.name)
		}
		if issued := iat(t, tok); issued.Before(start.Add(24 * time.Hour).Truncate(time.Second)) {
			t.Errorf("%s: issued at %v, not a day after %v", w.name, issued, start)
		}
	}
	// A metadata-service capability buys Databricks tokens only.
	if code, _ := msiToken(t, vars["IDENTITY_ENDPOINT"], capabilityOf(t, ws["metadata_service_url"]), "https://management.azure.com"); code != 403 {
		t.Errorf("the .databrickscfg capability on the App Service endpoint: HTTP %d, want 403", code)
	}
	if code, _ := metadataToken(t, ws["metadata_service_url"], "https://adb-9.9.azuredatabricks.net"); code != 403 {
		t.Errorf("the .databrickscfg capability for another host: HTTP %d, want 403", code)
	}

	var l wire.CapabilityList
	if err := json.Unmarshal([]byte(m.mustToken("", "capabilities", "list", "-o", "json")), &l); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, c := range l.Capabilities {
		kinds[c.Kind]++
		if c.LastUsed == 0 || c.UID == nil || *c.UID != os.Getuid() || c.Label == "" {
			t.Errorf("capability %+v: want a last use, its owner and a label", c)
		}
	}
	if kinds["env"] != 1 || kinds["databricks"] != 2 || len(l.Capabilities) != 3 {
		t.Fatalf("capabilities after the restart: %+v", l.Capabilities)
	}
	table := m.mustToken("", "capabilities", "list")
	if !strings.Contains(table, "databricks [app-account] in "+cfgFile) || !regexp.MustCompile(`(?m)^[0-9a-f]{16}  app +databricks +\d+ +89d23h +(just now|\ds ago)`).MatchString(table) {
		t.Errorf("capabilities list:\n%s", table)
	}
	if logs := m.logs.String(); !regexp.MustCompile(`msg="token issued" .*endpoint=/databricks/… via=tcp capability=[0-9a-f]{16} label="databricks \[app\] in `).MatchString(logs) {
		t.Errorf("no audit line naming the capability and its label:\n%s", logs)
	}

	// Removing a profile revokes its capability, and the file is the
	// user's again, byte for byte.
	out = m.mustToken("", "databricks", "remove", "app")
	if !strings.Contains(out, "removed profile [app] from "+cfgFile+"; capability ") {
		t.Fatalf("remove said %q", out)
	}
	if code, _ := metadataToken(t, ws["metadata_service_url"], ws["host"]); code != 401 {
		t.Fatalf("a removed profile's URL: HTTP %d, want 401", code)
	}
	m.mustToken("", "databricks", "remove", "app-account")
	if data, _ := os.ReadFile(cfgFile); string(data) != emutest.UserDatabricksCfg {
		t.Fatalf("after remove:\n%q\nwant\n%q", data, emutest.UserDatabricksCfg)
	}
	m.stop()
	for _, s := range append(m.em.Issued(), vars["IDENTITY_HEADER"], ws["metadata_service_url"], acct["metadata_service_url"]) {
		if len(s) > 8 && strings.Contains(m.logs.String(), capabilitySecret(s)) {
			t.Fatalf("the log holds a secret: %.12s…", s)
		}
	}
	if hit := grepDir(t, m.state, []string{capabilitySecret(vars["IDENTITY_HEADER"]), capabilitySecret(ws["metadata_service_url"])}); hit != "" {
		t.Fatalf("the state dir holds a capability's secret: %s", hit)
	}
}

// capabilityOf is the capability in a metadata-service URL.
func capabilityOf(t *testing.T, msURL string) string {
	i := strings.LastIndex(msURL, "/")
	return msURL[i+1:]
}

// capabilitySecret is the secret part of a capability (or of a URL ending
// in one).
func capabilitySecret(s string) string { return s[strings.LastIndex(s, ".")+1:] }

// TestDamagedCapabilityStoreServe: a capability file damaged while tokend
// was down is set aside (kept, never overwritten), said so in the log and in
// `token capabilities list`; sign-ins are untouched and new capabilities
// work.
func TestDamagedCapabilityStoreServe(t *testing.T) {
	m, _, _ := dbxMachine(t)
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	vars := envVars(t, m.mustToken("", "env", "app", "--shell", "sh"))
	m.stop()
	path := filepath.Join(m.state, "secrets", "capabilities.sealed")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o600)

	m.start()
	if code, _ := msiToken(t, vars["IDENTITY_ENDPOINT"], vars["IDENTITY_HEADER"], "https://management.azure.com"); code != 401 {
		t.Fatalf("a capability of the damaged file: HTTP %d, want 401", code)
	}
	out := m.mustToken("", "capabilities", "list")
	kept, _ := filepath.Glob(path + ".damaged-*")
	if len(kept) != 1 || !strings.Contains(out, "warning: the saved capabilities were damaged and set aside at "+kept[0]) {
		t.Fatalf("list:\n%s\nset aside: %v", out, kept)
	}
	if got, _ := os.ReadFile(kept[0]); string(got) != string(data) {
		t.Fatal("the damaged file was not kept as it was")
	}
	if !strings.Contains(m.logs.String(), "the saved capabilities are damaged and were set aside") {
		t.Fatalf("not in the log:\n%s", m.logs.String())
	}
	m.mustToken("", "get", "app") // the sign-in next to it
	vars = envVars(t, m.mustToken("", "env", "app", "--shell", "sh"))
	if code, _ := msiToken(t, vars["IDENTITY_ENDPOINT"], vars["IDENTITY_HEADER"], "https://management.azure.com"); code != 200 {
		t.Fatalf("a new capability: HTTP %d", code)
	}
}

// TestDatabricksConfigureRefusals: what `token databricks configure`,
// `remove` and `capabilities revoke` refuse, each with a message that says
// what to do, and the file left as it was.
func TestDatabricksConfigureRefusals(t *testing.T) {
	m, _, cfgFile := dbxMachine(t)
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	dir := filepath.Dir(cfgFile)
	check := func(name string, content []byte, args []string, code int, want string) {
		t.Helper()
		_, errs, got := m.token("", args...)
		if got != code || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d, %q", name, got, errs, code, want)
		}
		if content != nil {
			if now, _ := os.ReadFile(cfgFile); string(now) != string(content) {
				t.Errorf("%s: the file changed:\n%s", name, now)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(left) > 0 {
			t.Errorf("%s: temp files left: %v", name, left)
		}
	}
	for _, tc := range []struct {
		name    string
		content string
		args    []string
		want    string
	}{
		{"not INI", "[prod]\nhost = https://adb-2.2.azuredatabricks.net\nthis line is no key\n", []string{"databricks", "configure", "app"},
			`line 3: "this line is no key" is neither a [section], a key = value nor a comment; nothing was changed`},
		{"unclosed section", "[prod\n", []string{"databricks", "configure", "app"}, "line 1: unclosed section"},
		{"a profile that signs in another way", "[app]\nhost = https://adb-1.1.azuredatabricks.net\ntoken = dapi123\n", []string{"databricks", "configure", "app"},
			"profile [app] in " + cfgFile + " signs in another way (token): tokend leaves it alone; name another profile (--section)"},
		{"a profile twice", "[app]\ncluster_id = a\n[x]\nk = v\n[app]\ncluster_id = b\n", []string{"databricks", "configure", "app"}, "[app] section appears more than once (lines 1 and 5)"},
		{"the CLI's settings", "", []string{"databricks", "configure", "app", "--section", "__settings__"}, "__settings__ is reserved by the Databricks CLI"},
		{"remove a profile of another tool", emutest.UserDatabricksCfg, []string{"databricks", "remove", "pat"}, "profile [pat] in " + cfgFile + " signs in another way (token)"},
		{"remove a profile that is not there", emutest.UserDatabricksCfg, []string{"databricks", "remove", "nope"}, "no profile [nope] in " + cfgFile},
	} {
		os.WriteFile(cfgFile, []byte(tc.content), 0o600)
		check(tc.name, []byte(tc.content), tc.args, 1, tc.want)
	}
	os.WriteFile(cfgFile, []byte(emutest.UserDatabricksCfg), 0o600)
	check("unknown tokend profile", []byte(emutest.UserDatabricksCfg), []string{"databricks", "configure", "nope"}, 1, `no profile "nope" in tokend's config`)
	check("a profile without Databricks hosts", []byte(emutest.UserDatabricksCfg), []string{"databricks", "configure", "user"}, 1, "profile user has no Databricks host: set databricks_host")
	check("a host not of the profile", []byte(emutest.UserDatabricksCfg), []string{"databricks", "configure", "app", "--host", "https://adb-9.9.azuredatabricks.net"}, 1, "https://adb-9.9.azuredatabricks.net is not one of profile app's Databricks hosts")
	check("unknown capability", nil, []string{"capabilities", "revoke", "0123456789abcdef"}, 1, `no capability "0123456789abcdef": it expired, was revoked, or never existed (`+"`token capabilities list`")
	check("usage", nil, []string{"databricks", "configure"}, 2, "name a profile\nsee `token databricks configure --help`")

	if runtime.GOOS != "windows" {
		target := filepath.Join(dir, "real.cfg")
		os.WriteFile(target, []byte(emutest.UserDatabricksCfg), 0o600)
		os.Remove(cfgFile)
		os.Symlink(target, cfgFile)
		check("a symbolic link", nil, []string{"databricks", "configure", "app"}, 1, cfgFile+" is a symbolic link (to "+target+"): tokend does not write through links")
		if b, _ := os.ReadFile(target); string(b) != emutest.UserDatabricksCfg {
			t.Error("the link's target changed")
		}
		os.Remove(cfgFile)
	}
	if os.Getuid() == 0 {
		os.WriteFile(cfgFile, []byte(emutest.UserDatabricksCfg), 0o644)
		os.Chown(cfgFile, 65534, 65534)
		check("another user's file", []byte(emutest.UserDatabricksCfg), []string{"databricks", "configure", "app"}, 1, "belongs to uid 65534")
		os.Remove(cfgFile)
	}

	// None of the refusals left a capability behind.
	var l wire.CapabilityList
	json.Unmarshal([]byte(m.mustToken("", "capabilities", "list", "-o", "json")), &l)
	if len(l.Capabilities) != 0 {
		t.Errorf("refused configures left capabilities: %+v", l.Capabilities)
	}
}

// TestTakenPort: a daemon whose port another program holds does not start,
// and says who holds it and what to do.
func TestTakenPort(t *testing.T) {
	m := newMachine(t, "file")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	cmd := exec.Command(filepath.Join(binDir, "tokend"), "serve")
	cmd.Env = append(m.env, "TOKEND_HTTP="+addr)
	out, err := cmd.CombinedOutput()
	want := "tokend: cannot listen on " + addr + ", from $TOKEND_HTTP: the port is taken by another program"
	if err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), `daemon.http = "127.0.0.1:PORT"`) {
		t.Fatalf("tokend serve on a taken port: %v\n%s\nwant %q", err, out, want)
	}
	if runtime.GOOS == "linux" && !strings.Contains(string(out), "another program of yours (another tokend?)") {
		t.Errorf("the owner is not named:\n%s", out)
	}
}

// TestIPv6Exec: with daemon.http = "[::1]:0", `token exec` children reach
// the daemon: the App Service endpoint at [::1] (the address it listens
// on), and the metadata service at 127.0.0.1 on the same port (the
// Databricks SDKs accept no other), where tokend also listens.
func TestIPv6Exec(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI has no IPv6 loopback: %v", err)
		}
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	m := tcpMachine(t, "")
	m.env = append(m.env, "TOKEND_HTTP=[::1]:0")
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	st := m.status()
	six, err := net.ResolveTCPAddr("tcp", st.Listeners.TCP)
	if err != nil || !six.IP.Equal(net.IPv6loopback) || st.Listeners.TCPIPv4 != fmt.Sprintf("127.0.0.1:%d", six.Port) {
		t.Fatalf("listeners %+v", st.Listeners)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The variable reaches the child alone (through env), not token: the
	// test binary also plays token (testscript.Main).
	cmd := exec.Command(filepath.Join(binDir, "token"), "exec", "app", "--", "env", childEnvVar+"=1", self)
	cmd.Env = m.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token exec: %v\n%s", err, m.logs.String())
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child printed %q", out)
	}
	if want := fmt.Sprintf("http://[::1]:%d/msi/token", six.Port); r.IdentityEndpoint != want || r.MSI != 200 {
		t.Errorf("App Service endpoint %q: HTTP %d; want %s: 200", r.IdentityEndpoint, r.MSI, want)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/databricks/", six.Port); !strings.HasPrefix(r.MetadataServiceURL, want) || r.Databricks != 200 {
		t.Errorf("metadata service %q: HTTP %d; want %s…: 200", capabilityFree(r.MetadataServiceURL), r.Databricks, want)
	}
}

func capabilityFree(u string) string {
	if i := strings.Index(u, "/databricks/"); i >= 0 {
		return u[:i+12] + "…"
	}
	return u
}

// childEnvVar makes the test binary, started by `token exec`, act as a
// program that reads the variables token exec gives it.
const childEnvVar = "TOKEND_E2E_CHILD"

type childResult struct {
	IdentityEndpoint   string `json:"identity_endpoint"`
	MetadataServiceURL string `json:"metadata_service_url"`
	MSI                int    `json:"msi"`
	Databricks         int    `json:"databricks"`
}

// runChild is the child of TestIPv6Exec: it asks both endpoints as the
// SDKs do and prints what came back (never a token).
func runChild() int {
	ep, capability := os.Getenv("IDENTITY_ENDPOINT"), os.Getenv("IDENTITY_HEADER")
	ms, host := os.Getenv("DATABRICKS_METADATA_SERVICE_URL"), os.Getenv("DATABRICKS_HOST")
	r := childResult{IdentityEndpoint: ep, MetadataServiceURL: ms}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: nil}}
	if req, err := http.NewRequest("GET", ep+"?api-version=2019-08-01&resource=https://management.azure.com", nil); err == nil {
		req.Header.Set("X-IDENTITY-HEADER", capability)
		if resp, err := hc.Do(req); err == nil {
			r.MSI = resp.StatusCode
			resp.Body.Close()
		}
	}
	if req, err := http.NewRequest("GET", ms, nil); err == nil {
		req.Header.Set("X-Databricks-Metadata-Version", "1")
		req.Header.Set("X-Databricks-Host", host)
		if resp, err := hc.Do(req); err == nil {
			r.Databricks = resp.StatusCode
			resp.Body.Close()
		}
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}
