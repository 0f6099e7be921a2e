package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/emutest"
	"github.com/tokend/tokend/internal/entra"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// blockingSource is a sign-in that waits on its person until cancelled,
// and reports why it was cancelled.
type blockingSource struct {
	started chan struct{}
	ended   chan error // context.Cause when Login returned
}

func newBlockingSource() *blockingSource {
	return &blockingSource{started: make(chan struct{}, 4), ended: make(chan error, 4)}
}

func (b *blockingSource) Login(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	if req.Interact != nil {
		req.Interact(idp.Interaction{URL: "https://idp.example/authorize?state=s"})
	}
	b.started <- struct{}{}
	<-ctx.Done()
	b.ended <- context.Cause(ctx)
	return idp.Token{}, ctx.Err()
}

func (b *blockingSource) Token(context.Context, []string) (idp.Token, error) {
	return idp.Token{}, idp.ErrLoginRequired
}

func (b *blockingSource) Logout(context.Context) error { return nil }
func (b *blockingSource) Unsaved() error               { return nil }
func (b *blockingSource) Save(context.Context) error   { return nil }

// loginHarness is a daemon, on the real clock, with a profile of each flow
// against the emulator, and "slow": a browser profile whose sign-in blocks.
type loginHarness struct {
	t    *testing.T
	em   *entraemu.Emulator
	srv  *Server
	sock string
	slow *blockingSource
}

