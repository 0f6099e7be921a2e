package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/flow"
)

// machine is one user's machine for the persistence tests: an emulator
// (in this process, so it outlives daemon restarts), a config, a state
// directory, and the real binaries.
type machine struct {
	t      *testing.T
	em     *entraemu.Emulator
	env    []string
	sock   string
	state  string
	config string     // the config file
	ca     string     // the emulator's CA certificate, for ca_file
	cert   string     // a client certificate file (durableMachine)
	logs   syncBuffer // every daemon's stderr
	daemon *exec.Cmd
}

// api registers an API the test asks for besides the fixture's, under
// the names given (the emulator, like Entra, refuses resources it does not
// know).
func (m *machine) api(names ...string) {
	if err := m.em.RegisterResource(entraemu.Resource{IdentifierURIs: names}); err != nil {
		panic(err)
	}
}

// numbered is fmt.Sprintf(format, i) for i in [0, n).
func numbered(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

func newMachine(t *testing.T, storeBackend string) *machine {
	t.Helper()
	em := entraemu.NewTest(t, entraemu.Config{})
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "tkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	ca := emutest.CAFile(t, em)
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "[daemon]\nstore = %q\nhttp = \"\"\n\n%s%s", storeBackend,
		emutest.Profile("user", flow.Password, em.Authority(), ca),
		emutest.Profile("app", flow.ClientSecret, em.Authority(), ca)), 0o600)
	m := &machine{t: t, em: em, sock: filepath.Join(sockDir, "s.sock"), state: filepath.Join(dir, "state"), config: cfg, ca: ca}
	m.env = append(os.Environ(),
		"TOKEND_CONFIG="+cfg,
		"TOKEND_SOCKET="+m.sock,
		"TOKEND_STATE_DIR="+m.state,
		"TOKEND_STORE_PASSPHRASE=",
		"TOKEND_HTTP=127.0.0.1:0", // never the user's fixed default port
	)
	t.Cleanup(m.kill)
	return m
}

func (m *machine) start() { m.startWith() }

// stop ends the daemon the polite way.
func (m *machine) stop() {
	m.t.Helper()
	m.daemon.Process.Signal(os.Interrupt)
	if err := m.daemon.Wait(); err != nil {
		m.t.Fatalf("daemon exit: %v\n%s", err, m.logs.String())
	}
	m.daemon = nil
}

func (m *machine) kill() {
	if m.daemon != nil {
		m.daemon.Process.Kill()
		m.daemon.Wait()
		m.daemon = nil
	}
}

