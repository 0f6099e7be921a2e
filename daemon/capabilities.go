package daemon

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/quote"
)

const (
	capPrefix     = "tkd1"
	defaultCapTTL = 12 * time.Hour
	maxCapTTL     = 30 * 24 * time.Hour
)

// capability is a bearer secret that lets a TCP caller get tokens of one
// profile. Only its SHA-256 is kept.
type capability struct {
	id      string
	hash    [sha256.Size]byte
	profile string
	scopes  []string // empty: any scope
	expires time.Time
	audited atomic.Pointer[auditKey] // audit.go

	mu    sync.Mutex
	asked map[string]struct{} // the scope sets asked for (scopeKey)
}

// admit records that the capability asks for scopes, and reports whether
// it may: at most max distinct scope sets in its life.
func (c *capability) admit(scopes []string, max int) error {
	k := scopeKey(scopes)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.asked[k]; ok {
		return nil
	}
	if len(c.asked) >= max {
		return newError(wire.CodeForbidden, "this capability has asked for %d scope sets, the most daemon.max_scope_sets_per_capability allows: mint another (token exec, token env), or raise the limit in the config and restart tokend", max)
	}
	if c.asked == nil {
		c.asked = map[string]struct{}{}
	}
	c.asked[k] = struct{}{}
	return nil
}

// allows reports whether the capability covers every scope asked.
func (c *capability) allows(scopes []string) bool {
	if len(c.scopes) == 0 {
		return true
	}
	for _, s := range scopes {
		if !slices.Contains(c.scopes, s) {
			return false
		}
	}
	return true
}

type capabilities struct {
	clock clock.Clock
	mu    sync.Mutex
	byID  map[string]*capability
}

func newCapabilities(c clock.Clock) *capabilities {
	return &capabilities{clock: c, byID: map[string]*capability{}}
}

// mint creates a capability and returns its secret form
// "tkd1.<id>.<secret>", which is shown once and never stored.
func (cs *capabilities) mint(profile string, scopes []string, ttl time.Duration) (*capability, string) {
	var id [8]byte
	var secret [32]byte
	rand.Read(id[:])
	rand.Read(secret[:])
	enc := base64.RawURLEncoding.EncodeToString(secret[:])
	c := &capability{
		id:      hex.EncodeToString(id[:]),
		hash:    sha256.Sum256([]byte(enc)),
		profile: profile,
		scopes:  scopes,
		expires: cs.clock.Now().Add(ttl),
	}
	now := cs.clock.Now()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for id, old := range cs.byID { // expired ones nobody presented again
		if !now.Before(old.expires) {
			delete(cs.byID, id)
		}
	}
	cs.byID[c.id] = c
	return c, capPrefix + "." + c.id + "." + enc
}

// check returns the live capability whose secret form is tok, or nil. The
// secret is compared in constant time.
func (cs *capabilities) check(tok string) *capability {
	prefix, rest, ok1 := strings.Cut(tok, ".")
	id, secret, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || prefix != capPrefix {
		return nil
	}
	cs.mu.Lock()
	c := cs.byID[id]
	cs.mu.Unlock()
	if c == nil {
		return nil
	}
	h := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(h[:], c.hash[:]) != 1 {
		return nil
	}
	if !cs.clock.Now().Before(c.expires) {
		cs.revoke(id)
		return nil
	}
	return c
}

func (cs *capabilities) revoke(id string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	_, ok := cs.byID[id]
	delete(cs.byID, id)
	return ok
}

func (cs *capabilities) revokeProfile(profile string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for id, c := range cs.byID {
		if c.profile == profile {
			delete(cs.byID, id)
		}
	}
}

func (s *Server) handleCreateCapability(w http.ResponseWriter, r *http.Request) error {
	var req wire.CapabilityRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Profile == "" {
		return newError(wire.CodeInvalidRequest, "profile is required")
	}
	p, err := s.profileFor(r, req.Profile)
	if err != nil {
		return err
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	switch {
	case req.TTLSeconds == 0:
		ttl = defaultCapTTL
	case req.TTLSeconds < 0 || ttl > maxCapTTL:
		return newError(wire.CodeInvalidRequest, "ttl_seconds must be between 1 and %d", int(maxCapTTL.Seconds()))
	}
	var scopes []string
	if len(req.Scopes) > 0 {
		if scopes, err = requestedScopes(req.Scopes, "", nil); err != nil {
			return err
		}
	}
	c, secret := s.caps.mint(p.cfg.Name, scopes, ttl)
	s.log.Info("capability minted", "id", c.id, "profile", c.profile, "expires", c.expires.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusCreated, wire.Capability{ID: c.id, Token: secret, Profile: c.profile, Scopes: c.scopes, ExpiresOn: c.expires.Unix()})
	return nil
}

func (s *Server) handleRevokeCapability(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if !s.caps.revoke(id) {
		return errorf(http.StatusNotFound, wire.CodeInvalidRequest, "no capability %s", quote.String(id))
	}
	s.log.Info("capability revoked", "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
