package daemon

import (
	"context"
	"net/http"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/quote"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.status())
	return nil
}

// Login signs a profile in from inside the process (the emulator's
// demo-user), as POST /v1/login does for a client. Interactive flows cannot
// be signed in this way.
func (s *Server) Login(ctx context.Context, name string, req wire.LoginRequest) error {
	p := s.profile(name)
	if p == nil {
		return newError(wire.CodeUnknownProfile, "no profile %s", quote.String(name))
	}
	_, err := s.login(ctx, p, loginRequest(req))
	return err
}

// login runs the sign-in and makes the resulting token current. A failed
// sign-in changes nothing: the profile keeps its previous sign-in, if any.
func (s *Server) login(ctx context.Context, p *profile, req idp.LoginRequest) (idp.Token, error) {
	if p.broken != nil {
		return idp.Token{}, newError(wire.CodeInvalidRequest, "profile %s cannot be used: %v", p.cfg.Name, p.broken)
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
