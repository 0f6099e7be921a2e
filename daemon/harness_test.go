package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/entra"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/store"
)

// harness runs a daemon against the real emulator, through real MSAL, on a
// fake clock shared by both.
type harness struct {
	t     testing.TB
	clk   *clock.Fake
	em    *entraemu.Emulator
	srv   *Server
	sock  string
	tcp   string // host:port
	unix  *http.Client
	http  *http.Client
	store *lockableStore
}

// lockableStore is a memory store whose keychain can be "locked" (nothing
// works), or whose disk can be "full" (reads work, writes fail).
type lockableStore struct {
	*store.Memory
	mu     sync.Mutex
	locked error
	full   error
}

func (s *lockableStore) lock(err error) { s.mu.Lock(); s.locked = err; s.mu.Unlock() }

func (s *lockableStore) fill(err error) { s.mu.Lock(); s.full = err; s.mu.Unlock() }

func (s *lockableStore) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked != nil {
		return s.locked
	}
	return s.full
}

func (s *lockableStore) Get(ctx context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	err := s.locked
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Memory.Get(ctx, k)
}

func (s *lockableStore) Set(ctx context.Context, k string, v []byte) error {
	if err := s.Health(); err != nil {
		return err
	}
	return s.Memory.Set(ctx, k, v)
}

func (s *lockableStore) Delete(ctx context.Context, k string) error {
	if err := s.Health(); err != nil {
		return err
	}
	return s.Memory.Delete(ctx, k)
}

func (s *lockableStore) Probe(context.Context) error { return s.Health() }

type harnessOpts struct {
	noRefresher     bool
	wrapSource      func(profile string, s Source) Source // e.g. to count calls
	onLoginRequired func(profile, fix string)
	logger          *slog.Logger // nil: discard
	// tcpUIDs stands in for the kernel's view of TCP peers (fakeOwners);
	// tcpUnknown for a kernel that does not say (macOS).
	tcpUIDs, tcpUnknown bool
	// loadConfig is Config.LoadConfig (POST /v1/reload); it gets the
	// harness's config.
	loadConfig func(cur *config.Config) (*config.Config, error)
}

// The uids of fakeOwners: a TCP client bound to 127.0.0.2 is guestUID, an
// admitted uid other than the daemon's (as root is); one bound to
// 127.0.0.3 is strangerUID, another user; others are the daemon's uid.
const (
	guestUID    = 4242
	strangerUID = 4343
)

func fakeOwners(c net.Conn) (int, error) {
	switch c.RemoteAddr().(*net.TCPAddr).IP.String() {
	case "127.0.0.2":
		return guestUID, nil
	case "127.0.0.3":
		return strangerUID, nil
	}
	return os.Getuid(), nil
}

func fakeAdmits(uid int) bool { return uid == os.Getuid() || uid == guestUID }

// clientFrom is an HTTP client whose connections come from ip.
func clientFrom(t testing.TB, ip string) *http.Client {
	hc := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)},
	}).DialContext}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0), store: &lockableStore{Memory: store.NewMemory()}}
	// The tests' own APIs are registered, as the emulator (like Entra)
	// refuses resources it does not know.
	em := entraemu.NewTest(t, entraemu.Config{Clock: h.clk, Seed: 7, Resources: []entraemu.Resource{
		{Name: "daemon test APIs", IdentifierURIs: []string{"api://audit", "api://msi", "api://other", "api://two", "api://127.0.0.1", "api://127.0.0.2"}},
	}})
	h.em = em

	dir, err := os.MkdirTemp("", "tkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ca := emutest.CAFile(t, em)
	cfg, err := config.Parse("test.toml", []byte("default_profile = \"app\"\n"+
		emutest.Profile("app", flow.ClientSecret, em.Authority(), ca)+
		emutest.Profile("user", flow.Password, em.Authority(), ca)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := h.store.Set(ctx, "profile/app/client-secret", []byte(entraemu.ClientSecret)); err != nil {
		t.Fatal(err)
	}
	var load func() (*config.Config, error)
	if o.loadConfig != nil {
		load = func() (*config.Config, error) { return o.loadConfig(cfg) }
	}
	srv, err := New(Config{
		Config:     cfg,
		LoadConfig: load,
		Store:      h.store,
		Clock:      h.clk,
		Sources: func(p *config.Profile) (Source, error) {
			src, err := entra.New(p, entra.Options{Secrets: h.store, Clock: h.clk})
			if err != nil || o.wrapSource == nil {
				return src, err
			}
			return o.wrapSource(p.Name, src), nil
		},
		Version:         "test",
		OnLoginRequired: o.onLoginRequired,
		Logger:          o.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	h.srv = srv
	switch {
	case o.tcpUIDs:
		srv.tcpOwners, srv.tcpAdmits = fakeOwners, fakeAdmits
	case o.tcpUnknown:
		srv.tcpUnknown = true
	}

	h.sock = filepath.Join(dir, "s.sock")
	sl, err := net.Listen("unix", h.sock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.tcp = tl.Addr().String()
	for _, ln := range []net.Listener{sl, tl} {
		go srv.Run(ctx, ln)
	}
	if !o.noRefresher {
		go srv.RunRefresher(ctx)
	}
	h.unix = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", h.sock)
		},
		MaxIdleConnsPerHost: 64,
	}}
	h.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(h.unix.CloseIdleConnections)
	t.Cleanup(h.http.CloseIdleConnections)
	return h
}

// settle waits until the refresher is asleep on the clock again.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.clk.BlockUntil(ctx, 1); err != nil {
		h.t.Fatalf("refresher did not go back to sleep: %v", err)
	}
}

// waitReady waits until the refresher's start-up fetch of profile has landed.
func (h *harness) waitReady(profile string) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range h.srv.status().Profiles {
			if p.Name == profile && p.ExpiresOn != 0 && p.State == wire.StateReady {
				h.settle()
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.t.Fatalf("profile %s never became ready: %+v", profile, h.srv.status().Profiles)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) token(t testing.TB) wire.Token {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var tok wire.Token
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (r response) errCode(t testing.TB) string {
	t.Helper()
	var e wire.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" || e.Description == "" {
		t.Fatalf("not an error body (status %d): %s", r.status, r.body)
	}
	return e.Error
}

func do(t testing.TB, hc *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// get asks over the unix socket.
func (h *harness) get(path string) response {
	req, _ := http.NewRequest("GET", "http://tokend"+path, nil)
	return do(h.t, h.unix, req)
}

// post asks over the unix socket with a JSON body.
func (h *harness) post(path string, body any) response {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://tokend"+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	return do(h.t, h.unix, req)
}

// claims decodes a JWT payload without verifying it (the emulator's tests
// verify signatures).
func claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	c, err := entraemu.DecodeClaims(jwt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func unixClaim(c map[string]any, k string) time.Time {
	f, _ := c[k].(float64)
	return time.Unix(int64(f), 0)
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func (h *harness) profileStatus(name string) wire.ProfileStatus {
	for _, p := range h.srv.status().Profiles {
		if p.Name == name {
			return p
		}
	}
	h.t.Fatalf("no profile %s in status", name)
	return wire.ProfileStatus{}
}

func listenTCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func bytesReader(b []byte) io.Reader { return strings.NewReader(string(b)) }
