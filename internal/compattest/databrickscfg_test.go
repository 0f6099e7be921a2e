package compattest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/ini.v1"

	"github.com/tokend/tokend/internal/databrickscfg"
	"github.com/tokend/tokend/internal/emutest"
)

// loadLikeSDK reads a Databricks config file exactly as the Databricks SDK
// for Go does (config/config_file.go, LoadFile): gopkg.in/ini.v1 with
// SpaceBeforeInlineComment, the path from DATABRICKS_CONFIG_FILE, else
// ~/.databrickscfg, "~" expanded.
func loadLikeSDK(t *testing.T) (*ini.File, string) {
	t.Helper()
	path := os.Getenv("DATABRICKS_CONFIG_FILE")
	if path == "" {
		path = "~/.databrickscfg"
	}
	if strings.HasPrefix(path, "~") {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		path = home + path[1:]
	}
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, path)
	if err != nil {
		t.Fatalf("the SDK's INI reader refuses %s: %v", path, err)
	}
	return f, path
}

// profileLikeSDK is a profile's attributes as the SDK resolves them: the
// section's own keys (KeysHash); a section without keys is no profile.
func profileLikeSDK(t *testing.T, f *ini.File, name string) map[string]string {
	t.Helper()
	kv := f.Section(name).KeysHash()
	if len(kv) == 0 {
		t.Fatalf("the SDK finds no %s profile", name)
	}
	return kv
}

