package dbxprofile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

// fakeDaemon mints capabilities and records revocations.
type fakeDaemon struct {
	st      wire.Status
	minted  []wire.CapabilityRequest
	revoked []string
	gone    map[string]bool // ids the daemon no longer knows
}

func (d *fakeDaemon) Status(context.Context) (*wire.Status, error) { return &d.st, nil }

func (d *fakeDaemon) CreateCapability(_ context.Context, req wire.CapabilityRequest) (*wire.Capability, error) {
	d.minted = append(d.minted, req)
	id := strings.Repeat(string(rune('0'+len(d.minted))), 16)
	return &wire.Capability{ID: id, Token: "tkd1." + id + ".SECRET", Profile: req.Profile, ExpiresOn: 1900000000, Kind: req.Kind}, nil
}

func (d *fakeDaemon) RevokeCapability(_ context.Context, id string) error {
	if d.gone[id] {
		return &client.Error{Status: 404, Code: wire.CodeInvalidRequest, Description: "no capability"}
	}
	d.revoked = append(d.revoked, id)
	return nil
}

func newFake() *fakeDaemon {
	return &fakeDaemon{gone: map[string]bool{}, st: wire.Status{
		Listeners: wire.Listeners{TCP: "[::1]:18653"},
		Store:     wire.StoreStatus{Backend: "keyring"},
		Profiles: []wire.ProfileStatus{{Name: "dbx", DatabricksHost: "https://adb-1.azuredatabricks.net",
			DatabricksHosts: []string{"https://adb-1.azuredatabricks.net", "https://accounts.azuredatabricks.net"}}},
	}}
}

// TestConfigure: a new profile, its update (the old capability revoked
// after the new one is written), the account console's account_id, and a
// write that fails revoking the capability minted for it.
func TestConfigure(t *testing.T) {
	d := newFake()
	path := filepath.Join(t.TempDir(), "cfg")
	r, err := Configure(t.Context(), d, Options{Profile: "dbx", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := "[dbx]\n; tokend: capability 1111111111111111 of profile dbx, until 2030-03-17; `token databricks remove dbx` revokes it\nhost = https://adb-1.azuredatabricks.net\nauth_type = metadata-service\nmetadata_service_url = http://127.0.0.1:18653/databricks/tkd1.1111111111111111.SECRET\n"
	if string(data) != want || r.Replaced != "" || d.minted[0].Kind != wire.CapabilityDatabricks || !strings.Contains(d.minted[0].Label, "databricks [dbx] in "+path) {
		t.Fatalf("wrote\n%s\nminted %+v", data, d.minted)
	}
	r, err = Configure(t.Context(), d, Options{Profile: "dbx", Path: path})
	if err != nil || r.Replaced != "1111111111111111" || len(d.revoked) != 1 || d.revoked[0] != "1111111111111111" {
		t.Fatalf("update: %+v %v, revoked %v", r, err, d.revoked)
	}
	_, err = Configure(t.Context(), d, Options{Profile: "dbx", Path: path, Section: "acct", Host: "https://accounts.azuredatabricks.net"})
	if err == nil || !strings.Contains(err.Error(), "is an account console: the Databricks SDKs need its account id there") {
		t.Fatalf("account host without an id: %v", err)
	}
	if _, err := Configure(t.Context(), d, Options{Profile: "dbx", Path: path, Section: "acct", Host: "accounts.azuredatabricks.net", AccountID: "a-1"}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.HasSuffix(string(data), "account_id = a-1\n") {
		t.Fatalf("account profile:\n%s", data)
	}

	n := len(d.revoked)
	_, err = Configure(t.Context(), d, Options{Profile: "dbx", Path: filepath.Join(t.TempDir(), "no", "such", "dir", "cfg")})
	if last := strings.Repeat(string(rune('0'+len(d.minted))), 16); err == nil || len(d.revoked) != n+1 || d.revoked[n] != last {
		t.Fatalf("a failed write: %v; revoked %v", err, d.revoked)
	}

	d.st.Listeners.TCP = ""
	if _, err := Configure(t.Context(), d, Options{Profile: "dbx", Path: path}); err == nil || !strings.Contains(err.Error(), "TCP listener is off") {
		t.Fatalf("TCP off: %v", err)
	}
}

// TestRemove: revoke, then remove; a capability the daemon no longer knows
// is no obstacle; nothing of another tool is touched.
func TestRemove(t *testing.T) {
	d := newFake()
	path := filepath.Join(t.TempDir(), "cfg")
	os.WriteFile(path, []byte("[pat]\ntoken = dapi1\n"), 0o600)
	r, err := Configure(t.Context(), d, Options{Profile: "dbx", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	d.gone[r.Capability.ID] = true
	got, err := Remove(t.Context(), d, "dbx", path)
	if err != nil || got.Capability != "" {
		t.Fatalf("remove: %+v %v", got, err)
	}
	if data, _ := os.ReadFile(path); string(data) != "[pat]\ntoken = dapi1\n" {
		t.Fatalf("after remove: %q", data)
	}
	if _, err := Remove(t.Context(), d, "pat", path); err == nil || !strings.Contains(err.Error(), "signs in another way (token)") {
		t.Fatalf("remove another tool's: %v", err)
	}
	os.WriteFile(path, []byte("[dbx]\nhost = https://adb-1.azuredatabricks.net\n"), 0o600)
	if _, err := Remove(t.Context(), d, "dbx", path); err == nil || !strings.Contains(err.Error(), "holds no tokend capability") {
		t.Fatalf("remove one without a capability: %v", err)
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		t.Fatal("not a daemon error")
	}
}

func TestCapabilityID(t *testing.T) {
	for u, want := range map[string]string{
		"http://127.0.0.1:18653/databricks/tkd1.0123456789abcdef.AbC-_9":   "0123456789abcdef",
		"http://localhost:1/databricks/tkd1.0123456789abcdef.x":            "0123456789abcdef",
		"http://[::1]:1/databricks/tkd1.0123456789abcdef.x":                "0123456789abcdef",
		"https://127.0.0.1:1/databricks/tkd1.0123456789abcdef.x":           "",
		"http://10.0.0.1:1/databricks/tkd1.0123456789abcdef.x":             "",
		"http://127.0.0.1:1/databricks/tkd2.0123456789abcdef.x":            "",
		"http://127.0.0.1:1/databricks/tkd1.0123456789abcdef.x?y=1":        "",
		"http://127.0.0.1:1/databricks/tkd1.0123456789abcdef.x/extra":      "",
		"http://127.0.0.1:8080/vscode-metadata-service/0123456789abcdef12": "",
	} {
		if got := CapabilityID(u); got != want {
			t.Errorf("CapabilityID(%q) = %q, want %q", u, got, want)
		}
	}
}
