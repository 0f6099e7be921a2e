package compattest

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/clock"
)

// TestTokenWatch: `token watch` prints the profile's current state, then
// each rotation within a second of real time after it happens on the
// daemon's (simulated) clock.
func TestTokenWatch(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	d := startTokend(t, clk)
	// The refresher's start-up fetch.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := d.cl.Status(t.Context())
		if err == nil && st.Profiles[0].ExpiresOn != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no first token: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}

	cmd := d.tokenCmd(t.Context(), "watch", "app")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	opened := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stderr).ReadString('\n')
		opened <- line
		io.Copy(io.Discard, stderr)
	}()
	select {
	case line := <-opened:
		if !strings.Contains(line, "watching profile app") {
			t.Fatalf("token watch said %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("token watch never subscribed")
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	// First the profile's current state, then its rotations.
	select {
	case line := <-lines:
		var ev wire.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type != wire.EventState || ev.Profile != "app" || ev.State != wire.StateReady || ev.ExpiresOn == 0 {
			t.Fatalf("token watch began with %q, want app's current state (%v)", line, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("token watch printed no current state")
	}
	var worst time.Duration
	for i := range 5 {
		st, err := d.cl.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(st.Profiles[0].NextRefresh+1, 0) // whole seconds; the schedule is not
		start := time.Now()
		clk.Set(at)
		var line string
		select {
		case line = <-lines:
		case <-time.After(10 * time.Second): // the lag is logged below
			t.Fatalf("rotation %d: nothing printed within 10s", i)
		}
		lag := time.Since(start)
		worst = max(worst, lag)
		var ev wire.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		tok := d.token(t, databricksResource)
		if ev.Type != wire.EventRotated || ev.Profile != "app" || ev.ExpiresOn != tok.ExpiresOn || ev.Time != at.Unix() {
			t.Fatalf("rotation %d: %q; token expires %d", i, line, tok.ExpiresOn)
		}
		t.Logf("rotation %d printed %v after the clock reached it", i, lag)
	}
	t.Logf("worst lag %v", worst)
}
