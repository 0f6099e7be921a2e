package e2ewin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/peercred"
	"github.com/tokend/tokend/internal/wintest"
)

// TestMain doubles as the child of `token exec`: with E2EWIN_CHILD=msi
// the test binary asks the managed-identity endpoint it was given for a
// token, as the Azure SDKs do, and prints what it got.
func TestMain(m *testing.M) {
	if os.Getenv("E2EWIN_CHILD") == "msi" {
		os.Exit(msiChild())
	}
	os.Exit(m.Run())
}

func msiChild() int {
	ep, hdr := os.Getenv("IDENTITY_ENDPOINT"), os.Getenv("IDENTITY_HEADER")
	if ep == "" || hdr == "" {
		fmt.Println("child: no IDENTITY_ENDPOINT or IDENTITY_HEADER")
		return 1
	}
	req, _ := http.NewRequest("GET", ep+"?api-version=2019-08-01&resource="+entraemu.DatabricksResource, nil)
	req.Header.Set("X-IDENTITY-HEADER", hdr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println("child:", err)
		return 1
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Resource    string `json:"resource"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	fmt.Printf("child: status %d, resource %s, token of %d bytes\n", resp.StatusCode, tok.Resource, len(tok.AccessToken))
	if resp.StatusCode != 200 || strings.Count(tok.AccessToken, ".") != 2 {
		return 1
	}
	return 0
}

// bin is the directory of tokend.exe and token.exe.
func bin(t *testing.T) string {
	t.Helper()
	d := os.Getenv("TOKEND_WIN_BIN")
	if d == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TOKEND_WIN_BIN must name the directory of tokend.exe and token.exe (scripts/wine/lane.sh sets it)")
		}
		t.Skip("TOKEND_WIN_BIN is not set: run through scripts/wine/lane.sh")
	}
	return d
}

var seq atomic.Int64

// machine is one hermetic tokend setup: its own pipe, state dir and
// config.
type machine struct {
	t      *testing.T
	bin    string
	env    []string
	pipe   string
	state  string
	config string
}

func newMachine(t *testing.T) *machine {
	dir := wintest.TempDir(t)
	m := &machine{
		t:      t,
		bin:    bin(t),
		pipe:   fmt.Sprintf(`\\.\pipe\tokend-e2e-%d-%d`, os.Getpid(), seq.Add(1)),
		state:  filepath.Join(dir, "state"),
		config: filepath.Join(dir, "config.toml"),
	}
	// TOKEND_HTTP: never the fixed default port, the user's own tokend's.
	m.env = append(os.Environ(), "TOKEND_SOCKET="+m.pipe, "TOKEND_STATE_DIR="+m.state, "TOKEND_CONFIG="+m.config, "TOKEND_PROFILE=", "TOKEND_HTTP=127.0.0.1:0")
	return m
}

// daemon is a running tokend serve.
type daemon struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited
}

// daemon starts tokend serve and waits until token status answers.
func (m *machine) daemon(args ...string) *daemon {
	m.t.Helper()
	log, err := os.Create(filepath.Join(filepath.Dir(m.state), fmt.Sprintf("tokend-%d.log", seq.Add(1))))
	if err != nil {
		m.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(m.bin, "tokend.exe"), append([]string{"serve"}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = m.env, log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(exited) }()
	m.t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			out, _ := os.ReadFile(log.Name())
			m.t.Fatalf("tokend serve %s exited:\n%s", strings.Join(args, " "), out)
		default:
		}
		if _, _, code := m.token("status"); code == 0 {
			return &daemon{cmd: cmd, exited: exited}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			m.t.Fatalf("tokend serve %s never answered:\n%s", strings.Join(args, " "), out)
		}
	}
}

// stop ends the daemon (Windows has no SIGTERM to send) and waits.
func (d *daemon) stop() {
	d.cmd.Process.Kill()
	<-d.exited
}

// run runs a binary of the machine and returns stdout, stderr and the
// exit code.
func (m *machine) run(stdin string, exe string, args ...string) (string, string, int) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(m.bin, exe), args...)
	cmd.Env = m.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	m.t.Fatalf("%s %s: %v", exe, strings.Join(args, " "), err)
	return "", "", -1
}

func (m *machine) token(args ...string) (string, string, int) { return m.run("", "token.exe", args...) }

// must runs token and fails the test unless it exits 0.
func (m *machine) must(args ...string) string {
	m.t.Helper()
	out, errOut, code := m.token(args...)
	if code != 0 {
		m.t.Fatalf("token %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func isJWT(s string) bool { return strings.Count(strings.TrimSpace(s), ".") == 2 && len(s) > 100 }

// TestEmulatorDaemon: tokend serve --emulator on its pipe, then token get,
// status, env and exec as a user would run them.
func TestEmulatorDaemon(t *testing.T) {
	m := newMachine(t)
	logFile := filepath.Join(filepath.Dir(m.state), "tokend.log")
	m.daemon("--emulator", "--log-file", logFile)

	if out := m.must("get", "demo"); !isJWT(out) {
		t.Fatalf("token get demo printed %q", out)
	}
	if out := m.must("get", "demo-user", "-o", "json"); !strings.Contains(out, `"access_token"`) {
		t.Fatalf("token get demo-user -o json printed %q", out)
	}
	status := m.must("status")
	for _, want := range []string{m.pipe, "http 127.0.0.1:", "demo-user", "alice@tokend.test", "ready"} {
		if !strings.Contains(status, want) {
			t.Errorf("token status does not show %q:\n%s", want, status)
		}
	}

	// A child under token exec gets the managed-identity variables and a
	// token over TCP with them; its exit code is token's.
	self, _ := os.Executable()
	m.env = append(m.env, "E2EWIN_CHILD=msi")
	out, errOut, code := m.token("exec", "demo", "--", self)
	if code != 0 || !strings.Contains(out, "child: status 200, resource "+entraemu.DatabricksResource) {
		t.Fatalf("token exec demo -- child: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := m.token("exec", "demo", "--", "cmd", "/c", "exit 7"); code != 7 {
		t.Fatalf("token exec demo -- cmd /c exit 7: exit %d", code)
	}

	env := m.must("env", "demo", "--shell", "powershell")
	for _, want := range []string{"$env:IDENTITY_ENDPOINT = 'http://127.0.0.1:", "$env:IDENTITY_HEADER = 'tkd1."} {
		if !strings.Contains(env, want) {
			t.Errorf("token env --shell powershell has no %q:\n%s", want, env)
		}
	}

	// A .databrickscfg profile, written into a file of CRLF lines and
	// replaced over it, then removed: the file is the user's again.
	cfg := filepath.Join(filepath.Dir(m.state), ".databrickscfg")
	const mine = "[prod]\r\nhost = https://adb-2.2.azuredatabricks.net\r\ntoken = dapi1\r\n"
	if err := os.WriteFile(cfg, []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	m.env = append(m.env, "DATABRICKS_CONFIG_FILE="+cfg)
	m.must("databricks", "configure", "demo")
	if b, _ := os.ReadFile(cfg); !strings.HasPrefix(string(b), mine+"\r\n[demo]\r\n") || !strings.Contains(string(b), "\r\nmetadata_service_url = http://127.0.0.1:") {
		t.Fatalf("token databricks configure wrote:\n%q", b)
	}
	if list := m.must("capabilities", "list"); !strings.Contains(list, "databricks [demo] in "+cfg) {
		t.Errorf("token capabilities list:\n%s", list)
	}
	m.must("databricks", "remove", "demo")
	if b, _ := os.ReadFile(cfg); string(b) != mine {
		t.Fatalf("after token databricks remove:\n%q", b)
	}

	b, _ := os.ReadFile(logFile)
	if !bytes.Contains(b, []byte(`msg="tokend ready"`)) || !bytes.Contains(b, []byte(`msg="token issued"`)) {
		t.Errorf("--log-file %s holds:\n%s", logFile, b)
	}
	// The daemon learned who owns the child's TCP connection: the user.
	if !regexp.MustCompile(`msg="token issued".* via=tcp .* uid=` + strconv.Itoa(peercred.OwnUID()) + `\b`).Match(b) {
		t.Errorf("no TCP audit line with uid %d in %s:\n%s", peercred.OwnUID(), logFile, b)
	}

	// A second daemon on the same pipe is refused.
	out, errOut, code = m.run("", "tokend.exe", "serve", "--emulator")
	if code == 0 || !strings.Contains(errOut, "already listening") {
		t.Fatalf("a second tokend serve: exit %d\n%s%s", code, out, errOut)
	}
}

// TestKeyringSurvivesRestart: a password sign-in with the keyring store
// is sealed in the state directory with its key in Credential Manager,
// and a restarted daemon serves the profile without a new sign-in.
func TestKeyringSurvivesRestart(t *testing.T) {
	m := newMachine(t)
	em, err := entraemu.New(entraemu.Config{Dir: filepath.Join(filepath.Dir(m.state), "emulator")})
	if err != nil {
		t.Fatal(err)
	}
	if err := em.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	cfg := fmt.Sprintf(`default_profile = "user"

[daemon]
store = "keyring"
http = "127.0.0.1:0"

[profiles.user]
flow = "password"
client_id = %q
authority = %q
ca_file = '%s'
`, entraemu.PublicClientID, em.Authority(), em.Fixture().CAFile)
	if err := os.WriteFile(m.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets, _ := filepath.Abs(filepath.Join(m.state, "secrets"))
	t.Cleanup(func() { keyring.Delete("tokend", "store-key:"+secrets) })

	d := m.daemon()
	if _, errOut, code := m.token("get", "user"); code != 4 {
		t.Fatalf("token get before sign-in: exit %d, want 4 (login required)\n%s", code, errOut)
	}
	if out, errOut, code := m.run(entraemu.Password+"\n", "token.exe", "login", "user", "--username", entraemu.Username, "--password-stdin"); code != 0 {
		t.Fatalf("token login: exit %d\n%s%s", code, out, errOut)
	}
	if out := m.must("get", "user"); !isJWT(out) {
		t.Fatalf("token get user printed %q", out)
	}
	if st := m.must("status"); !strings.Contains(st, "store keyring") {
		t.Fatalf("status:\n%s", st)
	}
	// A second daemon on the same state directory is refused (the lock),
	// even on a pipe of its own.
	m2 := *m
	m2.env = append(append([]string{}, m.env...), `TOKEND_SOCKET=\\.\pipe\`+fmt.Sprintf("tokend-e2e-other-%d", os.Getpid()))
	if _, errOut, code := m2.run("", "tokend.exe", "serve"); code == 0 || !strings.Contains(errOut, "another tokend is using") {
		t.Fatalf("a second tokend on the state dir: exit %d\n%s", code, errOut)
	}
	d.stop()

	key, err := keyring.Get("tokend", "store-key:"+secrets)
	if err != nil || len(key) != 44 {
		t.Fatalf("Credential Manager entry tokend/store-key:%s: %d bytes, %v; want the 44-byte key", secrets, len(key), err)
	}
	sealed, _ := filepath.Glob(filepath.Join(secrets, "*.sealed"))
	if len(sealed) == 0 {
		t.Fatalf("nothing sealed in %s", secrets)
	}
	for _, f := range sealed {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("refresh")) || bytes.Contains(b, []byte(entraemu.Username)) {
			t.Fatalf("%s holds plaintext", f)
		}
	}

	before := em.Counts()
	m.daemon()
	if out := m.must("get", "user"); !isJWT(out) {
		t.Fatalf("token get user after the restart printed %q", out)
	}
	if st := m.must("status"); !strings.Contains(st, entraemu.Username) {
		t.Fatalf("status after the restart:\n%s", st)
	}
	if after := em.Counts(); after["password"] != before["password"] || after["refresh_token"] <= before["refresh_token"] {
		t.Fatalf("the restarted daemon did not redeem the kept refresh token: grants before %v, after %v", before, after)
	}
}

// TestInstallLogonTask: tokend install registers the logon task with
// Task Scheduler and uninstall removes it. Under Wine the Task Scheduler
// service is started first and the task store is read from system32;
// Wine keeps no trigger or action of the task, so only its registration
// is checked here (the definition itself is checked in internal/tokendcli).
func TestInstallLogonTask(t *testing.T) {
	if !wintest.UnderWine() && os.Getenv("TOKEND_E2E_INSTALL") != "1" {
		t.Skip("registers and starts a logon task for this user: set TOKEND_E2E_INSTALL=1 to run it on Windows")
	}
	m := newMachine(t)
	if wintest.UnderWine() {
		if out, err := exec.Command("net", "start", "schedule").CombinedOutput(); err != nil && !bytes.Contains(out, []byte("already")) {
			t.Fatalf("net start schedule: %v\n%s", err, out)
		}
	}
	sid, err := peercred.OwnSID()
	if err != nil {
		t.Fatal(err)
	}
	task := "tokend-" + sid
	registered := func() bool {
		if wintest.UnderWine() {
			_, err := os.Stat(filepath.Join(os.Getenv("SystemRoot"), "System32", "Tasks", task))
			return err == nil
		}
		return exec.Command("schtasks", "/Query", "/TN", task).Run() == nil
	}
	if err := os.WriteFile(m.config, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := m.run("", "tokend.exe", "install", "--print", "--config", m.config)
	if code != 0 || !strings.Contains(out, "<LogonTrigger>") || !strings.Contains(out, "<UserId>"+sid+"</UserId>") {
		t.Fatalf("tokend install --print: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = m.run("", "tokend.exe", "install", "--config", m.config)
	if code != 0 || !registered() {
		t.Fatalf("tokend install: exit %d, registered %v\n%s%s", code, registered(), out, errOut)
	}
	t.Cleanup(func() { exec.Command("schtasks", "/Delete", "/TN", task, "/F").Run() })
	local, _ := os.UserCacheDir()
	xmlFile := filepath.Join(local, "tokend", "tokend-task.xml")
	b, err := os.ReadFile(xmlFile)
	if err != nil || !bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		t.Fatalf("%s: %v, want UTF-16 with a byte order mark", xmlFile, err)
	}
	out, errOut, code = m.run("", "tokend.exe", "uninstall")
	if code != 0 || registered() {
		t.Fatalf("tokend uninstall: exit %d, still registered %v\n%s%s", code, registered(), out, errOut)
	}
	if _, err := os.Stat(xmlFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is still there: %v", xmlFile, err)
	}
}
