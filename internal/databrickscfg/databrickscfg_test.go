package databrickscfg

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A file as people keep them: comments, a DEFAULT part, profiles with PATs
// and OAuth, CRLF-free, a value with '#' (a password) and one continued.
const sample = `; Databricks CLI profiles
host = https://adb-0.azuredatabricks.net

[prod]
host  = https://adb-1.azuredatabricks.net   ; the main workspace
token = dapi0123#not-a-comment

# staging: OAuth through the CLI
[staging]
host=https://adb-2.azuredatabricks.net
auth_type: databricks-cli
cluster_id = 0123-\
  456789-abc

[__settings__]
default_profile = prod
`

func mustParse(t *testing.T, s string) *File {
	t.Helper()
	f, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, s)
	}
	return f
}

// TestParse reads values as the Databricks SDK for Go does (the compat
// module checks the same files against gopkg.in/ini.v1 itself).
func TestParse(t *testing.T) {
	f := mustParse(t, sample)
	for name, want := range map[string]map[string]string{
		"DEFAULT":      {"host": "https://adb-0.azuredatabricks.net"},
		"prod":         {"host": "https://adb-1.azuredatabricks.net", "token": "dapi0123#not-a-comment"},
		"staging":      {"host": "https://adb-2.azuredatabricks.net", "auth_type": "databricks-cli", "cluster_id": "0123-456789-abc"},
		"__settings__": {"default_profile": "prod"},
	} {
		got, ok := f.Section(name)
		if !ok || !maps.Equal(got, want) {
			t.Errorf("[%s] = %v, want %v", name, got, want)
		}
	}
	if got := strings.Join(f.Sections(), " "); got != "DEFAULT prod staging __settings__" {
		t.Errorf("sections %s", got)
	}
	for _, tc := range []struct{ doc, key, want string }{
		{"[a]\nk = \"quoted\"\n", "k", "quoted"},
		{"[a]\nk = 'single'\n", "k", "single"},
		{"[a]\nk = \"a\"b\"\n", "k", `"a"b"`},
		{"[a]\nk = \"\"\"multi\nline\"\"\"\n", "k", "multi\nline"},
		{"[a]\nk = `back`tick`\n", "k", "back`tick"},
		{"[a]\nk = v;x\n", "k", "v;x"},
		{"[a]\nk = v ;x\n", "k", "v"},
		{"[a]\nk = v\\\n\n", "k", "v"},
		{"[a]\n\"k=1\" = v\n", "k=1", "v"},
		{"[a]\nk =\n", "k", ""},
		{"[a]\nk = 1\nk = 2\n[b]\n[a]\nk = 3\n", "k", "3"},
		{"\ufeff[a]\nk = v\n", "k", "v"},
		{"[a]\r\nk = v\r\n", "k", "v"},
	} {
		f := mustParse(t, tc.doc)
		if got, _ := f.Section("a"); got[tc.key] != tc.want {
			t.Errorf("%q: %s = %q, want %q", tc.doc, tc.key, got[tc.key], tc.want)
		}
	}
}

