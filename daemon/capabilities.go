package daemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/quote"
)

const (
	capPrefix     = "tkd1"
	defaultCapTTL = 12 * time.Hour
	// maxCapTTL bounds a capability's life. A .databrickscfg profile
	// holds one for months (the Databricks kind opens nothing but the
	// metadata service of the profile's hosts, to the owner's uid).
	maxCapTTL = 366 * 24 * time.Hour
	// maxLabel bounds a label, in bytes.
	maxLabel = 128
	// maxLive bounds the live capabilities: each is saved with every
	// change, and nobody hands out thousands.
	maxLive = 4096
)

// capKind is what a capability is for (wire.Capability*): it decides the
// endpoints it opens, who besides its owner may present it, and whether it
// must be saved before it is handed out.
type capKind string

const (
	capEnv        capKind = wire.CapabilityEnv
	capExec       capKind = wire.CapabilityExec
	capDatabricks capKind = wire.CapabilityDatabricks
)

// mustSave says whether the capability is refused when the store cannot
// keep it: one written to a shell or a file must outlive a restart; one of
// `token exec` dies with its child anyway.
func (k capKind) mustSave() bool { return k != capExec }

// serves reports whether a capability of this kind opens path.
func (k capKind) serves(path string) bool {
	return k != capDatabricks || strings.HasPrefix(path, databricksPrefix)
}

// capability is a bearer secret that lets a TCP caller get tokens of one
// profile. Only its SHA-256 is kept, in memory and in the store.
type capability struct {
	id      string
	hash    [sha256.Size]byte
	profile string
	kind    capKind
	label   string
	scopes  []string // empty: any scope
	hosts   []string // the Databricks hosts it answers for, narrowed at mint; empty: all of the profile's
	uid     int      // its owner, who minted it over the socket; -1: unknown
	created time.Time
	expires time.Time

	lastUsed atomic.Int64             // unix seconds; 0: never
	audited  atomic.Pointer[auditKey] // audit.go

	mu    sync.Mutex
	asked map[string]struct{} // the scope sets asked for (scopeKey)
}

// admit records that the capability asks for scopes, and reports whether
// it may: at most max distinct scope sets in its life (in this daemon).
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

// admitsUID reports whether a TCP peer of uid may present the capability:
// its owner, and, for a capability of `token exec` (whose child may run a
// program under sudo or in a container), the other uids the TCP listener
// admits (guest: root). Where either uid is unknown (macOS; a capability
// minted in-process) the capability alone decides.
func (c *capability) admitsUID(uid int, guest func(int) bool) bool {
	return c.uid < 0 || uid < 0 || uid == c.uid || c.kind == capExec && guest(uid)
}

// used records a use at now.
func (c *capability) used(now time.Time) {
	if s := now.Unix(); s > c.lastUsed.Load() {
		c.lastUsed.Store(s)
	}
}

// name is how logs and messages call it: its id and label.
func (c *capability) name() string {
	if c.label == "" {
		return c.id
	}
	return c.id + " (" + c.label + ")"
}

// capSpec is what a new capability is for.
type capSpec struct {
	profile string
	kind    capKind
	label   string
	scopes  []string
	hosts   []string
	uid     int
	ttl     time.Duration
}

// capabilities holds the live capabilities, keeps them in the store (see
// capstore.go) and checks presented ones.
type capabilities struct {
	clock clock.Clock
	log   *slog.Logger
	store SecretStore // nil: memory only

	mu   sync.Mutex
	byID map[string]*capability

	persist capPersistence // capstore.go
}

func newCapabilities(c clock.Clock, st SecretStore, log *slog.Logger) *capabilities {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cs := &capabilities{clock: c, log: log, store: st, byID: map[string]*capability{}}
	if st == nil {
		cs.persist.loaded.Store(true)
	}
	return cs
}

// newSecret makes a capability of spec and its secret form
// "tkd1.<id>.<secret>", which is shown once and never kept.
func newSecret(spec capSpec, now time.Time) (*capability, string) {
	var id [8]byte
	var secret [32]byte
	rand.Read(id[:])
	rand.Read(secret[:])
	enc := base64.RawURLEncoding.EncodeToString(secret[:])
	c := &capability{
		id:      hex.EncodeToString(id[:]),
		hash:    sha256.Sum256([]byte(enc)),
		profile: spec.profile,
		kind:    kindOrEnv(spec.kind),
		label:   spec.label,
		scopes:  spec.scopes,
		hosts:   spec.hosts,
		uid:     spec.uid,
		created: now,
		expires: now.Add(spec.ttl),
	}
	return c, capPrefix + "." + c.id + "." + enc
}

func kindOrEnv(k capKind) capKind {
	if k == "" {
		return capEnv
	}
	return k
}

