package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
)

// Sign-in. POST /v1/login signs a profile in with its flow. Flows that need
// nobody at a browser (password, client secret, refresh-token import)
// answer one JSON LoginResult. Interactive flows (browser, device code)
// need the client to show something and the person to act: the request
// says Accept: application/x-ndjson, and the answer is a stream of
// wire.LoginEvent lines, first what to show (open_url, device_code), then
// how it ended (signed_in, error). Errors found before anything was shown
// are ordinary error answers.
//
// A sign-in lives as long as its request: a client that goes away (Ctrl-C)
// cancels it. One sign-in per profile at a time: a newer one, a logout or
// the daemon shutting down cancels the one in progress. A sign-in that does
// not finish changes nothing.

// maxLoginTimeout bounds LoginRequest.TimeoutSeconds; each flow has its
// default (flow.Flow.Timeout).
const maxLoginTimeout = time.Hour

// Why a sign-in was cancelled by the daemon.
var (
	errSuperseded = errors.New("another sign-in to this profile started")
	errLoggedOut  = errors.New("the profile was logged out")
	errShutdown   = errors.New("tokend is shutting down")
)

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req wire.LoginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.profileFor(r, req.Profile)
	if err != nil {
		return err
	}
	method, timeout, err := checkLogin(p, req)
	if err != nil {
		return err
	}
	interactive := method.Interactive
	if interactive && !strings.Contains(r.Header.Get("Accept"), wire.ContentTypeNDJSON) {
		return newError(wire.CodeInvalidRequest, "a %s sign-in needs someone to show it to: run `%s`, or ask with Accept: %s", method.Name, method.LoginCommand(p.cfg.Name), wire.ContentTypeNDJSON)
	}
	ctx, end, err := s.logins.begin(r.Context(), p.cfg.Name)
	if err != nil {
		return newError(wire.CodeInternal, "%v", err)
	}
	defer end()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	lr := loginRequest(req)
	lr.Method = method.Name
	if !interactive {
		t, err := s.login(ctx, p, lr)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, loginResult(p, t))
		return nil
	}
	st := &loginStream{w: w}
	lr.Interact = func(in idp.Interaction) {
		ev := wire.LoginEvent{Event: wire.EventOpenURL, URL: in.URL}
		if in.URL == "" {
			ev = wire.LoginEvent{Event: wire.EventDeviceCode, Message: in.Message, UserCode: in.UserCode,
				VerificationURI: in.VerificationURI, ExpiresOn: unix(in.ExpiresOn)}
		}
		st.send(ev)
	}
	t, err := s.login(ctx, p, lr)
	switch {
	case err != nil && !st.started:
		return err
	case err != nil:
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = newError(wire.CodeInternal, "sign-in to %s failed: see the tokend log", p.cfg.Name)
		}
		st.send(wire.LoginEvent{Event: wire.EventError, Error: ae.code, Description: ae.desc})
	default:
		res := loginResult(p, t)
		st.send(wire.LoginEvent{Event: wire.EventSignedIn, Result: &res})
	}
	return nil
}

// checkLogin refuses a request that does not fit the profile, and returns
// the sign-in method (the profile's flow, or another of its methods that
// the request names) and how long the sign-in may take.
func checkLogin(p *profile, req wire.LoginRequest) (flow.Flow, time.Duration, error) {
	own := flow.Get(p.cfg.Flow)
	method := own
	if req.Flow != "" {
		m, ok := flow.Lookup(flow.Name(req.Flow))
		if !ok || !own.Allows(m.Name) {
			var names []string
			for _, m := range own.Methods() {
				names = append(names, string(m.Name))
			}
			return flow.Flow{}, 0, newError(wire.CodeInvalidRequest, "profile %s (flow %s) signs in with %s, not %q: run `%s`", p.cfg.Name, own.Name, strings.Join(names, ", "), req.Flow, own.LoginCommand(p.cfg.Name))
		}
		method = m
	}
	if p.broken != nil {
		return flow.Flow{}, 0, p.unusable()
	}
	if _, err := base64.StdEncoding.DecodeString(req.Certificate); err != nil {
		return flow.Flow{}, 0, newError(wire.CodeInvalidRequest, "certificate: want the file's content in standard base64: %v", err)
	}
	if req.TimeoutSeconds < 0 || time.Duration(req.TimeoutSeconds)*time.Second > maxLoginTimeout {
		return flow.Flow{}, 0, newError(wire.CodeInvalidRequest, "timeout_seconds %d: want 0 (the default) up to %d", req.TimeoutSeconds, int(maxLoginTimeout/time.Second))
	}
	if req.TimeoutSeconds > 0 {
		return method, time.Duration(req.TimeoutSeconds) * time.Second, nil
	}
	return method, method.Timeout, nil
}

