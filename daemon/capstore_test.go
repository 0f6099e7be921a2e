package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/store"
)

// sealedStore opens the file store (sealed files, key file) in dir.
func sealedStore(t *testing.T, dir string) *store.Sealed {
	t.Helper()
	t.Setenv(store.PassphraseEnv, "")
	st, err := store.NewFile(filepath.Join(dir, "secrets"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mintSpec(t *testing.T, cs *capabilities, spec capSpec) (*capability, string) {
	t.Helper()
	c, secret, err := cs.mint(t.Context(), spec)
	if err != nil {
		t.Fatalf("mint %+v: %v", spec, err)
	}
	return c, secret
}

// TestCapabilitiesSurviveRestart: capabilities are kept in the sealed store
// (their hashes, profile, kind, label, scopes, hosts, owner, expiry and
// last use; never a secret), so that a daemon started a day later on the
// same state directory honours them; revoked and expired ones stay dead.
func TestCapabilitiesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	st := sealedStore(t, dir)
	cs := newCapabilities(clk, st, nil)
	dbx, dbxSecret := mintSpec(t, cs, capSpec{profile: "dbx", kind: capDatabricks, label: "databricks dbx in ~/.databrickscfg",
		scopes: []string{dbxScope}, hosts: []string{dbxHost, "https://accounts.azuredatabricks.net"}, uid: 1000, ttl: 90 * 24 * time.Hour})
	env, envSecret := mintSpec(t, cs, capSpec{profile: "app", kind: capEnv, label: "env", uid: 1000, ttl: 30 * time.Hour})
	_, shortSecret := mintSpec(t, cs, capSpec{profile: "app", kind: capEnv, uid: 1000, ttl: time.Hour})
	gone, goneSecret := mintSpec(t, cs, capSpec{profile: "app", kind: capEnv, uid: 1000, ttl: 30 * time.Hour})
	if c, err := cs.revoke(t.Context(), gone.id); c == nil || err != nil {
		t.Fatalf("revoke: %v %v", c, err)
	}
	clk.Advance(time.Hour / 2)
	if cs.check(dbxSecret) != dbx {
		t.Fatal("fresh capability refused")
	}
	dbx.used(clk.Now())
	cs.flush(t.Context()) // what the saver does every 30 s, and at Close
	usedAt := clk.Now().Unix()

	// What is on disk: no secret, sealed.
	raw, err := os.ReadFile(filepath.Join(dir, "secrets", "capabilities.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{dbxSecret, envSecret, shortSecret} {
		part := secret[strings.LastIndex(secret, ".")+1:]
		if strings.Contains(string(raw), part) || strings.Contains(string(raw), "databricks dbx") {
			t.Fatal("the capability file holds plaintext")
		}
	}
	plain, err := st.Get(t.Context(), capKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{dbxSecret, envSecret, shortSecret} {
		if strings.Contains(string(plain), secret[strings.LastIndex(secret, ".")+1:]) {
			t.Fatalf("the stored capabilities hold a secret: %s", plain)
		}
	}
	st.Close()

	// A day later, another daemon on the same state directory.
	clk.Advance(24 * time.Hour)
	st2 := sealedStore(t, dir)
	defer st2.Close()
	cs2 := newCapabilities(clk, st2, nil)
	got := cs2.check(dbxSecret)
	if got == nil {
		t.Fatal("the Databricks capability did not survive the restart")
	}
	if got.kind != capDatabricks || got.label != dbx.label || got.uid != 1000 || !slices.Equal(got.hosts, dbx.hosts) ||
		!slices.Equal(got.scopes, dbx.scopes) || !got.expires.Equal(dbx.expires.Truncate(time.Second)) || got.lastUsed.Load() != usedAt {
		t.Fatalf("restored %+v, want %+v (last use %d)", got, dbx, usedAt)
	}
	if c := cs2.check(envSecret); c == nil || c.id != env.id {
		t.Fatal("the env capability did not survive the restart")
	}
	if cs2.check(goneSecret) != nil {
		t.Fatal("a revoked capability came back")
	}
	if cs2.check(shortSecret) != nil {
		t.Fatal("a capability that expired while the daemon was down works")
	}
	if ids := listIDs(cs2); !slices.Equal(ids, []string{env.id, dbx.id}) && !slices.Equal(ids, []string{dbx.id, env.id}) {
		t.Fatalf("list = %v", ids)
	}
	clk.Advance(7 * time.Hour) // the env capability's 30 h are over
	if cs2.check(envSecret) != nil {
		t.Fatal("an expired capability works")
	}
}

func listIDs(cs *capabilities) []string {
	var ids []string
	for _, i := range cs.list() {
		ids = append(ids, i.ID)
	}
	return ids
}

// TestDamagedCapabilityStore: a capability file that does not open (cut,
// flipped bits, another file copied over it) is set aside, never
// overwritten, and said so; the daemon goes on and mints new ones.
func TestDamagedCapabilityStore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path, dir string)
	}{
		{"flipped byte", func(t *testing.T, path, _ string) {
			b, _ := os.ReadFile(path)
			b[len(b)/2] ^= 0x40
			os.WriteFile(path, b, 0o600)
		}},
		{"cut short", func(t *testing.T, path, _ string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:10], 0o600)
		}},
		{"another secret's file copied over it", func(t *testing.T, path, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, "secrets", "profile%2Fapp%2Fmsal-cache.sealed"))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, b, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := clock.NewFake(t0)
			st := sealedStore(t, dir)
			if err := st.Set(t.Context(), "profile/app/msal-cache", []byte(`{"a":"sign-in"}`)); err != nil {
				t.Fatal(err)
			}
			cs := newCapabilities(clk, st, nil)
			_, old := mintSpec(t, cs, capSpec{profile: "app", kind: capEnv, uid: 1, ttl: time.Hour})
			st.Close()
			path := filepath.Join(dir, "secrets", "capabilities.sealed")
			tc.damage(t, path, dir)
			damaged, _ := os.ReadFile(path)

			st2 := sealedStore(t, dir)
			defer st2.Close()
			cs2 := newCapabilities(clk, st2, nil)
			if err := cs2.load(t.Context()); err != nil {
				t.Fatalf("load: %v", err)
			}
			if cs2.check(old) != nil {
				t.Fatal("a capability from the damaged file works")
			}
			note := cs2.setAsideNote()
			m, _ := filepath.Glob(path + ".damaged-*")
			if len(m) != 1 || !strings.Contains(note, m[0]) || !strings.Contains(note, "token databricks configure") {
				t.Fatalf("set aside: %v, note %q", m, note)
			}
			if kept, _ := os.ReadFile(m[0]); string(kept) != string(damaged) {
				t.Fatal("the damaged file was not kept as it was")
			}
			_, fresh := mintSpec(t, cs2, capSpec{profile: "app", kind: capEnv, uid: 1, ttl: time.Hour})
			if cs2.check(fresh) == nil {
				t.Fatal("new capability refused")
			}
			if v, err := st2.Get(t.Context(), "profile/app/msal-cache"); err != nil || string(v) != `{"a":"sign-in"}` {
				t.Fatalf("the sign-in next to it: %q %v", v, err)
			}
		})
	}
}

