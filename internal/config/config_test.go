package config

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

const good = `default_profile = "dbx"

[daemon]
http = ""
store = "memory"

[profiles.dbx]
flow = "client-secret"
tenant = "t1"
client_id = "c1"

[profiles.gov]
flow = "password"
tenant = "t2"
client_id = "c2"
cloud = "usgov"
scopes = ["https://management.core.windows.net//.default"]
databricks_host = "ADB-1.azuredatabricks.net/"
`

func TestScopeSetBounds(t *testing.T) {
	c, err := Parse("config.toml", []byte("[daemon]\nmax_scope_sets_per_capability = 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Daemon.MaxScopeSets != DefaultMaxScopeSets || c.Daemon.MaxCapabilityScopeSets != 8 {
		t.Fatalf("bounds %d, %d", c.Daemon.MaxScopeSets, c.Daemon.MaxCapabilityScopeSets)
	}
}

func TestParseGood(t *testing.T) {
	c, err := Parse("config.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Profile("")
	if !ok || p.Name != "dbx" {
		t.Fatalf("default profile = %+v", p)
	}
	if got := p.Scopes; len(got) != 1 || got[0] != DatabricksScope {
		t.Errorf("default scopes = %v", got)
	}
	if got := p.AuthorityURL(); got != "https://login.microsoftonline.com/t1" {
		t.Errorf("authority = %q", got)
	}
	gov := c.Profiles["gov"]
	if got := gov.AuthorityURL(); got != "https://login.microsoftonline.us/t2" {
		t.Errorf("usgov authority = %q", got)
	}
	if gov.DatabricksHost != "https://adb-1.azuredatabricks.net" {
		t.Errorf("host = %q", gov.DatabricksHost)
	}
	if c.Daemon.HTTPAddr() != "" {
		t.Errorf("http = %q, want off", c.Daemon.HTTPAddr())
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown key names line", "[profiles.dbx]\nflow = \"client-secret\"\ntenant = \"t\"\nclient_id = \"c\"\ntenat = \"x\"\n", `config.toml:5: unknown key "profiles.dbx.tenat"`},
		{"unknown top key", "defualt_profile = \"x\"\n", `config.toml:1: unknown key "defualt_profile"`},
		{"wrong type", "[daemon]\nstore = 3\n", "config.toml:2"},
		{"syntax", "[daemon\n", "config.toml:1"},
		{"bad flow", "[profiles.a]\nflow = \"magic\"\nclient_id=\"c\"\ntenant=\"t\"\n", `flow "magic"`},
		{"no flow", "[profiles.a]\ntenant=\"t\"\n", "flow is required"},
		{"no client", "[profiles.a]\nflow = \"client-secret\"\ntenant=\"t\"\n", "needs client_id: the application (client) id"},
		{"no tenant", "[profiles.a]\nflow = \"client-certificate\"\nclient_id=\"c\"\n", "set tenant"},
		{"no client for workload identity", "[profiles.a]\nflow = \"workload-identity\"\ntenant=\"t\"\n", "needs client_id"},
		{"bad cloud", "[profiles.a]\nflow = \"azure-cli\"\ncloud=\"mars\"\n", `cloud "mars"`},
		{"http authority", "[profiles.a]\nflow = \"password\"\nclient_id=\"c\"\nauthority=\"http://x/t\"\n", "want https://HOST/TENANT"},
		{"public http", "[daemon]\nhttp = \"0.0.0.0:8080\"\n", "not a loopback address"},
		{"lan http", "[daemon]\nhttp = \"192.168.1.2:8080\"\n", "not a loopback address"},
		{"bad store", "[daemon]\nstore = \"s3\"\n", `daemon.store "s3"`},
		{"bad keepalive", "[daemon]\nkeepalive = \"often\"\n", `daemon.keepalive "often"`},
		{"short keepalive", "[daemon]\nkeepalive = \"5m\"\n", `at least 1h`},
		{"missing default", "default_profile = \"nope\"\n", `default_profile "nope"`},
		{"negative scope-set bound", "[daemon]\nmax_scope_sets_per_profile = -1\n", "daemon.max_scope_sets_per_profile = -1: want 1 to 100000"},
		{"huge scope-set bound", "[daemon]\nmax_scope_sets_per_capability = 1000000\n", "daemon.max_scope_sets_per_capability = 1000000"},
		{"bad name", "[profiles.\"a b\"]\nflow = \"azure-cli\"\n", "profile names"},
		{"bad scope", "[profiles.a]\nflow = \"azure-cli\"\nscopes=[\"a b\"]\n", "single words"},
		{"bad databricks_hosts", "[profiles.a]\nflow = \"azure-cli\"\ndatabricks_hosts=[\"https://\"]\n", "databricks_hosts: \"https://\" is not a URL"},
		{"bad account id", "[profiles.a]\nflow = \"azure-cli\"\ndatabricks_account_id=\"acme\"\n", "databricks_account_id \"acme\": want the account's id, a UUID"},
		{"two resources", "[profiles.a]\nflow = \"azure-cli\"\nscopes=[\"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default\", \"https://management.core.windows.net//.default\"]\n", "one resource at a time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.toml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestErrorsEchoSafely: what a config error echoes of the file has its
// control characters escaped, and a long value is cut (a 50 MB value is
// not printed whole).
func TestErrorsEchoSafely(t *testing.T) {
	huge := strings.Repeat("x", 50<<20)
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"escape in a profile name", "[profiles.\"a\\u001b[31mb\"]\nflow = \"azure-cli\"\n", `profiles."a\x1b[31mb": profile names`},
		{"bidi override in a value", "[profiles.a]\nflow = \"azure-cli\"\ncloud = \"\u202emars\"\n", `cloud "\u202emars"`},
		{"escape in an unknown key", "[daemon]\n\"k\\u001b]0;x\\u0007\" = 1\n", `unknown key "daemon.k\x1b]0;x\a"`},
		{"escape in http", "[daemon]\nhttp = \"a\\u001bb\"\n", `"a\x1bb": want HOST:PORT`},
		{"50 MB value", "[daemon]\nstore = \"" + huge + "\"\n", `(52428800 bytes): want one of`},
		{"many unknown keys", func() string {
			var b strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&b, "k%d = 1\n", i)
			}
			return b.String()
		}(), "and 980 more"},
		{"50 MB scope", "[profiles.a]\nflow = \"azure-cli\"\nscopes = [\"a " + huge + "\"]\n", `(52428802 bytes): scopes are single words`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.toml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %.300q, want it to contain %q", err, tc.want)
			}
			checkPrintable(t, err.Error())
		})
	}
}