// TestDatabricksCfgWithTheSDKsReader: `token databricks configure` writes
// profiles that the Databricks SDK for Go's reader (gopkg.in/ini.v1, its
// options, DATABRICKS_CONFIG_FILE) reads as written, leaves every other
// profile byte for byte, and a metadata-service client that reads the file
// gets a token for the workspace host and for the account console;
// `token databricks remove` gives the file back.
func TestDatabricksCfgWithTheSDKsReader(t *testing.T) {
	d := startTokend(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dbx.cfg")
	if err := os.WriteFile(cfg, []byte(emutest.UserDatabricksCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABRICKS_CONFIG_FILE", cfg)
	run := func(args ...string) string {
		t.Helper()
		cmd := d.tokenCmd(t.Context(), args...)
		cmd.Env = append(cmd.Env, "DATABRICKS_CONFIG_FILE="+cfg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("token %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	before, _ := loadLikeSDK(t)
	run("databricks", "configure", "app")
	run("databricks", "configure", "app", "--section", "app-account", "--host", accountHost)

	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), emutest.UserDatabricksCfg) {
		t.Fatalf("the user's part of the file changed:\n%s", data)
	}
	f, path := loadLikeSDK(t)
	if path != cfg {
		t.Fatalf("the SDK reads %s", path)
	}
	for _, s := range before.Sections() {
		if a, b := s.KeysHash(), f.Section(s.Name()).KeysHash(); !maps.Equal(a, b) {
			t.Errorf("[%s] as the SDK reads it changed: %v -> %v", s.Name(), a, b)
		}
	}
	ws := profileLikeSDK(t, f, "app")
	acct := profileLikeSDK(t, f, "app-account")
	if ws["host"] != workspace || ws["auth_type"] != "metadata-service" || !strings.HasPrefix(ws["metadata_service_url"], "http://127.0.0.1:") {
		t.Fatalf("[app] = %v", ws)
	}
	if acct["host"] != accountHost || acct["account_id"] != accountID || acct["auth_type"] != "metadata-service" {
		t.Fatalf("[app-account] = %v", acct)
	}

	// A metadata-service client reading the file, for each host.
	for _, tc := range []struct{ profile, host string }{{"app", ws["host"]}, {"app-account", acct["host"]}} {
		p := profileLikeSDK(t, f, tc.profile)
		r, err := metadataServiceToken(t.Context(), p["metadata_service_url"], tc.host)
		if err != nil {
			t.Fatalf("[%s] for %s: %v", tc.profile, tc.host, err)
		}
		if aud := claims(t, r.Token)["aud"]; aud != databricksResource || !d.issued(r.Token) {
			t.Fatalf("[%s]: a token for %v", tc.profile, aud)
		}
	}
	if _, err := metadataServiceToken(t.Context(), ws["metadata_service_url"], "https://adb-9.9.azuredatabricks.net"); err == nil {
		t.Fatal("a host not of the profile got a token")
	}

	// Python's configparser (the Databricks SDK for Python's reader) reads
	// the same profiles.
	if py, err := exec.LookPath("python3"); err == nil {
		out, err := exec.Command(py, "-c", `import configparser, json, sys
c = configparser.ConfigParser(interpolation=None)
c.read(sys.argv[1])
print(json.dumps({s: dict(c[s]) for s in ("app", "app-account")}))`, cfg).CombinedOutput()
		if err != nil {
			t.Fatalf("configparser: %v\n%s", err, out)
		}
		var got map[string]map[string]string
		json.Unmarshal(out, &got)
		if got["app"]["metadata_service_url"] != ws["metadata_service_url"] || got["app-account"]["account_id"] != accountID || got["app"]["auth_type"] != "metadata-service" {
			t.Errorf("configparser reads %v", got)
		}
	}

	run("databricks", "remove", "app")
	run("databricks", "remove", "app-account")
	if data, _ := os.ReadFile(cfg); string(data) != emutest.UserDatabricksCfg {
		t.Fatalf("after remove:\n%q\nwant\n%q", data, emutest.UserDatabricksCfg)
	}
}

// TestDatabricksCfgParserAgainstGoINI: tokend's reader accepts exactly the
// files the SDK's accepts, and reads the same values (the seeds of a
// differential fuzz target, run as a test).
func TestDatabricksCfgParserAgainstGoINI(t *testing.T) {
	for i, doc := range iniCorpus {
		t.Run(fmt.Sprint(i), func(t *testing.T) { compareWithGoINI(t, doc) })
	}
}

var iniCorpus = []string{
	emutest.UserDatabricksCfg,
	"; keys before any section are DEFAULT's\nhost = x\n[a]\nnotes = \"\"\"two\nlines\"\"\"\n",
	"",
	"host = x",
	"[a]\nk = v",
	"[a]\nk = v\\\n  more\n\nj = w",
	"[a]\nk = `multi\nline`\n",
	"[a]\nk = \"\"\"one\"\"\" trailing\n",
	"[a]\nk = \"\"\"never closed\n",
	"[a]\n\"k:1\" = v\n",
	"[a]\n`k` = v\n",
	"[a]\nk\n",
	"[a]\n= v\n",
	"[a\nk = v\n",
	"[]\n",
	"[ spaced ]\nk = v\n",
	"[a]]\nk = v\n",
	"[a] # comment\nk = v\n",
	"[a]\nk: v\n",
	"[a]\nk = 'q'\n",
	"[a]\nk = \"q\"\n",
	"[a]\nk = \"q\" x \"\n",
	"[a]\nk = v;c\nj = v ;c\nh = v #c\ni = v#c\n",
	"[a]\nk = 1\nk = 2\n[b]\nk = 3\n[a]\nk = 4\n",
	"\ufeff[a]\nk = v\n",
	"[a]\r\nk = v\r\n",
	"  [a]\n  k = v\n",
	"[a]\nk =\n",
	"[a]\nk = \\\n",
	"0=\"\"\"",
	"0=\"\"\"\n",
	"[a]\nk = ```\n",
	"[a]\n\"\"\"k\"\"\" = v\n",
}

// FuzzDatabricksCfgParser: tokend's reader and go-ini agree (run with
// `go test -fuzz FuzzDatabricksCfgParser` in this module).
func FuzzDatabricksCfgParser(f *testing.F) {
	for _, doc := range iniCorpus {
		f.Add(doc)
	}
	f.Fuzz(compareWithGoINI)
}

func compareWithGoINI(t *testing.T, doc string) {
	ours, oerr := databrickscfg.Parse([]byte(doc))
	if strings.HasPrefix(doc, "\xff\xfe") || strings.HasPrefix(doc, "\xfe\xff") {
		// go-ini drops a UTF-16 byte-order mark and reads the rest as
		// bytes; tokend refuses to write into such a file on purpose.
		if oerr == nil {
			t.Fatalf("%q: a UTF-16 file accepted", doc)
		}
		return
	}
	theirs, terr := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, []byte(doc))
	if (oerr == nil) != (terr == nil) {
		t.Fatalf("%q: tokend's reader says %v, go-ini %v", doc, oerr, terr)
	}
	if oerr != nil {
		if !errors.Is(oerr, databrickscfg.ErrSyntax) {
			t.Fatalf("%q: %v", doc, oerr)
		}
		return
	}
	for _, s := range theirs.Sections() {
		got, _ := ours.Section(s.Name())
		if want := s.KeysHash(); !maps.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%q: [%s] tokend reads %q, go-ini %q", doc, s.Name(), got, want)
		}
	}
	for _, name := range ours.Sections() {
		if len(theirs.Section(name).KeysHash()) == 0 {
			t.Fatalf("%q: tokend reads [%s], go-ini does not", doc, name)
		}
	}
}
