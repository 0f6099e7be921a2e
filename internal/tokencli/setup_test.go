//go:build unix

package tokencli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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

	if written, err := writeProfile(path, "dbx", dbx, ""); err != nil || !written {
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

	if written, err := writeProfile(path, "dbx", dbx, ""); err != nil || written {
		t.Fatalf("again: %v %v", written, err)
	}
	graph := profileTOML("graph", flow.Get(flow.Browser), &setupFlags{scopes: []string{"https://graph.microsoft.com/.default"}, tenant: "contoso.example"})
	os.Chmod(path, 0o640)
	if written, err := writeProfile(path, "graph", graph, ""); err != nil || !written {
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
	if _, err := writeProfile(path, "dbx", other, ""); err == nil || !strings.Contains(err.Error(), "already, with other settings") {
		t.Fatalf("a clash: %v", err)
	}
	bad := profileTOML("bad", flow.Get(flow.ClientSecret), &setupFlags{}) // no client_id
	if _, err := writeProfile(path, "bad", bad, ""); err == nil || !strings.Contains(err.Error(), "would not load") {
		t.Fatalf("a profile that does not load: %v", err)
	}
	if now, _ := os.ReadFile(path); string(now) != string(second) {
		t.Fatal("a refused setup wrote the file")
	}

	broken := filepath.Join(t.TempDir(), "broken.toml")
	os.WriteFile(broken, []byte("[profiles.x]\ntenat = 1\n"), 0o600)
	if _, err := writeProfile(broken, "dbx", dbx, ""); err == nil || !strings.Contains(err.Error(), "fix it first") {
		t.Fatalf("a config that does not load: %v", err)
	}

	// A config linked from elsewhere (a dotfiles repository) stays a link.
	target := filepath.Join(t.TempDir(), "dotfiles.toml")
	os.WriteFile(target, []byte("# mine\n"), 0o600)
	link := filepath.Join(t.TempDir(), "config.toml")
	os.Symlink(target, link)
	if _, err := writeProfile(link, "dbx", dbx, ""); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(target); !strings.HasPrefix(string(data), "# mine\n\n# Added by `token setup dbx`") {
		t.Fatalf("target:\n%s", data)
	}
}

// TestWriteProfileStore: --store goes into a config setup creates; an
// existing config with another store is left alone, with the fix.
func TestWriteProfileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	dbx := profileTOML("dbx", flow.Get(flow.Browser), &setupFlags{})
	if _, err := writeProfile(path, "dbx", dbx, "file"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if cfg, err := config.Parse(path, data); err != nil || cfg.Daemon.Store != "file" {
		t.Fatalf("store %v, %v:\n%s", cfg, err, data)
	}
	graph := profileTOML("graph", flow.Get(flow.Browser), &setupFlags{})
	if _, err := writeProfile(path, "graph", graph, "file"); err != nil {
		t.Fatal(err)
	}
	if _, err := writeProfile(path, "other", profileTOML("other", flow.Get(flow.Browser), &setupFlags{}), "keyring"); err == nil || !strings.Contains(err.Error(), `has the file store (daemon.store): set it to "keyring" there`) {
		t.Fatalf("another store: %v", err)
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

// TestSetupWithDaemon: setup has the running tokend reload the file it
// wrote, and refuses (having written it) when that tokend reads another
// file, or does not load the profile.
func TestSetupWithDaemon(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	t.Setenv("TOKEND_CONFIG", cfg)
	for _, tc := range []struct {
		name, daemonConfig, reload string
		code                       int
		stderr                     string
	}{
		{"loads it", cfg, `{"config":"` + cfg + `","added":["dbx"]}`, 0, "tokend (pid 7) loaded profile dbx\nsign in with `token login dbx --browser`\n"},
		{"reads another file", "/etc/other.toml", "", 1, "tokend (pid 7) reads /etc/other.toml, not " + cfg + ", where setup wrote profile dbx: run setup with --config /etc/other.toml, or restart tokend with --config " + cfg},
		{"does not load it", cfg, `{"config":"` + cfg + `","added":[]}`, 1, "tokend (pid 7) reloaded " + cfg + " but has no profile dbx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(cfg)
			sock := filepath.Join(t.TempDir(), "s.sock")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/v1/status":
					fmt.Fprintf(w, `{"pid":7,"config":%q}`, tc.daemonConfig)
				case "/v1/reload":
					io.WriteString(w, tc.reload)
				default:
					http.Error(w, "no", 404)
				}
			})}
			go srv.Serve(ln)
			defer srv.Close()
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), []string{"setup", "dbx", "--databricks-host", "https://adb-1.1.azuredatabricks.net", "--no-login", "--socket", sock}, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) || !strings.HasPrefix(stderr.String(), "wrote profile dbx to "+cfg+"\n") {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}