// mint creates a capability and keeps it: in the store first, when its
// kind must outlive a restart (a store that cannot keep it refuses it).
func (cs *capabilities) mint(ctx context.Context, spec capSpec) (*capability, string, error) {
	loadErr := cs.load(ctx)
	if loadErr != nil && kindOrEnv(spec.kind).mustSave() {
		return nil, "", loadErr
	}
	c, secret := newSecret(spec, cs.clock.Now())
	cs.mu.Lock()
	cs.sweep(c.created)
	if len(cs.byID) >= maxLive {
		cs.mu.Unlock()
		return nil, "", newError(wire.CodeForbidden, "%d capabilities are live, the most tokend keeps: revoke some (`token capabilities list`, `token capabilities revoke ID`)", maxLive)
	}
	cs.byID[c.id] = c
	cs.mu.Unlock()
	if loadErr != nil { // an exec capability: in memory until the store works
		cs.log.Warn("capability kept in memory only: the store cannot load the saved ones", "capability", c.id, "err", loadErr)
		return c, secret, nil
	}
	if err := cs.save(ctx); err != nil {
		if c.kind.mustSave() {
			cs.mu.Lock()
			delete(cs.byID, c.id)
			cs.mu.Unlock()
			return nil, "", err
		}
		cs.log.Warn("capability kept in memory only: the store cannot save it (tokend retries)", "capability", c.id, "err", err)
	}
	return c, secret, nil
}

// sweep drops capabilities expired at now. cs.mu is held.
func (cs *capabilities) sweep(now time.Time) {
	for id, old := range cs.byID {
		if !now.Before(old.expires) {
			delete(cs.byID, id)
			cs.persist.dirty = true
		}
	}
}

// check returns the live capability whose secret form is tok, or nil. The
// secret is compared in constant time.
func (cs *capabilities) check(tok string) *capability {
	prefix, rest, ok1 := strings.Cut(tok, ".")
	id, secret, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || prefix != capPrefix {
		return nil
	}
	if !cs.persist.loaded.Load() {
		// The saved capabilities could not be read yet (a locked
		// keychain): try again, at most every loadRetry.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cs.load(ctx)
		cancel()
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
		cs.mu.Lock()
		delete(cs.byID, id)
		cs.persist.dirty = true
		cs.mu.Unlock()
		return nil
	}
	return c
}

// revoke removes a capability, and from the store. found is false for an
// unknown id; err says that the store could not record it (then a restart
// before tokend manages to would bring it back).
func (cs *capabilities) revoke(ctx context.Context, id string) (c *capability, err error) {
	if err := cs.load(ctx); err != nil {
		return nil, err
	}
	cs.mu.Lock()
	c = cs.byID[id]
	delete(cs.byID, id)
	cs.mu.Unlock()
	if c == nil {
		return nil, nil
	}
	return c, cs.save(ctx)
}

// revokeProfile revokes every capability of a profile (signed out, or
// removed from the config).
func (cs *capabilities) revokeProfile(ctx context.Context, profile string) {
	if err := cs.load(ctx); err != nil {
		// The saved ones of the profile are dropped when they are read.
		cs.mu.Lock()
		if cs.persist.dropProfiles == nil {
			cs.persist.dropProfiles = map[string]bool{}
		}
		cs.persist.dropProfiles[profile] = true
		cs.mu.Unlock()
	}
	n := 0
	cs.mu.Lock()
	for id, c := range cs.byID {
		if c.profile == profile {
			delete(cs.byID, id)
			n++
		}
	}
	cs.mu.Unlock()
	if n == 0 {
		return
	}
	if err := cs.save(ctx); err != nil {
		cs.log.Warn("capabilities revoked, but the store could not record it (tokend retries)", "profile", profile, "count", n, "err", err)
	}
}