func loginRequest(req wire.LoginRequest) idp.LoginRequest {
	cert, _ := base64.StdEncoding.DecodeString(req.Certificate) // checked by checkLogin
	return idp.LoginRequest{Username: req.Username, Password: req.Password, ClientSecret: req.ClientSecret, RefreshToken: req.RefreshToken,
		Certificate: cert, CertificatePassword: req.CertificatePassword}
}

func loginResult(p *profile, t idp.Token) wire.LoginResult {
	return wire.LoginResult{Profile: p.cfg.Name, Account: t.Account, ExpiresOn: t.ExpiresOn.Unix()}
}

// loginStream writes the NDJSON answer of an interactive sign-in, one
// flushed line per event.
type loginStream struct {
	w       http.ResponseWriter
	started bool
}

func (st *loginStream) send(ev wire.LoginEvent) {
	if !st.started {
		h := st.w.Header()
		h.Set("Content-Type", wire.ContentTypeNDJSON)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		st.w.WriteHeader(http.StatusOK)
		st.started = true
	}
	b, _ := json.Marshal(ev)
	// A client that went away cancels the sign-in through the request's
	// context; write errors need no handling of their own.
	_, _ = st.w.Write(append(b, '\n'))
	_ = http.NewResponseController(st.w).Flush()
}

// logins tracks the sign-in in progress of each profile. The zero value is
// ready to use.
type logins struct {
	mu      sync.Mutex
	running map[string]*loginSession
	closed  bool
}

type loginSession struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// begin registers a sign-in to profile and returns its context, cancelling
// the one in progress (and waiting for it to end). end must be called when
// the sign-in is over.
func (l *logins) begin(ctx context.Context, profile string) (_ context.Context, end func(), _ error) {
	ctx, cancel := context.WithCancelCause(ctx)
	sess := &loginSession{cancel: cancel, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		cancel(errShutdown)
		return nil, nil, errShutdown
	}
	if l.running == nil {
		l.running = map[string]*loginSession{}
	}
	old := l.running[profile]
	l.running[profile] = sess
	l.mu.Unlock()
	if old != nil {
		old.cancel(errSuperseded)
		select {
		case <-old.done:
		case <-ctx.Done():
		}
	}
	return ctx, func() {
		cancel(nil)
		l.mu.Lock()
		if l.running[profile] == sess {
			delete(l.running, profile)
		}
		l.mu.Unlock()
		close(sess.done)
	}, nil
}

// cancel ends the sign-in to profile in progress, if any, for cause.
func (l *logins) cancel(profile string, cause error) {
	l.mu.Lock()
	sess := l.running[profile]
	l.mu.Unlock()
	if sess != nil {
		sess.cancel(cause)
		<-sess.done
	}
}

// shutdown cancels every sign-in in progress and refuses new ones.
func (l *logins) shutdown() {
	l.mu.Lock()
	l.closed = true
	running := l.running
	l.running = nil
	l.mu.Unlock()
	for _, sess := range running {
		sess.cancel(errShutdown)
	}
}

