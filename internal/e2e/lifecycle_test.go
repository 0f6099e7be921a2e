package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/internal/emulator"
)

// TestSIGTERMDrains: SIGTERM while 200 requests are in flight (each waiting
// on a slow identity provider) lets every one of them finish.
func TestSIGTERMDrains(t *testing.T) {
	m := newMachine(t, "file")
	m.start()
	m.mustToken(emulator.ClientSecret+"\n", "login", "app", "--client-secret-stdin")
	m.em.FailNext(1000, emulator.Fault{Delay: 300 * time.Millisecond})

	c := client.New(m.sock)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// A scope of its own: each request waits on the identity provider.
			_, err := c.Token(context.Background(), client.TokenRequest{Profile: "app", Scopes: []string{fmt.Sprintf("api://drain-%d/.default", i)}})
			errs <- err
		})
	}
	// SIGTERM once all 200 wait on the identity provider.
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