// checkPrintable fails on a message that could act on a terminal or that
// is too long to read.
func checkPrintable(t *testing.T, msg string) {
	t.Helper()
	if len(msg) > 8<<10 {
		t.Fatalf("error of %d bytes: %.200q", len(msg), msg)
	}
	for line := range strings.Lines(msg) {
		if len(line) > 1<<10 {
			t.Fatalf("error line of %d bytes: %.200q", len(line), line)
		}
	}
	for _, r := range msg {
		if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
			t.Fatalf("error holds %U: %q", r, msg)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.toml")
	c, err := Load(p, false)
	if err != nil || len(c.Profiles) != 0 || c.Daemon.Store != "keyring" {
		t.Fatalf("Load missing = %+v, %v", c, err)
	}
	if _, err := Load(p, true); err == nil {
		t.Fatal("Load(mustExist) of a missing file succeeded")
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"": true, "127.0.0.1:0": true, "[::1]:80": true, "localhost:9": true, "127.1.2.3:1": true,
		"0.0.0.0:1": false, "[::]:1": false, "10.0.0.1:1": false, "example.com:1": false, "127.0.0.1": false,
	} {
		if err := CheckLoopback(addr); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v", addr, err)
		}
	}
}

func TestSocketPathEnv(t *testing.T) {
	t.Setenv("TOKEND_SOCKET", "/x/y.sock")
	c := &Config{Daemon: Daemon{Socket: "/a/b.sock"}}
	if got := c.SocketPath(); got != "/x/y.sock" {
		t.Errorf("SocketPath = %q", got)
	}
	t.Setenv("TOKEND_SOCKET", "")
	if got := c.SocketPath(); got != "/a/b.sock" {
		t.Errorf("SocketPath = %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/7")
	if got := (&Config{}).SocketPath(); got != "/run/user/7/tokend/tokend.sock" {
		t.Errorf("default = %q", got)
	}
}

// TestDefaultSocketFallback: without XDG_RUNTIME_DIR, HOME and
// XDG_CACHE_HOME the socket goes to the home directory of the user
// database, a place nobody else can create first, not to /tmp.
func TestDefaultSocketFallback(t *testing.T) {
	u, err := user.Current()
	if err != nil || u.HomeDir == "" || u.HomeDir == "/" {
		t.Skipf("no home directory in the user database (%v)", err)
	}
	for _, k := range []string{"XDG_RUNTIME_DIR", "HOME", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	got := DefaultSocket()
	if !strings.HasPrefix(got, u.HomeDir+string(filepath.Separator)) || strings.HasPrefix(got, os.TempDir()) {
		t.Fatalf("DefaultSocket = %q, want it under %s", got, u.HomeDir)
	}
	t.Setenv("HOME", t.TempDir())
	if got := DefaultSocket(); !strings.HasPrefix(got, os.Getenv("HOME")) {
		t.Fatalf("with HOME: DefaultSocket = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[daemon]\nhttp = \"127.0.0.1:0\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			checkPrintable(t, err.Error())
			return
		}
		if err := CheckLoopback(c.Daemon.HTTPAddr()); err != nil {
			t.Fatalf("accepted non-loopback http %q", c.Daemon.HTTPAddr())
		}
		for _, p := range c.Profiles {
			if len(p.Scopes) == 0 {
				t.Fatal("profile without scopes accepted")
			}
		}
	})
}

// The example in configs/ must stay valid.
func TestExampleConfig(t *testing.T) {
	c, err := Load("../../configs/config.example.toml", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Profiles) != 7 || c.DefaultProfile != "dbx" {
		t.Fatalf("example = %+v", c)
	}
}

// A user profile needs no app registration and no tenant: it signs in with
// the Azure CLI's public client at the account's home tenant, as az login
// and the Azure SDKs' interactive credentials do. With databricks_host, the
// tenant is left to discovery; a client_id or tenant given is kept.
func TestUserFlowDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte(`
[profiles.a]
flow = "device-code"
[profiles.b]
flow = "browser"
databricks_host = "https://adb-1.2.azuredatabricks.net"
[profiles.c]
flow = "password"
client_id = "11111111-1111-1111-1111-111111111111"
tenant = "contoso.onmicrosoft.com"
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, cc := c.Profiles["a"], c.Profiles["b"], c.Profiles["c"]
	if a.ClientID != AzureCLIClientID || a.Tenant != "organizations" || a.AuthorityURL() != "https://login.microsoftonline.com/organizations" {
		t.Errorf("a: client %q tenant %q authority %q", a.ClientID, a.Tenant, a.AuthorityURL())
	}
	if b.ClientID != AzureCLIClientID || !b.NeedsTenant() {
		t.Errorf("b: client %q, tenant %q (want it discovered from the workspace)", b.ClientID, b.Tenant)
	}
	if cc.ClientID != "11111111-1111-1111-1111-111111111111" || cc.Tenant != "contoso.onmicrosoft.com" {
		t.Errorf("c: %q %q", cc.ClientID, cc.Tenant)
	}
}

// TestDatabricksHosts: databricks_hosts are normalized and deduplicated
// after databricks_host; account console hosts are told apart as the
// Databricks SDKs tell them.
func TestDatabricksHosts(t *testing.T) {
	c, err := Parse("config.toml", []byte(`[profiles.a]
flow = "azure-cli"
databricks_host = "adb-1.azuredatabricks.net"
databricks_hosts = ["https://ACCOUNTS.azuredatabricks.net/", "https://adb-1.azuredatabricks.net", "adb-2.azuredatabricks.net", "https://adb-2.azuredatabricks.net/?o=2"]
databricks_account_id = "0f0e0d0c-0b0a-4909-8807-060504030201"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Profiles["a"].AllDatabricksHosts(), " ")
	if want := "https://adb-1.azuredatabricks.net https://accounts.azuredatabricks.net https://adb-2.azuredatabricks.net"; got != want {
		t.Fatalf("hosts = %s, want %s", got, want)
	}
	for host, want := range map[string]bool{
		"https://accounts.azuredatabricks.net": true, "accounts.azuredatabricks.us": true, "https://accounts-dod.cloud.databricks.mil": true,
		"https://adb-1.azuredatabricks.net": false, "https://myaccounts.azuredatabricks.net": false, "http://accounts.x": false, "": false,
	} {
		if IsAccountHost(host) != want {
			t.Errorf("IsAccountHost(%q) = %v", host, !want)
		}
	}
}

// TestHTTPAddr: the fixed default port, daemon.http, and $TOKEND_HTTP over
// both.
func TestHTTPAddr(t *testing.T) {
	t.Setenv(HTTPEnv, "")
	c, _ := Parse("a.toml", nil)
	if a, from := c.HTTPAddr(); a != "127.0.0.1:18653" || !strings.Contains(from, "default") {
		t.Fatalf("default: %q from %q", a, from)
	}
	c, _ = Parse("a.toml", []byte("[daemon]\nhttp = \"[::1]:9000\"\n"))
	if a, from := c.HTTPAddr(); a != "[::1]:9000" || from != "daemon.http in a.toml" {
		t.Fatalf("config: %q from %q", a, from)
	}
	t.Setenv(HTTPEnv, "127.0.0.1:0")
	if a, from := c.HTTPAddr(); a != "127.0.0.1:0" || from != "$TOKEND_HTTP" {
		t.Fatalf("env: %q from %q", a, from)
	}
}