// loginError explains a failed sign-in in one line that names the fix.
// What only the user can fix is login_required (exit code 4 of `token`).
func loginError(ctx context.Context, p *profile, err error) error {
	name := p.cfg.Name
	var ae *apiError
	var ie *idp.Error
	if e := storeError(err); e != nil {
		return e
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return newError(wire.CodeInvalidRequest, "sign-in to %s cancelled: %v", name, context.Cause(ctx))
	case errors.As(err, &ie) && ie.Temporary:
		e := newError(wire.CodeUpstreamUnavailable, "sign-in to %s failed, try again: %v", name, err)
		e.retryAfter = ie.RetryAfter
		return e
	case errors.As(err, &ie):
		what := strings.TrimSuffix(ie.Description, ".")
		if what == "" {
			what = ie.Error()
		}
		return newError(wire.CodeLoginRequired, "sign-in to %s failed (%s): %s", name, what, loginFix(p.cfg, ie))
	}
	return newError(wire.CodeInvalidRequest, "sign-in to %s: %v", name, err)
}

// loginFix says what to do after a refused sign-in.
func loginFix(p *config.Profile, ie *idp.Error) string {
	own := flow.Get(p.Flow)
	cmd := "`" + own.LoginCommand(p.Name) + "`"
	n := aadsts(ie)
	switch {
	case n == 50126:
		return "check the user name and password, then run " + cmd + " again"
	case n == 50076 || n == 50079 || n == 50158 || ie.Code == "interaction_required":
		if !own.Interactive {
			return fmt.Sprintf("the account needs multi-factor authentication, which flow %s cannot do: run `%s` (or `%s`)", p.Flow,
				flow.Get(flow.Browser).LoginCommand(p.Name), flow.Get(flow.DeviceCode).LoginCommand(p.Name))
		}
		return "run " + cmd + " and complete the multi-factor authentication"
	case n == 65001 || ie.Code == "consent_required":
		if !own.Interactive {
			if own.User {
				return fmt.Sprintf("ask an administrator to grant consent to application %s, or consent yourself: run `%s`", p.ClientID, flow.Get(flow.Browser).LoginCommand(p.Name))
			}
			return fmt.Sprintf("ask an administrator to grant consent to application %s", p.ClientID)
		}
		return "run " + cmd + " and accept the consent prompt"
	case ie.Code == "authorization_declined":
		return "the code was declined on the sign-in page; run " + cmd + " to try again"
	case n == 65004 || ie.Code == "access_denied":
		return "the sign-in was cancelled in the browser; run " + cmd + " to try again"
	case ie.Code == "expired_token":
		return "the code was not entered in time; run " + cmd + " again"
	case n == 54005:
		return "the authorization code had already been redeemed (a replayed or stale redirect); run " + cmd + " again"
	case ie.Code == "state_mismatch":
		return "it came from a stale browser tab or a forged redirect; run " + cmd + " again and use only the page it opens"
	case ie.Code == "timeout":
		return "run " + cmd + " again (--timeout waits longer)"
	case p.Flow == flow.RefreshToken && ie.Code == "invalid_grant":
		return "the refresh token is invalid, expired, revoked or for another client: get a new one and pipe it to " + cmd
	}
	return "run " + cmd
}

// login runs the sign-in and makes the resulting token current. A failed
// sign-in changes nothing: the profile keeps its previous sign-in, if any.
func (s *Server) login(ctx context.Context, p *profile, req idp.LoginRequest) (idp.Token, error) {
	if p.broken != nil {
		return idp.Token{}, p.unusable()
	}
	t, err := p.src.Login(ctx, req)
	if err != nil {
		s.log.Warn("sign-in failed", "profile", p.cfg.Name, "err", err)
		return idp.Token{}, loginError(ctx, p, err)
	}
	s.install(p, t)
	s.log.Info("signed in", "profile", p.cfg.Name, "account", t.Account)
	return t, nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	var req wire.LogoutRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.profileFor(r, req.Profile)
	if err != nil {
		return err
	}
	s.logins.cancel(p.cfg.Name, errLoggedOut)
	if p.src != nil {
		if err := p.src.Logout(r.Context()); err != nil {
			return err
		}
	}
	s.forget(p)
	s.caps.revokeProfile(r.Context(), p.cfg.Name)
	s.log.Info("signed out", "profile", p.cfg.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
