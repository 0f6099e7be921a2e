// Package e2e drives the tokend and token commands end to end, through
// testscript scripts in testdata/ that read like a terminal session, and
// through tests that start them as processes. The test binary is both
// commands (testscript.Main, as age's cmd/age tests do): run as "tokend" or
// "token" it is internal/tokendcli or internal/tokencli, so no build step
// comes first and what the commands run counts for coverage.
package e2e

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tokend/tokend/internal/tokencli"
	"github.com/tokend/tokend/internal/tokendcli"
)

// binDir holds the commands, copies of the test binary that act as
// tokend and token (testscript.Main puts them there, on PATH).
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(childEnvVar) != "" { // started by token exec (TestIPv6Exec)
		os.Exit(runChild())
	}
	testscript.Main(findBin{m}, map[string]func(){
		"tokend": func() { os.Exit(tokendcli.Main()) },
		"token":  func() { os.Exit(tokencli.Main()) },
	})
}

// findBin sets binDir once testscript.Main has made the commands.
type findBin struct{ m *testing.M }

func (f findBin) Run() int {
	p, err := exec.LookPath("tokend")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: testscript.Main made no tokend:", err)
		return 1
	}
	binDir = filepath.Dir(p)
	// Built with -race, the commands would each sleep a second as they
	// exit (the race detector's default, to let other threads report):
	// this package starts hundreds of them. A race they find still makes
	// them exit 66.
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0"))
	}
	return f.m.Run()
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Setup: scriptEnv,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitsock":  waitSock,
			"waitmatch": waitMatch,
			"exits":     exits,
			"jwt":       checkJWT,
		},
	})
}

// scriptEnv is the hermetic environment of every script: the binaries on
// PATH, and the socket, state dir, config and emulator dir of its own.
func scriptEnv(env *testscript.Env) error {
	// Unix socket paths are short (108 bytes): keep it out of $WORK.
	sockDir, err := os.MkdirTemp("", "tkd")
	if err != nil {
		return err
	}
	env.Defer(func() {
		stopStrayDaemon(sockDir)
		os.RemoveAll(sockDir)
	})
	// A short directory of the script's own, 0700, for scripts that use
	// the default socket ($XDG_RUNTIME_DIR/tokend/tokend.sock).
	env.Setenv("SOCKDIR", sockDir)
	state := filepath.Join(env.WorkDir, "state")
	env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
	env.Setenv("BIN", binDir)
	env.Setenv("TOKEND_SOCKET", filepath.Join(sockDir, "tokend.sock"))
	env.Setenv("TOKEND_STATE_DIR", state)
	env.Setenv("TOKEND_CONFIG", filepath.Join(env.WorkDir, "config.toml"))
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "xdg"))
	env.Setenv("EMULATOR_DIR", filepath.Join(state, "emulator"))
	env.Setenv("TOKEND_STORE_PASSPHRASE", "")
	// Never the fixed default port, which belongs to the user's own tokend.
	env.Setenv("TOKEND_HTTP", "127.0.0.1:0")
	// The Secret Service of scripts/with-keyring.sh, for the scripts that
	// keep sign-ins in the keychain (testscript passes on little of the
	// environment).
	if bus := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); bus != "" {
		env.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)
	}
	return nil
}

// waitsock waits until the daemon answers on $TOKEND_SOCKET.
func waitSock(ts *testscript.TestScript, neg bool, args []string) {
	if err := waitServing(ts.Getenv("TOKEND_SOCKET"), 30*time.Second); err != nil {
		ts.Fatalf("%v", err)
	}
}

// waitServing waits until the daemon at sock answers an HTTP request.
// A socket that accepts a connection is not yet a daemon that serves:
// tokend binds the socket first, then its TCP listeners, and serves on
// all of them only after that, so a test that next calls the TCP port
// must wait for an answer (that race failed CI once).
func waitServing(sock string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	defer hc.CloseIdleConnections()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var resp *http.Response
		if resp, err = hc.Get("http://tokend/v1/status"); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("no daemon serving on %s after %v: %v", sock, timeout, err)
}

// waitmatch FILE REGEXP waits until FILE (written by a background command)
// matches REGEXP (multi-line, as grep's).
func waitMatch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitmatch FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	if err != nil {
		ts.Fatalf("waitmatch: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(data) {
			return
		}
	}
	ts.Fatalf("%s does not match %s after 30s", args[0], args[1])
}

// exits N prog args... runs prog and requires exit code N.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// jwt FILE claim=value... checks that FILE holds one JWT signed by the
// running emulator (key from its JWKS, found through
// $EMULATOR_DIR/fixture.json) with the given claims.
func checkJWT(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: jwt FILE [claim=value...]")
	}
	raw := strings.TrimSpace(ts.ReadFile(args[0]))
	claims, err := verifyJWT(ts, raw)
	if err != nil {
		ts.Fatalf("jwt: %v", err)
	}
	for _, kv := range args[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if got := fmt.Sprint(claims[k]); got != v {
			ts.Fatalf("jwt claim %s = %q, want %q", k, got, v)
		}
	}
	exp, _ := claims["exp"].(float64)
	if left := time.Until(time.Unix(int64(exp), 0)); left < 10*time.Minute {
		ts.Fatalf("jwt expires in %v", left)
	}
}

func verifyJWT(ts *testscript.TestScript, raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT (%d parts)", len(parts))
	}
	var hdr struct{ Alg, Kid string }
	var claims map[string]any
	for i, dst := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, dst); err != nil {
			return nil, err
		}
	}
	if hdr.Alg != "RS256" {
		return nil, fmt.Errorf("alg %q", hdr.Alg)
	}
	dir := ts.Getenv("EMULATOR_DIR") // the emulator's, in the daemon or alone
	var fx struct {
		Authority string `json:"authority"`
	}
	if err := json.Unmarshal([]byte(ts.ReadFile(filepath.Join(dir, "fixture.json"))), &fx); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ts.ReadFile(filepath.Join(dir, "ca.pem"))))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(fx.Authority + "/discovery/v2.0/keys")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct{ Kid, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		return nil, err
	}
	for _, k := range jwks.Keys {
		if k.Kid != hdr.Kid {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
		return claims, nil
	}
	return nil, fmt.Errorf("no key %q in the emulator's JWKS", hdr.Kid)
}

// TestOneVersion: both binaries of one build report the same version,
// whatever the checkout (a git clone, a tarball, a dirty tree).
func TestOneVersion(t *testing.T) {
	var got []string
	for _, bin := range []string{"tokend", "token"} {
		out, err := exec.Command(filepath.Join(binDir, bin), "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", bin, err)
		}
		f := strings.Fields(string(out))
		if len(f) != 2 || f[0] != bin {
			t.Fatalf("%s version printed %q", bin, out)
		}
		got = append(got, f[1])
	}
	if got[0] != got[1] {
		t.Fatalf("tokend says %s, token says %s", got[0], got[1])
	}
}
