//go:build unix

package tokencli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/flow"
)

// TestWriteProfile: setup creates the config (0600 in a 0700 directory),
// adds to one that exists keeping every byte there, leaves a profile it
// wrote before alone, refuses one of the same name with other settings or
// a config that does not load (writing nothing), and writes through a
// symlink to its target.
func TestWriteProfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokend")
	path := filepath.Join(dir, "config.toml")
	dbx := profileTOML("dbx", flow.Get(flow.DeviceCode), &setupFlags{host: "https://adb-1.1.azuredatabricks.net"})

	if written, err := writeProfile(path, "dbx", dbx); err != nil || !written {
		t.Fatalf("create: %v %v", written, err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, want)
		}
	}
	first, _ := os.ReadFile(path)
	cfg, err := config.Parse(path, first)
	if err != nil || cfg.DefaultProfile != "dbx" || cfg.Profiles["dbx"].Flow != flow.DeviceCode || cfg.Profiles["dbx"].ClientID != config.AzureCLIClientID {
		t.Fatalf("created config: %v\n%s", err, first)
	}

	if written, err := writeProfile(path, "dbx", dbx); err != nil || written {
		t.Fatalf("again: %v %v", written, err)
	}
	graph := profileTOML("graph", flow.Get(flow.Browser), &setupFlags{scopes: []string{"https://graph.microsoft.com/.default"}, tenant: "contoso.example"})
	os.Chmod(path, 0o640)
	if written, err := writeProfile(path, "graph", graph); err != nil || !written {
		t.Fatalf("add: %v %v", written, err)
	}
	second, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(second), string(first)) {
		t.Fatalf("the bytes there before changed:\n%s", second)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("the file's mode changed to %v", fi.Mode())
	}

	other := profileTOML("dbx", flow.Get(flow.Browser), &setupFlags{host: "https://adb-2.2.azuredatabricks.net"})
	if _, err := writeProfile(path, "dbx", other); err == nil || !strings.Contains(err.Error(), "already, with other settings") {
		t.Fatalf("a clash: %v", err)
	}
	bad := profileTOML("bad", flow.Get(flow.ClientSecret), &setupFlags{}) // no client_id
	if _, err := writeProfile(path, "bad", bad); err == nil || !strings.Contains(err.Error(), "would not load") {
		t.Fatalf("a profile that does not load: %v", err)
	}
	if now, _ := os.ReadFile(path); string(now) != string(second) {
		t.Fatal("a refused setup wrote the file")
	}

	broken := filepath.Join(t.TempDir(), "broken.toml")
	os.WriteFile(broken, []byte("[profiles.x]\ntenat = 1\n"), 0o600)
	if _, err := writeProfile(broken, "dbx", dbx); err == nil || !strings.Contains(err.Error(), "fix it first") {
		t.Fatalf("a config that does not load: %v", err)
	}

	// A config linked from elsewhere (a dotfiles repository) stays a link.
	target := filepath.Join(t.TempDir(), "dotfiles.toml")
	os.WriteFile(target, []byte("# mine\n"), 0o600)
	link := filepath.Join(t.TempDir(), "config.toml")
	os.Symlink(target, link)
	if _, err := writeProfile(link, "dbx", dbx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(target); !strings.HasPrefix(string(data), "# mine\n\n# Added by `token setup dbx`") {
		t.Fatalf("target:\n%s", data)
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		`plain`: `"plain"`, `a"b\c`: `"a\"b\\c"`, "tab\there\n": `"tab\u0009here\u000A"`, "é": `"é"`,
	} {
		got := tomlString(in)
		if got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
		cfg, err := config.Parse("t.toml", []byte("[profiles.p]\nflow = \"azure-cli\"\ntenant = "+got+"\n"))
		if err != nil || cfg.Profiles["p"].Tenant != in {
			t.Errorf("%s reads back as %q (%v)", got, cfg.Profiles["p"].Tenant, err)
		}
	}
}