// TestCapabilityStoreUnavailable: while the store cannot be read (a locked
// keychain, the wrong key), capabilities for shells and files are refused
// with the store's message, `token exec`'s are kept in memory, and nothing
// is written over the saved ones; once the store works, both are kept.
func TestCapabilityStoreUnavailable(t *testing.T) {
	clk := clock.NewFake(t0)
	st := &lockableStore{Memory: store.NewMemory()}
	cs := newCapabilities(clk, st, nil)
	_, saved := mintSpec(t, cs, capSpec{profile: "app", kind: capDatabricks, hosts: []string{dbxHost}, uid: 1, ttl: time.Hour})
	_, gone := mintSpec(t, cs, capSpec{profile: "gone", kind: capEnv, uid: 1, ttl: time.Hour})
	before, _ := st.Memory.Get(t.Context(), capKey)

	locked := errors.New("the keychain is locked: unlock it")
	st.lock(errors.Join(store.ErrUnavailable, locked))
	cs2 := newCapabilities(clk, st, nil) // a restart while locked
	if _, _, err := cs2.mint(t.Context(), capSpec{profile: "app", kind: capEnv, uid: 1, ttl: time.Hour}); !errors.Is(err, locked) {
		t.Fatalf("env capability while the store is locked: %v", err)
	}
	if _, err := cs2.revoke(t.Context(), "0123456789abcdef"); !errors.Is(err, locked) {
		t.Fatalf("revoke while the store is locked: %v", err)
	}
	cs2.revokeProfile(t.Context(), "gone") // signed out while locked
	exec, execSecret := mintSpec(t, cs2, capSpec{profile: "app", kind: capExec, uid: 1, ttl: time.Hour})
	if cs2.check(execSecret) != exec {
		t.Fatal("exec capability refused")
	}
	if cs2.check(saved) != nil {
		t.Fatal("a saved capability works before it could be read")
	}
	if after, _ := st.Memory.Get(t.Context(), capKey); string(after) != string(before) {
		t.Fatal("the saved capabilities changed while they could not be read")
	}

	st.lock(nil)
	cs2.persist.lastFail = time.Time{} // do not wait loadRetry
	if cs2.check(saved) == nil {
		t.Fatal("the saved capability does not work once the store does")
	}
	cs2.flush(t.Context()) // what the saver does
	cs3 := newCapabilities(clk, st, nil)
	if cs3.check(saved) == nil || cs3.check(execSecret) == nil {
		t.Fatal("after the store came back, a restart lost capabilities")
	}
	if cs2.check(gone) != nil || cs3.check(gone) != nil {
		t.Fatal("a profile signed out while the store was locked kept its saved capability")
	}
}

// TestCapabilityOwner: a capability is bound to the uid that minted it;
// root may present only `token exec`'s; an unknown uid (macOS, an in-process
// capability) leaves it to the capability.
func TestCapabilityOwner(t *testing.T) {
	for _, tc := range []struct {
		kind      capKind
		owner, by int
		ok        bool
	}{
		{capEnv, 1000, 1000, true},
		{capEnv, 1000, 1001, false},
		{capEnv, 1000, 0, false},
		{capDatabricks, 1000, 0, false},
		{capDatabricks, 1000, 1001, false},
		{capExec, 1000, 0, true},
		{capExec, 1000, 1001, false},
		{capEnv, 0, 0, true},
		{capEnv, 0, 1000, false},
		{capDatabricks, 1000, -1, true},
		{capEnv, -1, 1001, true},
	} {
		c := &capability{kind: tc.kind, uid: tc.owner}
		root := func(uid int) bool { return uid == 0 }
		if got := c.admitsUID(tc.by, root); got != tc.ok {
			t.Errorf("%s capability of uid %d presented by uid %d: admitted %v, want %v", tc.kind, tc.owner, tc.by, got, tc.ok)
		}
	}
}

var _ SecretStore = (*store.Sealed)(nil)
var _ setAsider = (*store.Sealed)(nil)