// token runs the client; it returns stdout, stderr and the exit code.
func (m *machine) token(stdin string, args ...string) (string, string, int) {
	cmd := exec.Command(filepath.Join(binDir, "token"), args...)
	cmd.Env = m.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		m.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (m *machine) mustToken(stdin string, args ...string) string {
	m.t.Helper()
	out, errs, code := m.token(stdin, args...)
	if code != 0 {
		m.t.Fatalf("token %v: exit %d: %s\ndaemon log:\n%s", args, code, errs, m.logs.String())
	}
	return out
}

func stores(t *testing.T) []string {
	if os.Getenv("TOKEND_SECRET_SERVICE") == "1" {
		return []string{"keyring", "file"}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI must run these tests with a Secret Service: through scripts/with-keyring.sh (make test does)")
	}
	t.Log("no Secret Service session: testing the file store only (run through scripts/with-keyring.sh for keyring)")
	return []string{"file"}
}

// TestRestartKeepsSignIn: sign in once, restart the daemon, and the token
// comes back with exactly one refresh-token request and no new login; no
// issued secret is readable in the state dir, the logs or the keychain.
func TestRestartKeepsSignIn(t *testing.T) {
	for _, backend := range stores(t) {
		t.Run(backend, func(t *testing.T) {
			m := newMachine(t, backend)
			m.start()
			if _, errs, code := m.token("", "get", "user"); code != 4 || !strings.Contains(errs, "token login user") {
				t.Fatalf("before login: exit %d %s", code, errs)
			}
			m.mustToken(entraemu.Password+"\n", "login", "user", "--username", entraemu.Username, "--password-stdin")
			m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
			first := m.mustToken("", "get", "user")
			m.stop()

			m.em.ResetCounts()
			m.start()
			second := m.mustToken("", "get", "user")
			m.mustToken("", "get", "app")
			if second == first {
				t.Error("the restarted daemon served the old access token (access tokens must not be persisted)")
			}
			c := m.em.Counts()
			if c["refresh_token"] != 1 || c["password"] != 0 {
				t.Errorf("after restart the emulator saw %v, want exactly one refresh_token and no password grant", c)
			}
			m.stop()

			secrets := append(m.em.Issued(), entraemu.ClientSecret, entraemu.Password)
			if hit := grepDir(t, m.state, secrets); hit != "" {
				t.Errorf("state dir holds an issued secret in plaintext: %s", hit)
			}
			for _, s := range secrets {
				if strings.Contains(m.logs.String(), s) {
					t.Errorf("daemon log holds an issued secret (%d bytes)", len(s))
				}
			}
			if backend == "keyring" {
				out, err := exec.Command("secret-tool", "search", "--all", "service", "tokend").CombinedOutput()
				if err != nil {
					t.Fatalf("secret-tool: %v %s", err, out)
				}
				for _, s := range secrets {
					if strings.Contains(string(out), s) {
						t.Error("the keychain holds an issued secret")
					}
				}
				if !strings.Contains(string(out), "store-key:") {
					t.Errorf("no store key in the keychain:\n%s", out)
				}
			}
		})
	}
}

// TestCorruptSignIn: a damaged refresh-token file sends that profile to
// login_required with the fix; the other profile keeps working; a new login
// repairs it.
func TestCorruptSignIn(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	m.mustToken(entraemu.Password+"\n", "login", "user", "--username", entraemu.Username, "--password-stdin")
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	m.stop()
	f := filepath.Join(m.state, "secrets", "profile%2Fuser%2Fmsal-cache.sealed")
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	os.WriteFile(f, data, 0o600)

	m.start()
	_, errs, code := m.token("", "get", "user")
	if code != 4 || !strings.Contains(errs, "unreadable") || !strings.Contains(errs, "token login user") {
		t.Fatalf("corrupt sign-in: exit %d: %s", code, errs)
	}
	m.mustToken("", "get", "app")
	st := m.mustToken("", "status", "-o", "json")
	if !strings.Contains(st, `"state": "login_required"`) {
		t.Errorf("status does not show login_required:\n%s", st)
	}
	m.mustToken(entraemu.Password+"\n", "login", "user", "--username", entraemu.Username, "--password-stdin")
	m.mustToken("", "get", "user")
}

// TestWrongFileKey: the file store under another passphrase refuses to
// start serving secrets, says why, and overwrites nothing.
func TestWrongFileKey(t *testing.T) {
	m := newMachine(t, "file")
	m.env = append(m.env, "TOKEND_STORE_PASSPHRASE=first")
	m.start()
	m.mustToken(entraemu.Password+"\n", "login", "user", "--username", entraemu.Username, "--password-stdin")
	m.stop()
	before := dirContent(t, filepath.Join(m.state, "secrets"))

	m.env = append(m.env, "TOKEND_STORE_PASSPHRASE=second")
	m.start()
	_, errs, code := m.token("", "get", "user")
	if code == 0 || !strings.Contains(errs, "sealed with another key") {
		t.Fatalf("wrong key: exit %d: %s", code, errs)
	}
	if _, errs, code := m.token(entraemu.Password+"\n", "login", "user", "--username", entraemu.Username, "--password-stdin"); code == 0 {
		t.Fatalf("login under the wrong key succeeded: %s", errs)
	}
	st := m.mustToken("", "status", "-o", "json")
	if !strings.Contains(st, `"state": "store_unavailable"`) {
		t.Errorf("status does not show store_unavailable:\n%s", st)
	}
	m.stop()
	if after := dirContent(t, filepath.Join(m.state, "secrets")); after != before {
		t.Fatal("the secrets changed under the wrong key")
	}
}

// TestCrashDuringRotation kills the daemon with SIGKILL at random moments
// while it rotates refresh tokens, 100 times: every restarted daemon still
// gets a token (from the old or the new refresh token, never from none).
func TestCrashDuringRotation(t *testing.T) {
	m := newMachine(t, "file")
	// A provider that retires a refresh token once its successor has been
	// used (Entra keeps old ones valid): a crash between redeeming and
	// storing must still leave a token that works.
	m.em.SetStrictRotation(true)
	m.start()
	m.mustToken(entraemu.Password+"\n", "login", "user", "--username", entraemu.Username, "--password-stdin")
	m.stop()
	trials := 100
	if testing.Short() {
		trials = 10
	}
	rng := rand.New(rand.NewPCG(1, 2))
	crashedMidWrite := 0
	m.api(numbered(trials, "api://after-%d")...)
	for i := range trials {
		m.api(numbered(20, fmt.Sprintf("api://trial-%d-%%d", i))...)
		m.start()
		// Each new scope is a refresh-token redemption, so a rotation.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for j := range 20 {
				m.token("", "get", "user", "--scope", fmt.Sprintf("api://trial-%d-%d/.default", i, j))
			}
		}()
		time.Sleep(time.Duration(rng.IntN(15_000)) * time.Microsecond)
		m.daemon.Process.Signal(syscall.SIGKILL)
		m.daemon.Wait()
		m.daemon = nil
		<-done

		secrets := filepath.Join(m.state, "secrets")
		left := leftovers(t, secrets)
		crashedMidWrite += min(len(left), 1)
		m.start()
		for _, name := range left {
			if _, err := os.Lstat(filepath.Join(secrets, name)); err == nil {
				t.Fatalf("trial %d: temp file %s of the killed daemon is still there after the restart", i, name)
			}
		}
		if _, errs, code := m.token("", "get", "user", "--scope", fmt.Sprintf("api://after-%d/.default", i)); code != 0 {
			t.Fatalf("trial %d: restarted daemon has no token: exit %d: %s\n%s", i, code, errs, m.logs.String())
		}
		m.stop()
	}
	t.Logf("%d kills during rotation (%d in the middle of a write), %d refresh-token redemptions, every restart got a token and removed the killed daemon's temp files",
		trials, crashedMidWrite, m.em.Counts()["refresh_token"])
}

func grepDir(t *testing.T, dir string, needles []string) string {
	var hit string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		for _, n := range needles {
			if len(n) > 8 && bytes.Contains(data, []byte(n)) {
				hit = p
			}
		}
		return nil
	})
	return hit
}

func dirContent(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".lock" {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "%s %x\n", p, data)
		}
		return nil
	})
	return b.String()
}

// syncBuffer is a bytes.Buffer that a daemon's stderr copier can write while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
