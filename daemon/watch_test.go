package daemon

import (
	"bufio"
	"context"
	"encoding/json"
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
)

// stream is an open GET /v1/watch.
type stream struct {
	events chan wire.Event
	ended  chan struct{}
	body   io.Closer
}

// watch opens GET url on hc and fails the test unless it answers 200.
func watch(t *testing.T, hc *http.Client, url string, header map[string]string) *stream {
	t.Helper()
	s, r := tryWatch(t, hc, url, header)
	if s == nil {
		t.Fatalf("watch %s: %d %s", url, r.status, r.body)
	}
	return s
}

// tryWatch opens GET url; a non-200 answer is returned instead.
func tryWatch(t *testing.T, hc *http.Client, url string, header map[string]string) (*stream, response) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, response{resp.StatusCode, resp.Header, b}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	s := &stream{events: make(chan wire.Event, 100), ended: make(chan struct{}), body: resp.Body}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.ended)
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var ev wire.Event
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil || ev.Type != name {
					t.Errorf("bad event %q (name %q): %v", line, name, err)
				}
				s.events <- ev
			}
		}
	}()
	return s, response{}
}

// next waits up to d of real time for the next event.
func (s *stream) next(t *testing.T, d time.Duration) wire.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.ended:
		t.Fatal("stream ended")
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return wire.Event{}
}

// quiet fails if an event arrives within d.
func (s *stream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

// TestWatchRotation: a rotation on the simulated clock reaches a watcher
// within a second of real time, once; sign-out and sign-in are state
// changes, one event each.
func TestWatchRotation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitReady("app")
	s := watch(t, h.unix, "http://tokend/v1/watch", nil)
	s.quiet(t, 50*time.Millisecond)

	for i := range 3 {
		// NextRefresh is in whole seconds; the schedule is not.
		next := time.Unix(h.profileStatus("app").NextRefresh+1, 0)
		start := time.Now()
		h.clk.Set(next)
		ev := s.next(t, 10*time.Second)
		lag := time.Since(start)
		h.settle()
		tok := h.get("/v1/token?profile=app").token(t)
		if ev.Type != wire.EventRotated || ev.Profile != "app" || ev.State != wire.StateReady ||
			ev.ExpiresOn != tok.ExpiresOn || ev.Time != next.Unix() || ev.NextRefresh <= next.Unix() || len(ev.Scopes) != 1 {
			t.Fatalf("rotation %d: event %+v, token expires %d", i, ev, tok.ExpiresOn)
		}
		if strings.Contains(mustJSON(t, ev), "eyJ") {
			t.Fatal("event carries a token")
		}
		t.Logf("rotation %d reached the watcher %v after the clock moved", i, lag)
		s.quiet(t, 50*time.Millisecond)
	}

	if r := h.post("/v1/logout", wire.LogoutRequest{Profile: "app"}); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if ev := s.next(t, 10*time.Second); ev.Type != wire.EventState || ev.State != wire.StateLoginRequired || ev.Profile != "app" {
		t.Fatalf("after logout: %+v", ev)
	}
	if r := h.post("/v1/login", wire.LoginRequest{Profile: "app", ClientSecret: entraemu.ClientSecret}); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if ev := s.next(t, 10*time.Second); ev.Type != wire.EventRotated || ev.State != wire.StateReady || ev.Account == "" {
		t.Fatalf("after login: %+v", ev)
	}
	s.quiet(t, 50*time.Millisecond)
}

// TestWatchOutage: a provider outage is one state event however many
// retries fail, and recovery is one rotation.
func TestWatchOutage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitReady("app")
	s := watch(t, h.unix, "http://tokend/v1/watch?profile=app", nil)
	h.em.FailNext(1_000_000, entraemu.Fault{Status: 503})
	h.clk.Set(time.Unix(h.profileStatus("app").NextRefresh+1, 0))
	ev := s.next(t, 10*time.Second)
	if ev.Type != wire.EventState || ev.State != wire.StateError || ev.Error == "" {
		t.Fatalf("first failure: %+v", ev)
	}
	failures := h.profileStatus("app").Counters.Failures
	for range 5 {
		h.clk.Advance(backoffMax)
		h.settle()
	}
	if n := h.profileStatus("app").Counters.Failures - failures; n < 3 {
		t.Fatalf("only %d more failed refreshes", n)
	}
	s.quiet(t, 50*time.Millisecond)
	h.em.FailNext(0, entraemu.Fault{})
	h.clk.Advance(backoffMax)
	if ev := s.next(t, 10*time.Second); ev.Type != wire.EventRotated || ev.State != wire.StateReady {
		t.Fatalf("recovery: %+v", ev)
	}
}