// list describes the live capabilities, by profile, then creation.
func (cs *capabilities) list() []wire.CapabilityInfo {
	now := cs.clock.Now()
	cs.mu.Lock()
	out := make([]wire.CapabilityInfo, 0, len(cs.byID))
	for _, c := range cs.byID {
		if !now.Before(c.expires) {
			continue
		}
		info := wire.CapabilityInfo{
			ID: c.id, Profile: c.profile, Kind: string(c.kind), Label: c.label,
			Scopes: c.scopes, Hosts: c.hosts,
			CreatedOn: c.created.Unix(), ExpiresOn: c.expires.Unix(), LastUsed: c.lastUsed.Load(),
		}
		if c.uid >= 0 {
			uid := c.uid
			info.UID = &uid
		}
		out = append(out, info)
	}
	cs.mu.Unlock()
	slices.SortFunc(out, func(a, b wire.CapabilityInfo) int {
		if a.Profile != b.Profile {
			return strings.Compare(a.Profile, b.Profile)
		}
		if a.CreatedOn != b.CreatedOn {
			return int(a.CreatedOn - b.CreatedOn)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
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
	kind := capKind(req.Kind)
	switch kind {
	case "":
		kind = capEnv
	case capEnv, capExec, capDatabricks:
	default:
		return newError(wire.CodeInvalidRequest, "kind %s: want %s, %s or %s", quote.String(req.Kind), capEnv, capExec, capDatabricks)
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	switch {
	case req.TTLSeconds == 0:
		ttl = defaultCapTTL
	case req.TTLSeconds < 0 || ttl > maxCapTTL:
		return newError(wire.CodeInvalidRequest, "ttl_seconds must be between 1 and %d", int(maxCapTTL.Seconds()))
	}
	if len(req.Label) > maxLabel || !utf8.ValidString(req.Label) || strings.ContainsFunc(req.Label, isControl) {
		return newError(wire.CodeInvalidRequest, "label: at most %d bytes of printable UTF-8", maxLabel)
	}
	var scopes []string
	if len(req.Scopes) > 0 {
		if scopes, err = requestedScopes(req.Scopes, "", nil); err != nil {
			return err
		}
	}
	var hosts []string // empty: the profile's hosts, as the config has them when it is used
	if len(req.Hosts) > 0 {
		for _, h := range req.Hosts {
			n, err := config.NormalizeHost(h)
			if err != nil || !slices.Contains(p.cfg.AllDatabricksHosts(), n) {
				return newError(wire.CodeInvalidRequest, "host %s is not one of profile %s's Databricks hosts (%s): add it to databricks_hosts in the config and reload tokend", quote.String(h), p.cfg.Name, hostList(p.cfg))
			}
			if !slices.Contains(hosts, n) {
				hosts = append(hosts, n)
			}
		}
	}
	if kind == capDatabricks {
		if len(p.cfg.AllDatabricksHosts()) == 0 {
			return newError(wire.CodeInvalidRequest, "profile %s has no Databricks host: set databricks_host (and databricks_hosts) in the config", p.cfg.Name)
		}
		if len(scopes) > 0 {
			return newError(wire.CodeInvalidRequest, "a Databricks capability is for the Azure Databricks resource alone: give no scopes")
		}
		scopes = []string{config.DatabricksScope}
	}
	uid := -1
	if c := callerOf(r.Context()); c.socket && c.credErr == nil {
		uid = c.cred.UID
	}
	c, secret, err := s.caps.mint(r.Context(), capSpec{profile: p.cfg.Name, kind: kind, label: req.Label, scopes: scopes, hosts: hosts, uid: uid, ttl: ttl})
	if err != nil {
		return capStoreError("keep the capability", err)
	}
	hosts = c.hosts
	if len(hosts) == 0 {
		hosts = p.cfg.AllDatabricksHosts()
	}
	s.log.Info("capability minted", "capability", c.id, "label", c.label, "kind", string(c.kind), "profile", c.profile, "uid", c.uid, "expires", c.expires.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusCreated, wire.Capability{ID: c.id, Token: secret, Profile: c.profile, Scopes: c.scopes, ExpiresOn: c.expires.Unix(), Kind: string(c.kind), Label: c.label, Hosts: hosts})
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 }

// hostList names a profile's Databricks hosts for messages.
func hostList(p *config.Profile) string {
	if h := p.AllDatabricksHosts(); len(h) > 0 {
		return strings.Join(h, ", ")
	}
	return "none"
}

func (s *Server) handleRevokeCapability(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	c, err := s.caps.revoke(r.Context(), id)
	if c == nil && err != nil {
		return capStoreError("read the saved capabilities", err)
	}
	if c == nil {
		return errorf(http.StatusNotFound, wire.CodeInvalidRequest, "no capability %s: it expired, was revoked, or never existed (`token capabilities list` shows the live ones)", quote.String(id))
	}
	s.log.Info("capability revoked", "capability", c.id, "label", c.label, "profile", c.profile)
	if err != nil {
		return capStoreError("record the revocation of "+c.id+" (it is revoked until tokend restarts; tokend retries)", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleListCapabilities(w http.ResponseWriter, r *http.Request) error {
	if err := s.caps.load(r.Context()); err != nil {
		return capStoreError("read the saved capabilities", err)
	}
	l := wire.CapabilityList{Capabilities: s.caps.list(), Store: s.cfg.Store.Backend()}
	for i, c := range l.Capabilities {
		if p := s.profile(c.Profile); p != nil && len(c.Hosts) == 0 {
			l.Capabilities[i].Hosts = p.cfg.AllDatabricksHosts() // all of them, now
		}
	}
	var warn []string
	if l.Store == "memory" {
		warn = append(warn, "memory store: capabilities last as long as this tokend; after a restart every URL handed out is dead (run `token env`, `token databricks configure` again)")
	}
	if n := s.caps.setAsideNote(); n != "" {
		warn = append(warn, n)
	}
	l.Warning = strings.Join(warn, "; ")
	writeJSON(w, http.StatusOK, l)
	return nil
}

// capStoreError explains a failure of the capability store: a store that
// does not work is store_unavailable (its message carries the fix).
func capStoreError(what string, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if e := storeError(err); e != nil {
		e.desc = quote.Line("cannot " + what + ": " + e.desc)
		return e
	}
	return newError(wire.CodeStoreUnavailable, "cannot %s: %v", what, err).because(err).withRetry(30 * time.Second)
}