// TestParseErrors: what the SDKs refuse is refused, naming the line.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"[a]\nhost\n", `line 2: "host" is neither a [section], a key = value nor a comment`},
		{"[a\nk = v\n", "line 1: unclosed section"},
		{"[]\n", "line 1: empty section name"},
		{"[a]\n= v\n", "line 2: empty key name"},
		{"[a]\nk = \"\"\"open\nnever closed\n", "line 2: missing closing \"\"\""},
		{"[a]\n\"k = v\n", "line 2: missing closing key quote"},
		{"[a]\n`k` v\n", "line 2: no '=' or ':' after the key"},
		{"\xff\xfe[\x00a\x00]\x00", "UTF-16"},
		{"{\"host\": 1}\n", `line 1: "{\"host\"`}, // JSON is not INI... it has a ':' though
	} {
		_, err := Parse([]byte(tc.doc))
		if tc.doc == "{\"host\": 1}\n" { // go-ini takes `{"host"` as a key: so do we
			if err != nil {
				t.Errorf("%q: %v", tc.doc, err)
			}
			continue
		}
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

var ours = []KV{
	{"host", "https://adb-9.azuredatabricks.net"},
	{"auth_type", "metadata-service"},
	{"metadata_service_url", "http://127.0.0.1:18653/databricks/tkd1.0123456789abcdef.SECRET"},
}

// TestSetNew appends a profile and changes no other byte; Remove gives the
// file back byte for byte.
func TestSetNew(t *testing.T) {
	for _, doc := range []string{sample, "", "[a]\nk = v", "[a]\r\nk = v\r\n", "\ufeff# bom\n", "[a]\nk = v\n\n\n"} {
		f := mustParse(t, doc)
		nf, err := f.Set("dbx", ours, "; tokend: capability 0123456789abcdef")
		if err != nil {
			t.Fatal(err)
		}
		got := string(nf.Bytes())
		if !strings.HasPrefix(got, strings.TrimRight(doc, "")) && !strings.HasPrefix(got, doc) {
			t.Fatalf("%q: the file's own bytes changed:\n%q", doc, got)
		}
		nl := "\n"
		if strings.Contains(doc, "\r\n") {
			nl = "\r\n"
		}
		tail := "[dbx]" + nl + "; tokend: capability 0123456789abcdef" + nl + "host = https://adb-9.azuredatabricks.net" + nl + "auth_type = metadata-service" + nl + "metadata_service_url = http://127.0.0.1:18653/databricks/tkd1.0123456789abcdef.SECRET" + nl
		if !strings.HasSuffix(got, tail) {
			t.Fatalf("%q: appended\n%q", doc, got[len(doc):])
		}
		if v, _ := nf.Section("dbx"); v["metadata_service_url"] != ours[2].Value || len(v) != 3 {
			t.Fatalf("read back %v", v)
		}
		for _, name := range f.Sections() {
			a, _ := f.Section(name)
			b, _ := nf.Section(name)
			if !maps.Equal(a, b) {
				t.Fatalf("[%s] changed: %v -> %v", name, a, b)
			}
		}
		back, found, err := nf.Remove("dbx")
		if err != nil || !found {
			t.Fatalf("remove: %v %v", found, err)
		}
		want := doc
		switch {
		case doc != "" && !strings.HasSuffix(doc, "\n"):
			want += "\n" // the line ending added before the blank line stays
		case strings.HasSuffix(doc, "\n\n"):
			want = strings.TrimSuffix(doc, "\n") // Set added no blank line, Remove takes one
		}
		if string(back.Bytes()) != want {
			t.Fatalf("%q: after remove\n%q", doc, back.Bytes())
		}
	}
}

// TestSetExisting updates a profile in place: its values are replaced where
// they stand, its other keys and comments stay, a repeated key keeps one
// place, a continued value is replaced whole; nothing else moves.
func TestSetExisting(t *testing.T) {
	doc := `[other]
host = https://adb-1.azuredatabricks.net

[dbx]
; tokend: capability 1111111111111111, old
host = https://old.azuredatabricks.net
# my cluster
cluster_id = 0123-456789-abc
metadata_service_url = http://127.0.0.1:1/databricks/\
  tkd1.1111111111111111.OLD
host = https://older.azuredatabricks.net

# the next one
[next]
k = v
`
	f := mustParse(t, doc)
	nf, err := f.Set("dbx", ours, "; tokend: capability 0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	want := `[other]
host = https://adb-1.azuredatabricks.net

[dbx]
; tokend: capability 0123456789abcdef
host = https://adb-9.azuredatabricks.net
# my cluster
cluster_id = 0123-456789-abc
metadata_service_url = http://127.0.0.1:18653/databricks/tkd1.0123456789abcdef.SECRET
auth_type = metadata-service

# the next one
[next]
k = v
`
	if got := string(nf.Bytes()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	rm, _, err := nf.Remove("dbx")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(rm.Bytes()), "[other]\nhost = https://adb-1.azuredatabricks.net\n\n# the next one\n[next]\nk = v\n"; got != want {
		t.Fatalf("after remove\n%q\nwant\n%q", got, want)
	}
	if _, found, _ := rm.Remove("dbx"); found {
		t.Fatal("removed twice")
	}
	// No trailing newline, keys added at the end.
	nf, err = mustParse(t, "[dbx]\ncluster_id = c").Set("dbx", ours[:1], "")
	if err != nil || string(nf.Bytes()) != "[dbx]\ncluster_id = c\nhost = https://adb-9.azuredatabricks.net" {
		t.Fatalf("%q %v", nf.Bytes(), err)
	}
}

// TestSetRefuses: a profile named twice, a reserved or unreadable name, a
// value that would not read back.
func TestSetRefuses(t *testing.T) {
	f := mustParse(t, "[dbx]\nk = 1\n[x]\n[dbx]\nk = 2\n")
	if _, err := f.Set("dbx", ours, ""); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "lines 1 and 4") {
		t.Fatalf("duplicate: %v", err)
	}
	if _, _, err := f.Remove("dbx"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("remove duplicate: %v", err)
	}
	for _, name := range []string{"", "__settings__", "a b", "a]b", "a\nb", "a;b"} {
		if _, err := f.Set(name, ours, ""); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	for _, kv := range []KV{{"k", "a #b"}, {"k", `a\`}, {"k", "\"q\""}, {"k", "a\nb"}, {"k=", "v"}, {"k", " v"}} {
		if _, err := f.Set("new", []KV{kv}, ""); err == nil {
			t.Errorf("%+v accepted", kv)
		}
	}
}

// TestLoadWrite: the file rules of `token databricks configure`.
func TestLoadWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".databrickscfg")
	l, err := Load(path)
	if err != nil || l.Exists {
		t.Fatalf("missing file: %+v %v", l, err)
	}
	nf, _ := l.File.Set("dbx", ours, "")
	if err := l.Write(nf); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("written: %v %v", fi, err)
	}
	os.Chmod(path, 0o644)
	l, err = Load(path)
	if err != nil || !l.Exists || l.Mode.Perm() != 0o644 {
		t.Fatalf("load: %+v %v", l, err)
	}
	os.WriteFile(path, []byte("[dbx]\nhost = changed\n"), 0o644) // someone else, meanwhile
	nf, _ = l.File.Set("dbx", ours, "")
	if err := l.Write(nf); err == nil || !strings.Contains(err.Error(), "changed while tokend was editing it") {
		t.Fatalf("write over a change: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "[dbx]\nhost = changed\n" {
		t.Fatalf("the other change was lost: %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}

	os.WriteFile(path, []byte("[dbx]\nthis is not ini\n"), 0o600)
	if _, err := Load(path); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("not INI: %v", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := Load(link); err == nil || !strings.Contains(err.Error(), "is a symbolic link (to "+path+")") {
		t.Fatalf("symlink: %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
	if os.Getuid() == 0 {
		other := filepath.Join(dir, "other")
		os.WriteFile(other, []byte("[a]\nk = v\n"), 0o644)
		os.Chown(other, 65534, 65534)
		if _, err := Load(other); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Fatalf("another user's file: %v", err)
		}
	}
}

func TestPath(t *testing.T) {
	home, _ := os.UserHomeDir()
	t.Setenv(EnvFile, "")
	if p, err := Path(); err != nil || p != filepath.Join(home, ".databrickscfg") && p != home+"/.databrickscfg" {
		t.Fatalf("default: %q %v", p, err)
	}
	t.Setenv(EnvFile, "~/x/cfg")
	if p, _ := Path(); p != home+"/x/cfg" {
		t.Fatalf("~: %q", p)
	}
	t.Setenv(EnvFile, "/etc/dbx.cfg")
	if p, _ := Path(); p != "/etc/dbx.cfg" {
		t.Fatalf("env: %q", p)
	}
}

// FuzzEdit: whatever Parse accepts, Set adds a profile that reads back
// with the values written and leaves every other section as it was; Remove
// takes it away again.
func FuzzEdit(f *testing.F) {
	for _, s := range []string{sample, "", "[a]\nk = v", "[a]\r\nk = \"\"\"x\ny\"\"\"\r\n", "k = \\\n", "[dbx]\nhost = x\n[dbx]\n", "\ufeff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		pf, err := Parse([]byte(doc))
		if err != nil {
			return
		}
		for _, name := range []string{"tokend-fuzz", "a"} {
			nf, err := pf.Set(name, ours, "; tokend: fuzz")
			if errors.Is(err, ErrDuplicate) || errors.Is(err, ErrCannotEdit) {
				continue // refused, changing nothing
			}
			if err != nil {
				t.Fatalf("set %s: %v", name, err)
			}
			got, _ := nf.Section(name)
			for _, kv := range ours {
				if got[kv.Key] != kv.Value {
					t.Fatalf("[%s] %s = %q after Set, want %q\n%q", name, kv.Key, got[kv.Key], kv.Value, nf.Bytes())
				}
			}
			for _, other := range pf.Sections() {
				if other == name {
					continue
				}
				a, _ := pf.Section(other)
				b, _ := nf.Section(other)
				if !maps.Equal(a, b) {
					t.Fatalf("[%s] changed by Set of [%s]: %v -> %v\n%q", other, name, a, b, nf.Bytes())
				}
			}
			rm, found, err := nf.Remove(name)
			if errors.Is(err, ErrCannotEdit) {
				continue
			}
			if err != nil || !found {
				t.Fatalf("remove: %v %v", found, err)
			}
			for _, other := range pf.Sections() {
				a, _ := pf.Section(other)
				b, _ := rm.Section(other)
				if other != name && !maps.Equal(a, b) {
					t.Fatalf("[%s] changed by Remove of [%s]: %v -> %v", other, name, a, b)
				}
			}
		}
	})
}