func newLoginHarness(t *testing.T) *loginHarness {
	t.Helper()
	// The tests play the browser with an HTTP client: /authorize signs in
	// at once instead of showing its page.
	em := entraemu.NewTest(t, entraemu.Config{InstantSignIn: true})
	var profiles strings.Builder
	for name, f := range map[string]flow.Name{"web": flow.Browser, "dev": flow.DeviceCode, "imp": flow.RefreshToken, "user": flow.Password, "slow": flow.Browser} {
		profiles.WriteString(emutest.Profile(name, f, em.Authority(), ""))
	}
	profiles.WriteString(emutest.Profile("app", flow.ClientSecret, em.Authority(), ""))
	cfg, err := config.Parse("test.toml", []byte(profiles.String()))
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	st.Set(context.Background(), "profile/app/client-secret", []byte(entraemu.ClientSecret))
	h := &loginHarness{t: t, em: em, slow: newBlockingSource()}
	srv, err := New(Config{
		Config: cfg,
		Store:  st,
		Sources: func(p *config.Profile) (Source, error) {
			if p.Name == "slow" {
				return h.slow, nil
			}
			return entra.New(p, entra.Options{Secrets: st, HTTPClient: em.HTTPClient()})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	h.srv = srv
	dir, err := os.MkdirTemp("", "tkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h.sock = filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", h.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// login posts a sign-in over the socket and returns the answer, left open
// for streams.
func (h *loginHarness) login(ctx context.Context, req wire.LoginRequest, ndjson bool) *http.Response {
	h.t.Helper()
	b, _ := json.Marshal(req)
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://tokend/v1/login", strings.NewReader(string(b)))
	if ndjson {
		r.Header.Set("Accept", wire.ContentTypeNDJSON)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", h.sock)
	}}}
	resp, err := hc.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events reads a sign-in stream line by line.
type events struct {
	t  *testing.T
	sc *bufio.Scanner
}

func (e events) next() wire.LoginEvent {
	e.t.Helper()
	if !e.sc.Scan() {
		e.t.Fatalf("stream ended: %v", e.sc.Err())
	}
	var ev wire.LoginEvent
	if err := json.Unmarshal(e.sc.Bytes(), &ev); err != nil {
		e.t.Fatalf("event %q: %v", e.sc.Bytes(), err)
	}
	return ev
}

func readEvents(t *testing.T, resp *http.Response) events {
	t.Helper()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wire.ContentTypeNDJSON {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("not a sign-in stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return events{t: t, sc: bufio.NewScanner(resp.Body)}
}

func errorBody(t *testing.T, resp *http.Response) wire.ErrorBody {
	t.Helper()
	var eb wire.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error == "" {
		t.Fatalf("not an error answer (%d): %v", resp.StatusCode, err)
	}
	return eb
}

var (
	formAction = regexp.MustCompile(`action="([^"]+)"`)
	formInput  = regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`)
)

// browse plays the person's browser on the emulator's sign-in page.
func browse(t *testing.T, em *entraemu.Emulator, signIn string) {
	t.Helper()
	resp, err := em.HTTPClient().Get(signIn)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no form: %s", page)
	}
	form := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	r, err := http.PostForm(html.UnescapeString(m[1]), form)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoginStreams(t *testing.T) {
	h := newLoginHarness(t)
	t.Run("browser", func(t *testing.T) {
		ev := readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "web", Flow: "browser"}, true))
		first := ev.next()
		if first.Event != wire.EventOpenURL || !strings.HasPrefix(first.URL, h.em.Authority()+"/oauth2/v2.0/authorize?") {
			t.Fatalf("first event = %+v", first)
		}
		browse(t, h.em, first.URL)
		last := ev.next()
		if last.Event != wire.EventSignedIn || last.Result == nil || last.Result.Account != entraemu.Username || last.Result.Profile != "web" {
			t.Fatalf("last event = %+v", last)
		}
		if st := h.profileStatus("web"); st.State != wire.StateReady || st.Account != entraemu.Username {
			t.Errorf("status after sign-in = %+v", st)
		}
	})
	t.Run("device code", func(t *testing.T) {
		ev := readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "dev"}, true))
		first := ev.next()
		if first.Event != wire.EventDeviceCode || !strings.Contains(first.Message, first.UserCode) || first.VerificationURI == "" || first.ExpiresOn == 0 {
			t.Fatalf("first event = %+v", first)
		}
		if err := h.em.ApproveDeviceCode(first.UserCode, entraemu.SecondUsername); err != nil {
			t.Fatal(err)
		}
		if last := ev.next(); last.Event != wire.EventSignedIn || last.Result.Account != entraemu.SecondUsername {
			t.Fatalf("last event = %+v", last)
		}
	})
	t.Run("cancelled in the browser", func(t *testing.T) {
		h.em.NextAuthorize(entraemu.AuthorizeCancel)
		ev := readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "web"}, true))
		browse(t, h.em, ev.next().URL)
		last := ev.next()
		if last.Event != wire.EventError || last.Error != wire.CodeLoginRequired ||
			!strings.HasSuffix(last.Description, "the sign-in was cancelled in the browser; run `token login web --browser` to try again") {
			t.Fatalf("last event = %+v", last)
		}
		// The earlier sign-in stands.
		if st := h.profileStatus("web"); st.State != wire.StateReady || st.Account != entraemu.Username {
			t.Errorf("status after a cancelled sign-in = %+v", st)
		}
	})
	t.Run("nobody comes", func(t *testing.T) {
		ev := readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "web", TimeoutSeconds: 1}, true))
		ev.next()
		if last := ev.next(); last.Event != wire.EventError || last.Error != wire.CodeLoginRequired || !strings.Contains(last.Description, "not finished in time") {
			t.Fatalf("last event = %+v", last)
		}
	})
	t.Run("another method of the profile", func(t *testing.T) {
		// A browser profile signed in with a password (no stream: the
		// method decides), then with a device code.
		resp := h.login(testContext(t), wire.LoginRequest{Profile: "web", Flow: "password", Username: entraemu.SecondUsername, Password: entraemu.Password}, false)
		var r wire.LoginResult
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&r) != nil || r.Account != entraemu.SecondUsername {
			t.Fatalf("password sign-in of a browser profile: %d %+v", resp.StatusCode, r)
		}
		ev := readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "web", Flow: "device-code"}, true))
		first := ev.next()
		if first.Event != wire.EventDeviceCode {
			t.Fatalf("first event = %+v", first)
		}
		if err := h.em.ApproveDeviceCode(first.UserCode, entraemu.Username); err != nil {
			t.Fatal(err)
		}
		if last := ev.next(); last.Event != wire.EventSignedIn || last.Result.Account != entraemu.Username {
			t.Fatalf("last event = %+v", last)
		}
		if st := h.profileStatus("web"); st.State != wire.StateReady || st.Account != entraemu.Username || st.Flow != "browser" {
			t.Errorf("status after a device-code sign-in of a browser profile = %+v", st)
		}
	})
	t.Run("plain flows answer JSON", func(t *testing.T) {
		resp := h.login(testContext(t), wire.LoginRequest{Profile: "app", ClientSecret: entraemu.ClientSecret}, true)
		var r wire.LoginResult
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.NewDecoder(resp.Body).Decode(&r) != nil || r.Account != entraemu.ConfidentialClientID {
			t.Fatalf("client-secret sign-in: %d %s %+v", resp.StatusCode, resp.Header.Get("Content-Type"), r)
		}
	})
}

func TestLoginRefused(t *testing.T) {
	h := newLoginHarness(t)
	for _, tc := range []struct {
		name   string
		req    wire.LoginRequest
		ndjson bool
		status int
		code   string
		desc   string
	}{
		{"interactive without a stream", wire.LoginRequest{Profile: "web"}, false, 400, wire.CodeInvalidRequest, "run `token login web --browser`"},
		{"a method the profile does not have", wire.LoginRequest{Profile: "web", Flow: "client-secret"}, true, 400, wire.CodeInvalidRequest,
			"profile web (flow browser) signs in with browser, device-code, password, refresh-token, not \"client-secret\": run `token login web --browser`"},
		{"an unknown method", wire.LoginRequest{Profile: "web", Flow: "carrier-pigeon"}, true, 400, wire.CodeInvalidRequest, `not "carrier-pigeon"`},
		{"negative timeout", wire.LoginRequest{Profile: "dev", TimeoutSeconds: -1}, true, 400, wire.CodeInvalidRequest, "timeout_seconds -1"},
		{"timeout over an hour", wire.LoginRequest{Profile: "dev", TimeoutSeconds: 3601}, true, 400, wire.CodeInvalidRequest, "timeout_seconds 3601"},
		{"unknown profile", wire.LoginRequest{Profile: "nope"}, true, 404, wire.CodeUnknownProfile, `no profile "nope"`},
		{"no refresh token", wire.LoginRequest{Profile: "imp"}, false, 400, wire.CodeInvalidRequest, "a refresh token is required: pipe one to `token login imp --refresh-token-stdin`"},
		{"bad refresh token", wire.LoginRequest{Profile: "imp", RefreshToken: "nope"}, false, 409, wire.CodeLoginRequired, "AADSTS9002313"},
		{"wrong password", wire.LoginRequest{Profile: "user", Username: entraemu.Username, Password: "nope"}, false, 409, wire.CodeLoginRequired,
			"check the user name and password, then run `token login user --username USER --password-stdin` again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.login(testContext(t), tc.req, tc.ndjson)
			eb := errorBody(t, resp)
			if resp.StatusCode != tc.status || eb.Error != tc.code || !strings.Contains(eb.Description, tc.desc) || strings.Contains(eb.Description, "\n") {
				t.Fatalf("%d %+v, want %d %s %q", resp.StatusCode, eb, tc.status, tc.code, tc.desc)
			}
		})
	}
	if st := h.profileStatus("app"); st.State == wire.StateError {
		t.Errorf("another profile was disturbed: %+v", st)
	}
}

// TestLoginOnePerProfile: a newer sign-in, a logout or a shutdown cancels
// the sign-in in progress, whose client hears why; a client that goes
// away cancels its sign-in.
func TestLoginOnePerProfile(t *testing.T) {
	h := newLoginHarness(t)
	waitEnded := func(want error) {
		t.Helper()
		select {
		case got := <-h.slow.ended:
			if !errors.Is(got, want) {
				t.Fatalf("sign-in ended by %v, want %v", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the sign-in in progress was not cancelled")
		}
	}
	first := readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "slow"}, true))
	if ev := first.next(); ev.Event != wire.EventOpenURL {
		t.Fatalf("first event = %+v", ev)
	}
	<-h.slow.started

	second := readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "slow"}, true))
	waitEnded(errSuperseded)
	if ev := first.next(); ev.Event != wire.EventError || !strings.Contains(ev.Description, "another sign-in to this profile started") {
		t.Fatalf("superseded sign-in's last event = %+v", ev)
	}
	second.next()
	<-h.slow.started

	b, _ := json.Marshal(wire.LogoutRequest{Profile: "slow"})
	r, _ := http.NewRequest(http.MethodPost, "http://tokend/v1/logout", strings.NewReader(string(b)))
	if resp, err := unixClient(h.sock).Do(r); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %v %v", resp, err)
	}
	waitEnded(errLoggedOut)
	if ev := second.next(); ev.Event != wire.EventError || !strings.Contains(ev.Description, "logged out") {
		t.Fatalf("logged-out sign-in's last event = %+v", ev)
	}

	ctx, cancel := context.WithCancel(testContext(t))
	third := readEvents(t, h.login(ctx, wire.LoginRequest{Profile: "slow"}, true))
	third.next()
	<-h.slow.started
	cancel() // the client went away (Ctrl-C)
	waitEnded(context.Canceled)

	readEvents(t, h.login(testContext(t), wire.LoginRequest{Profile: "slow"}, true)).next()
	<-h.slow.started
	h.srv.logins.shutdown()
	waitEnded(errShutdown)
	if resp := h.login(testContext(t), wire.LoginRequest{Profile: "slow"}, true); resp.StatusCode != 500 {
		t.Errorf("sign-in after shutdown: HTTP %d", resp.StatusCode)
	}
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func (h *loginHarness) profileStatus(name string) wire.ProfileStatus {
	h.t.Helper()
	for _, p := range h.srv.status().Profiles {
		if p.Name == name {
			return p
		}
	}
	h.t.Fatalf("no profile %s", name)
	return wire.ProfileStatus{}
}

// TestLoginFix: every refused sign-in says, in one line, what to do.
func TestLoginFix(t *testing.T) {
	prof := func(f flow.Name) *profile { return newProfile(&config.Profile{Name: "p", Flow: f, ClientID: "cid"}) }
	for _, tc := range []struct {
		flow flow.Name
		err  error
		code string
		want string
	}{
		{"password", &idp.Error{Code: "invalid_grant", Description: "AADSTS50126: Error validating credentials.", LoginNeeded: true}, wire.CodeLoginRequired,
			"sign-in to p failed (AADSTS50126: Error validating credentials): check the user name and password, then run `token login p --username USER --password-stdin` again"},
		{"password", &idp.Error{Code: "interaction_required", Description: "AADSTS50076: Due to a configuration change", LoginNeeded: true}, wire.CodeLoginRequired,
			"which flow password cannot do: run `token login p --browser` (or `token login p --device-code`)"},
		{"browser", &idp.Error{Code: "interaction_required", Description: "AADSTS50076: x"}, wire.CodeLoginRequired, "run `token login p --browser` and complete the multi-factor authentication"},
		{"password", &idp.Error{Code: "invalid_grant", Description: "AADSTS65001: The user or administrator has not consented"}, wire.CodeLoginRequired, "ask an administrator to grant consent to application cid, or consent yourself: run `token login p --browser`"},
		{"client-secret", &idp.Error{Code: "invalid_grant", Description: "AADSTS65001: x"}, wire.CodeLoginRequired, "ask an administrator to grant consent to application cid"},
		{"device-code", &idp.Error{Code: "invalid_grant", Description: "AADSTS65001: x"}, wire.CodeLoginRequired, "run `token login p --device-code` and accept the consent prompt"},
		{"browser", &idp.Error{Code: "access_denied", Description: "AADSTS65004: User declined"}, wire.CodeLoginRequired, "the sign-in was cancelled in the browser; run `token login p --browser` to try again"},
		{"device-code", &idp.Error{Code: "authorization_declined", Description: "AADSTS65004: User declined"}, wire.CodeLoginRequired, "the code was declined on the sign-in page; run `token login p --device-code` to try again"},
		{"device-code", &idp.Error{Code: "expired_token", Description: "AADSTS70020: expired"}, wire.CodeLoginRequired, "the code was not entered in time; run `token login p --device-code` again"},
		{"browser", &idp.Error{Code: "invalid_grant", Description: "AADSTS54005: already redeemed"}, wire.CodeLoginRequired, "had already been redeemed"},
		{"browser", &idp.Error{Code: entra.CodeStateMismatch, Description: "OAuth state mismatch"}, wire.CodeLoginRequired, "forged redirect"},
		{"browser", &idp.Error{Code: entra.CodeTimeout, Description: "not finished in time"}, wire.CodeLoginRequired, "(--timeout waits longer)"},
		{"refresh-token", &idp.Error{Code: "invalid_grant", Description: "AADSTS9002313: Invalid request."}, wire.CodeLoginRequired, "get a new one and pipe it to `token login p --refresh-token-stdin`"},
		{"client-secret", &idp.Error{Code: "invalid_client", Description: "AADSTS7000215: Invalid client secret provided."}, wire.CodeLoginRequired, "run `token login p --client-secret-stdin`"},
		{"browser", &idp.Error{Status: 503, Temporary: true, RetryAfter: 9 * time.Second}, wire.CodeUpstreamUnavailable, "try again"},
		{"refresh-token", errors.New("a refresh token is required"), wire.CodeInvalidRequest, "sign-in to p: a refresh token is required"},
		{"browser", fmt.Errorf("read: %w", store.ErrUnavailable), wire.CodeStoreUnavailable, "secret store unavailable"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			var ae *apiError
			if !errors.As(loginError(context.Background(), prof(tc.flow), tc.err), &ae) {
				t.Fatal("not an API error")
			}
			if ae.code != tc.code || !strings.Contains(ae.desc, tc.want) || strings.ContainsAny(ae.desc, "\r\n") {
				t.Fatalf("%s: %q, want %s %q", ae.code, ae.desc, tc.code, tc.want)
			}
			if tc.code == wire.CodeUpstreamUnavailable && ae.retryAfter != 9*time.Second {
				t.Errorf("Retry-After %v", ae.retryAfter)
			}
		})
	}
}

func TestLoginsRegistry(t *testing.T) {
	var l logins
	ctx1, end1, err := l.begin(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctxB, endB, _ := l.begin(context.Background(), "b")
	done := make(chan struct{})
	var ctx2 context.Context
	var end2 func()
	go func() {
		ctx2, end2, _ = l.begin(context.Background(), "a") // waits for the first to end
		close(done)
	}()
	<-ctx1.Done()
	if context.Cause(ctx1) != errSuperseded {
		t.Fatalf("first sign-in ended by %v", context.Cause(ctx1))
	}
	select {
	case <-done:
		t.Fatal("the second began before the first ended")
	case <-time.After(50 * time.Millisecond):
	}
	end1()
	<-done
	if ctxB.Err() != nil || ctx2.Err() != nil {
		t.Fatal("other sign-ins were cancelled")
	}
	var wg sync.WaitGroup
	wg.Go(func() { l.cancel("a", errLoggedOut) })
	<-ctx2.Done()
	end2()
	wg.Wait()
	l.shutdown()
	if context.Cause(ctxB) != errShutdown {
		t.Errorf("shutdown left a sign-in running: %v", context.Cause(ctxB))
	}
	endB()
	if _, _, err := l.begin(context.Background(), "c"); err != errShutdown {
		t.Errorf("begin after shutdown = %v", err)
	}
}
