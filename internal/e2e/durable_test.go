package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/fsfault"
)

// These tests take the store away from the real binaries the ways a real
// machine does — a full disk, a read-only file system, no Secret Service —
// and check tokend's first promise: a sign-in is saved before it is
// reported, a store that cannot write says so, and nothing kept is lost.

// signIn is the sign-in of one profile: its arguments and stdin.
type signIn struct {
	profile, stdin string
	args           []string
}

// signIns are the sign-ins of durableMachine's profiles, one per flow that
// keeps something.
func signIns(cert string) []signIn {
	return []signIn{
		{"user", entraemu.Password + "\n", []string{"--username", entraemu.Username, "--password-stdin"}},
		{"app", entraemu.ClientSecret + "\n", []string{"--client-secret-stdin"}},
		{"browser", "", []string{"--browser", "--no-browser", "--timeout", "20s"}},
		{"device", "", []string{"--device-code", "--timeout", "20s"}},
		{"rt", "a-refresh-token-from-elsewhere\n", []string{"--refresh-token-stdin"}},
		{"cert", "", []string{"--certificate", cert}},
	}
}

// durableMachine is a machine (file store unless said otherwise) with a
// profile of every sign-in flow and its state directory under stateRoot.
func durableMachine(t *testing.T, backend, stateRoot string) *machine {
	t.Helper()
	m := newMachine(t, backend)
	cfg, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]flow.Name{"browser": flow.Browser, "device": flow.DeviceCode, "rt": flow.RefreshToken, "cert": flow.ClientCertificate} {
		cfg = append(cfg, "\n"+emutest.Profile(name, f, m.em.Authority(), m.ca)...)
	}
	if err := os.WriteFile(m.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := m.em.ClientCertificate()
	cert := filepath.Join(filepath.Dir(m.config), "client.pem")
	if err := os.WriteFile(cert, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	m.cert = cert
	m.state = filepath.Join(stateRoot, "state")
	m.env = append(m.env, "TOKEND_STATE_DIR="+m.state)
	return m
}

// refusedSignIns tries every sign-in and wants each to fail with the
// store's message (with each of want), exit 1, and no request reaching the
// identity provider.
func (m *machine) refusedSignIns(want ...string) {
	m.t.Helper()
	m.em.ResetCounts()
	for _, f := range signIns(m.cert) {
		_, errs, code := m.token(f.stdin, append([]string{"login", f.profile}, f.args...)...)
		ok := code == 1 && strings.Contains(errs, "could not be saved")
		for _, w := range want {
			ok = ok && strings.Contains(errs, w)
		}
		if !ok {
			m.t.Errorf("sign-in to %s with a store that cannot write: exit %d, want 1 with %q:\n%s", f.profile, code, want, errs)
		}
		if strings.Contains(errs, "signed in to") {
			m.t.Errorf("sign-in to %s says signed in: %s", f.profile, errs)
		}
	}
	if c := m.em.Counts(); len(c) != 0 {
		m.t.Errorf("the identity provider saw %v for sign-ins that could not be kept", c)
	}
}

// signInBoth signs in the password and client-secret profiles.
func (m *machine) signInBoth() {
	m.t.Helper()
	m.mustToken(entraemu.Password+"\n", "login", "user", "--username", entraemu.Username, "--password-stdin")
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
}

// TestSignInOnFullDisk: with the state directory on a full file system,
// every sign-in fails with the fix before anyone is asked for anything, the
// daemon says at start that sign-ins cannot be saved, and after a restart
// the sign-ins made before still work.
func TestSignInOnFullDisk(t *testing.T) {
	mnt := fsfault.Tmpfs(t, 256<<10)
	m := durableMachine(t, "file", mnt)
	m.start()
	m.signInBoth()
	free := fsfault.Fill(t, mnt)
	m.refusedSignIns("no space left on device", filepath.Join(m.state, "secrets"), "free some space")
	if st := m.status(); st.Store.Healthy || st.Store.State != wire.StoreUnavailable || !strings.Contains(st.Store.Error, "full") {
		t.Errorf("status of a full store: %+v", st.Store)
	}
	m.stop()
	m.start()
	if !strings.Contains(m.logs.String(), "sign-ins cannot be saved") {
		t.Errorf("a daemon starting on a full disk did not say sign-ins cannot be saved:\n%s", m.logs.String())
	}
	m.stop()
	free()
	m.start()
	m.mustToken("", "get", "user")
	m.mustToken("", "get", "app")
	if st := m.status(); !st.Store.Healthy {
		t.Errorf("store unhealthy after space was freed: %+v", st.Store)
	}
	m.stop()
	if names := leftovers(t, filepath.Join(m.state, "secrets")); len(names) > 0 {
		t.Errorf("temp files left in secrets/: %v", names)
	}
}

// TestSignInOnReadOnlyFileSystem: a daemon started on a read-only state
// directory serves the sign-ins in it, refuses new ones with the fix, and
// the old ones work again after the file system is writable.
func TestSignInOnReadOnlyFileSystem(t *testing.T) {
	root := t.TempDir()
	m := durableMachine(t, "file", root)
	m.start()
	m.signInBoth()
	m.stop()
	restore := fsfault.ReadOnly(t, m.state)
	m.start()
	if !strings.Contains(m.logs.String(), "sign-ins cannot be saved") || !strings.Contains(m.logs.String(), "read-only") {
		t.Errorf("a daemon starting on a read-only state dir did not say so:\n%s", m.logs.String())
	}
	m.mustToken("", "get", "app")
	m.mustToken("", "get", "user") // redeems and rotates: kept in memory only
	m.refusedSignIns("read-only file system", filepath.Join(m.state, "secrets"), "remount")
	st := m.status()
	if st.Store.Healthy {
		t.Errorf("a read-only store reports healthy: %+v", st.Store)
	}
	for _, p := range st.Profiles {
		if p.Name == "user" && (p.State != wire.StateUnsaved || !strings.Contains(p.LastError, "read-only")) {
			t.Errorf("user after a rotation on a read-only store: state %q, error %q", p.State, p.LastError)
		}
	}
	m.stop()
	restore()
	m.start()
	m.mustToken("", "get", "user")
	m.mustToken("", "get", "app")
	m.stop()
}

// TestSignInWithoutSecretService: the default keyring store on a session
// with no Secret Service (SSH, a container): the daemon says at start, in
// one line, that sign-ins cannot be saved and what to do; status shows it;
// a sign-in fails with the fix and reaches nobody. With the Secret Service
// back, the sign-in made before works.
func TestSignInWithoutSecretService(t *testing.T) {
	m := durableMachine(t, "keyring", t.TempDir())
	haveKeyring := os.Getenv("TOKEND_SECRET_SERVICE") == "1"
	if haveKeyring {
		m.start()
		m.signInBoth()
		m.stop()
	}
	withBus := m.env
	m.env = append(append([]string(nil), m.env...), "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	m.start()
	var line string
	for _, l := range strings.Split(m.logs.String(), "\n") {
		if strings.Contains(l, "sign-ins cannot be saved") {
			line = l
		}
	}
	if !strings.Contains(line, "--store file") || !strings.Contains(line, "keychain") {
		t.Errorf("no one-line warning naming the fixes at start:\n%s", m.logs.String())
	}
	if st := m.status(); st.Store.State != wire.StoreUnavailable {
		t.Errorf("status without a Secret Service: %+v", st.Store)
	}
	out, _, _ := m.token("", "status")
	if !strings.Contains(out, "store unavailable") {
		t.Errorf("token status does not show the store problem:\n%s", out)
	}
	m.refusedSignIns("keychain", "--store file")
	m.stop()
	if haveKeyring {
		m.env = withBus
		m.start()
		m.mustToken("", "get", "user")
		m.mustToken("", "get", "app")
		m.stop()
	}
}

// TestRotationOnFullDisk: with an identity provider that retires a refresh
// token once its successor is used, a rotation on a full disk is kept in
// memory and shown as unsaved (status and metrics); requests keep being
// served without another redemption; when space is back the newest refresh
// token is saved within one backoff period, and a restarted daemon works
// without a new sign-in.
func TestRotationOnFullDisk(t *testing.T) {
	mnt := fsfault.Tmpfs(t, 256<<10)
	m := durableMachine(t, "file", mnt)
	m.em.SetStrictRotation(true)
	m.start()
	m.signInBoth()
	m.mustToken("", "get", "user")
	free := fsfault.Fill(t, mnt)
	// A new resource is a redemption of the refresh token: a rotation.
	m.mustToken("", "get", "user", "--resource", "https://management.core.windows.net/")
	var user wire.ProfileStatus
	for _, p := range m.status().Profiles {
		if p.Name == "user" {
			user = p
		}
	}
	if user.State != wire.StateUnsaved || !strings.Contains(user.LastError, "no space left") || user.Fix == "" {
		t.Fatalf("after a rotation on a full disk: %+v", user)
	}
	metrics := m.metrics()
	for _, want := range []string{`tokend_profile_state{profile="user",state="unsaved"} 1`, `tokend_store_healthy{backend="file"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	out, _, _ := m.token("", "status")
	if !strings.Contains(out, "unsaved") {
		t.Errorf("token status does not show unsaved:\n%s", out)
	}
	redeemed := m.em.Counts()["refresh_token"]
	for range 5 {
		m.mustToken("", "get", "user")
		m.mustToken("", "get", "user", "--resource", "https://management.core.windows.net/")
	}
	if n := m.em.Counts()["refresh_token"]; n != redeemed {
		t.Errorf("%d redemptions while the newest refresh token was unsaved", n-redeemed)
	}
	free()
	// The retries wait up to 15 s, then 30 s, then 60 s (full jitter).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var state string
		for _, p := range m.status().Profiles {
			if p.Name == "user" {
				state = p.State
			}
		}
		if state == wire.StateReady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not saved 45 s after space was freed: state %s\n%s", state, m.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	m.stop()
	m.em.ResetCounts()
	m.start()
	m.mustToken("", "get", "user", "--resource", "https://management.core.windows.net/")
	if c := m.em.Counts(); c["password"] != 0 {
		t.Errorf("the restart needed a sign-in: %v", c)
	}
	m.stop()
}

// metrics reads GET /v1/metrics over the socket.
func (m *machine) metrics() string {
	m.t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", m.sock)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://tokend/v1/metrics")
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			names = append(names, e.Name())
		}
	}
	return names
}
