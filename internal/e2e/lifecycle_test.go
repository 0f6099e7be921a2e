package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/entraemu"
)

// TestSIGTERMDrains: SIGTERM while 100 requests are in flight (each waiting
// on a slow identity provider) lets every one of them finish.
func TestSIGTERMDrains(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	m.em.FailNext(1000, entraemu.Fault{Delay: 300 * time.Millisecond})

	c := client.New(m.sock)
	const n = 100
	m.api(numbered(n, "api://drain-%d")...)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// A scope of its own: each request waits on the identity provider.
			_, err := c.Token(context.Background(), client.TokenRequest{Profile: "app", Scopes: []string{fmt.Sprintf("api://drain-%d/.default", i)}})
			errs <- err
		})
	}
	// SIGTERM once all of them wait on the identity provider.
	for deadline := time.Now().Add(10 * time.Second); m.em.Counts()["faulted"] < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests reached the identity provider", m.em.Counts()["faulted"])
		}
	}
	m.daemon.Process.Signal(os.Signal(sigterm))
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Log(err)
		}
	}
	if err := m.daemon.Wait(); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v", err)
	}
	m.daemon = nil
	if failed > 0 {
		t.Fatalf("%d of %d in-flight requests failed across SIGTERM\n%s", failed, n, m.logs.String())
	}
}

// TestSIGHUPReload: the daemon re-reads its config on SIGHUP. A removed
// profile is gone, an added one appears, an unchanged one keeps its token
// without asking the identity provider; a broken config changes nothing.
func TestSIGHUPReload(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	m.mustToken(entraemu.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	before := m.mustToken("", "get", "app")
	cfg, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	m.em.ResetCounts()

	// Remove "user", add "app2" (the same application under another name).
	text := string(cfg)
	userAt := strings.Index(text, "[profiles.user]")
	appAt := strings.Index(text, "[profiles.app]")
	next := text[:userAt] + text[appAt:] + strings.Replace(text[appAt:], "[profiles.app]", "[profiles.app2]", 1)
	os.WriteFile(m.config, []byte(next), 0o600)
	m.daemon.Process.Signal(syscall.SIGHUP)
	waitStatus(t, m, func(st string) bool {
		return strings.Contains(st, `"name": "app2"`) && !strings.Contains(st, `"name": "user"`)
	})

	if got := m.mustToken("", "get", "app"); got != before {
		t.Error("the unchanged profile lost its token on reload")
	}
	if c := m.em.Counts(); c["client_credentials"] != 0 {
		t.Errorf("the unchanged profile went to the identity provider: %v", c)
	}
	if _, errs, code := m.token("", "get", "user"); code != 1 || !strings.Contains(errs, `no profile "user"`) {
		t.Errorf("removed profile: exit %d %s", code, errs)
	}
	if _, errs, code := m.token("", "get", "app2"); code != 4 || !strings.Contains(errs, "token login app2") {
		t.Errorf("added profile: exit %d %s", code, errs)
	}

	// A config with a typo is refused and the running one stays.
	os.WriteFile(m.config, []byte(next+"\nbogus = 1\n"), 0o600)
	m.daemon.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(m.logs.String(), "config reload failed"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no log line for the failed reload")
		}
	}
	if !strings.Contains(m.logs.String(), `unknown key \"profiles.app2.bogus\"`) {
		t.Errorf("the failed reload does not say why:\n%s", m.logs.String())
	}
	m.mustToken("", "get", "app")
	m.stop()
}

func waitStatus(t *testing.T, m *machine, ok func(string) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if out, _, code := m.token("", "status", "-o", "json"); code == 0 && ok(out) {
			return
		}
		if time.Now().After(deadline) {
			out, _, _ := m.token("", "status", "-o", "json")
			t.Fatalf("status never matched:\n%s\n%s", out, m.logs.String())
		}
	}
}
