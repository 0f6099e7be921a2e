package compattest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/daemon"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/entra"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/store"
)

// Resources the tests ask for.
const (
	mgmtResource       = "https://management.azure.com"
	databricksResource = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
	aksServerID        = "6dae42f8-4368-4678-94ff-3960e28e3630"
	adoResource        = "499b84ac-1321-427f-aa17-267ca6975798"
	workspace          = "https://adb-1234567890123456.7.azuredatabricks.net"
	accountHost        = "https://accounts.azuredatabricks.net" // as header values only: never contacted
	accountID          = "0f0e0d0c-0b0a-4909-8807-060504030201"
)

// childEnvVar makes the test binary, started by `token exec`, act as a
// client program (see children) instead of running tests.
const childEnvVar = "TOKEND_COMPAT_CHILD"

// tokenBin is the `token` binary under test, built once.
var tokenBin string

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnvVar); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tokend-compat-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tokenBin = filepath.Join(dir, "token")
	if runtime.GOOS == "windows" {
		tokenBin += ".exe"
	}
	build := exec.Command("go", "build", "-o", tokenBin, "./cmd/token")
	build.Dir = filepath.Join("..", "..") // the tokend module
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build token:", err)
		return 1
	}
	return m.Run()
}

// tokend is a daemon in this process on the real emulator, through real
// MSAL, with profile "app" (client secret, a Databricks workspace).
type tokend struct {
	em   *entraemu.Emulator
	srv  *daemon.Server
	sock string
	tcp  string
	cl   *client.Client
}

// startTokend starts a daemon; clk nil means real time (what the SDKs in
// child processes see), else daemon and emulator share the fake clock.
func startTokend(t *testing.T, clk *clock.Fake) *tokend {
	t.Helper()
	var c clock.Clock = clock.Real{}
	if clk != nil {
		c = clk
	}
	em := entraemu.NewTest(t, entraemu.Config{Clock: c})
	dir, err := os.MkdirTemp("", "tkc") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ca := emutest.CAFile(t, em)
	cfg, err := config.Parse("compat.toml", []byte("default_profile = \"app\"\n"+
		emutest.Profile("app", flow.ClientSecret, em.Authority(), ca,
			fmt.Sprintf("databricks_host = %q", workspace),
			fmt.Sprintf("databricks_hosts = [%q]", accountHost),
			fmt.Sprintf("databricks_account_id = %q", accountID))))
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	if err := st.Set(t.Context(), "profile/app/client-secret", []byte(entraemu.ClientSecret)); err != nil {
		t.Fatal(err)
	}
	srv, err := daemon.New(daemon.Config{
		Config: cfg, Store: st, Clock: c, Version: "compat",
		Sources: func(p *config.Profile) (daemon.Source, error) {
			return entra.New(p, entra.Options{Secrets: st, Clock: c})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	d := &tokend{em: em, srv: srv, sock: filepath.Join(dir, "s.sock")}
	sl, err := net.Listen("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.tcp = tl.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, ln := range []net.Listener{sl, tl} {
		go srv.Run(ctx, ln)
	}
	go srv.RunRefresher(ctx)
	d.cl = client.New(d.sock)
	// Each Run records its listener as it starts.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := d.cl.Status(t.Context())
		if err == nil && st.Listeners.TCP == d.tcp {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not listening: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// token returns the daemon's current token for resource.
func (d *tokend) token(t *testing.T, resource string) *wire.Token {
	t.Helper()
	tok, err := d.cl.Token(t.Context(), client.TokenRequest{Profile: "app", Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenCmd is the token binary talking to d, with an environment that
// holds nothing Azure- or Databricks-related.
func (d *tokend) tokenCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, tokenBin, args...)
	cmd.Env = append(cleanEnv(), "TOKEND_SOCKET="+d.sock)
	return cmd
}

// cleanEnv is this process's environment without the variables that steer
// SDKs or tokend.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, p := range []string{"AZURE_", "IDENTITY_", "MSI_", "IMDS_", "DATABRICKS_", "TOKEND_", "KUBERNETES_", "GIT_", childEnvVar} {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
}

// claims decodes a JWT's payload (the emulator's tests check signatures).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	c, err := entraemu.DecodeClaims(jwt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issued reports whether the emulator issued tok.
func (d *tokend) issued(tok string) bool { return slices.Contains(d.em.Issued(), tok) }

// waitFile waits up to 10 s for path to exist.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}