// TestWatchSelection: ?profile filters; a capability holder on TCP sees its
// own profile only; bad requests are refused before the stream opens.
func TestWatchSelection(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	app := mint(t, h.unix, wire.CapabilityRequest{Profile: "app"})
	onlyUser := watch(t, h.unix, "http://tokend/v1/watch?profile=user", nil)
	tcpApp := watch(t, h.http, "http://"+h.tcp+"/v1/watch", map[string]string{"Authorization": "Bearer " + app.Token})

	h.get("/v1/token?profile=app") // a first token is a rotation
	if ev := tcpApp.next(t, 10*time.Second); ev.Profile != "app" || ev.Type != wire.EventRotated {
		t.Fatalf("TCP watcher: %+v", ev)
	}
	onlyUser.quiet(t, 50*time.Millisecond)
	r := h.post("/v1/login", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: entraemu.Password})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if ev := onlyUser.next(t, 10*time.Second); ev.Profile != "user" || ev.Account != entraemu.Username {
		t.Fatalf("user watcher: %+v", ev)
	}
	tcpApp.quiet(t, 50*time.Millisecond)

	for _, tc := range []struct {
		name   string
		url    string
		header map[string]string
		status int
	}{
		{"TCP, another profile", "http://" + h.tcp + "/v1/watch?profile=user", map[string]string{"Authorization": "Bearer " + app.Token}, 403},
		{"TCP, no capability", "http://" + h.tcp + "/v1/watch", nil, 401},
		{"TCP, Origin", "http://" + h.tcp + "/v1/watch", map[string]string{"Authorization": "Bearer " + app.Token, "Origin": "https://evil.example"}, 403},
		{"unknown profile", "http://tokend/v1/watch?profile=nope", nil, 404},
		{"unknown parameter", "http://tokend/v1/watch?since=1", nil, 400},
		{"profile twice", "http://tokend/v1/watch?profile=app&profile=user", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := h.unix
			if strings.HasPrefix(tc.url, "http://"+h.tcp) {
				hc = h.http
			}
			s, r := tryWatch(t, hc, tc.url, tc.header)
			if s != nil || r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			r.errCode(t)
		})
	}
}

// TestWatchOutlivesServerTimeouts: the server's read and write timeouts,
// which bound ordinary requests, do not cut a stream.
func TestWatchOutlivesServerTimeouts(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	sock := filepath.Join(filepath.Dir(h.sock), "short.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.srv.socketHandler(), ConnContext: connContext,
		ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond}
	go srv.Serve(ln)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()

	s := watch(t, hc, "http://tokend/v1/watch", nil)
	time.Sleep(400 * time.Millisecond)
	h.get("/v1/token?profile=app")
	if ev := s.next(t, 10*time.Second); ev.Type != wire.EventRotated {
		t.Fatalf("%+v", ev)
	}
}

// TestWatchEndsOnShutdown: open streams do not hold up a graceful shutdown.
func TestWatchEndsOnShutdown(t *testing.T) {
	h := newHarness(t, harnessOpts{noRefresher: true})
	dir, err := os.MkdirTemp("", "tkd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "w.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Run(ctx, ln) }()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	s := watch(t, hc, "http://tokend/v1/watch", nil)
	other := watch(t, h.unix, "http://tokend/v1/watch", nil) // on another listener

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown waited for the open stream")
	}
	t.Logf("shutdown with an open stream took %v", time.Since(start))
	select {
	case <-s.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after shutdown")
	}
	h.get("/v1/token?profile=app")
	if ev := other.next(t, 10*time.Second); ev.Type != wire.EventRotated {
		t.Fatalf("stream of the other listener: %+v", ev)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
