package daemon

import (
	"context"
	"errors"
	"net/http"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/internal/idp"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.status())
	return nil
}

// handleLogin runs the profile's sign-in step with what the user supplied.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req client.LoginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.profileFor(r, req.Profile)
	if err != nil {
		return err
	}
	t, err := s.login(r.Context(), p, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, client.LoginResult{Profile: p.cfg.Name, Account: t.Account, ExpiresOn: t.ExpiresOn.Unix()})
	return nil
}

// Login signs a profile in from inside the process (the emulator's
// demo-user), as POST /v1/login does for a client.
func (s *Server) Login(ctx context.Context, name string, req client.LoginRequest) error {
	p := s.profiles[name]
	if p == nil {
		return newError(client.CodeUnknownProfile, "no profile %q", name)
	}
	_, err := s.login(ctx, p, req)
	return err
}

// login runs the sign-in and makes the resulting token current.
func (s *Server) login(ctx context.Context, p *profile, req client.LoginRequest) (idp.Token, error) {
	if p.broken != nil {
		return idp.Token{}, newError(client.CodeInvalidRequest, "profile %s cannot be used: %v", p.cfg.Name, p.broken)
	}
	t, err := p.src.Login(ctx, idp.LoginRequest{Username: req.Username, Password: req.Password, ClientSecret: req.ClientSecret})
	if err != nil {
		s.log.Warn("login failed", "profile", p.cfg.Name, "err", err)
		return idp.Token{}, loginError(p, err)
	}
	s.install(p, t)
	s.log.Info("signed in", "profile", p.cfg.Name, "account", t.Account)
	return t, nil
}

// loginError explains a failed sign-in. Wrong credentials are the user's to
// fix, so they are login_required, not invalid_request.
func loginError(p *profile, err error) error {
	if e := storeError(err); e != nil {
		return e
	}
	var ie *idp.Error
	switch {
	case errors.As(err, &ie) && ie.Temporary:
		e := newError(client.CodeUpstreamUnavailable, "sign-in to profile %s failed, try again: %v", p.cfg.Name, err)
		e.retryAfter = ie.RetryAfter
		return e
	case errors.As(err, &ie):
		return newError(client.CodeLoginRequired, "sign-in to profile %s failed: %v", p.cfg.Name, err)
	}
	return newError(client.CodeInvalidRequest, "sign-in to profile %s: %v", p.cfg.Name, err)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	var req client.LogoutRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.profileFor(r, req.Profile)
	if err != nil {
		return err
	}
	if p.src != nil {
		if err := p.src.Logout(r.Context()); err != nil {
			return err
		}
	}
	s.forget(p)
	s.caps.revokeProfile(p.cfg.Name)
	s.log.Info("signed out", "profile", p.cfg.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
