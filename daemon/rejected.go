package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/idp"
)

// handleRefresh serves POST /v1/refresh: a server rejected a token (git's
// credential "erase"), so replace it now instead of at its scheduled time.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	var req wire.RefreshRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var rejected []byte
	if req.RejectedSHA256 != "" {
		b, err := hex.DecodeString(req.RejectedSHA256)
		if err != nil || len(b) != sha256.Size {
			return newError(wire.CodeInvalidRequest, "rejected_sha256 must be 64 hex digits")
		}
		rejected = b
	}
	p, err := s.profileFor(r, req.Profile)
	if err != nil {
		return err
	}
	scopes, err := requestedScopes(req.Scopes, req.Resource, p.cfg.Scopes)
	if err != nil {
		return err
	}
	t, err := s.renew(r.Context(), p, scopes, rejected)
	if err != nil {
		return err
	}
	s.answerToken(w, r, p, scopes, t)
	return nil
}

// renew fetches a new token for (p, scopes), joining a refresh in flight.
// When rejected (a SHA-256) is given and the current token is another one,
// that token was already replaced: it is served without asking the
// identity provider, so a burst of rejections costs one refresh.
func (s *Server) renew(ctx context.Context, p *profile, scopes []string, rejected []byte) (idp.Token, error) {
	if p.broken != nil || p.needsLogin() != nil {
		return s.token(ctx, p, scopes) // explains what is wrong
	}
	sl, err := s.slotFor(p, scopes)
	if err != nil {
		return idp.Token{}, err
	}
	now := s.clock.Now()
	cur := sl.cur.Load()
	if rejected != nil && cur != nil && !hashOf(cur, rejected) {
		return s.token(ctx, p, scopes)
	}
	// The same circuit as s.token: while the slot backs off after
	// temporary failures, the identity provider is not asked again.
	if health := sl.health(now); health.circuitOpen(now) {
		return idp.Token{}, s.apiErrorFor(p, health.err, sl)
	}
	p.waited.Add(1)
	// refresh looks again, under the slot's lock: a burst of reports of
	// one token must not start a second refresh after the first ended.
	t, err := s.refresh(ctx, p, sl, false, cur)
	if err != nil {
		return idp.Token{}, err
	}
	return p.serve(t, s.clock.Now()), nil
}

// hashOf says whether sum is the SHA-256 of t's access token.
func hashOf(t *idp.Token, sum []byte) bool {
	h := sha256.Sum256([]byte(t.AccessToken))
	return subtle.ConstantTimeCompare(h[:], sum) == 1
}
