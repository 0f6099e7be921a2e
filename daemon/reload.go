package daemon

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
)

// profileSet is the configured profiles. Reload replaces it whole, so a
// request sees either the old set or the new one, never a mix, and the hot
// path reads it with one atomic load.
type profileSet struct {
	cfg    *config.Config
	byName map[string]*profile
	list   []*profile // sorted by name
}

func (s *Server) profileSet() *profileSet { return s.set.Load() }

// profile returns the profile called name, or nil.
func (s *Server) profile(name string) *profile { return s.set.Load().byName[name] }

// buildSet makes the profile set of cfg. A profile whose settings are equal
// to one in old is carried over with its tokens, sign-in and counters; a new
// or changed one starts fresh. A profile whose source cannot be built is kept,
// in state "error", so that the others still work.
func (s *Server) buildSet(cfg *config.Config, old *profileSet) *profileSet {
	ps := &profileSet{cfg: cfg, byName: map[string]*profile{}}
	for name, pc := range cfg.Profiles {
		if old != nil {
			if op := old.byName[name]; op != nil && reflect.DeepEqual(*op.cfg, *pc) {
				ps.byName[name] = op
				continue
			}
		}
		pr := newProfile(pc)
		src, err := s.cfg.Sources(pc)
		if err != nil {
			pr.broken = err
			s.log.Error("profile unusable", "profile", name, "err", err)
		}
		pr.src = src
		ps.byName[name] = pr
	}
	for _, p := range ps.byName {
		ps.list = append(ps.list, p)
	}
	slices.SortFunc(ps.list, func(a, b *profile) int {
		switch {
		case a.cfg.Name < b.cfg.Name:
			return -1
		case a.cfg.Name > b.cfg.Name:
			return 1
		}
		return 0
	})
	return ps
}

// ReloadResult says what a Reload changed, by profile name.
type ReloadResult struct {
	Added, Removed, Changed, Kept []string
}

// Reload applies a new configuration's profiles (and default profile) without
// a restart: unchanged profiles keep their tokens and sign-ins, changed ones
// start over (their stored secrets stay: a changed tenant or client id needs
// `token login` again), removed ones stop being served and lose their
// capabilities, and new ones are fetched at once. Daemon settings (socket,
// http, store) need a restart.
func (s *Server) Reload(cfg *config.Config) ReloadResult {
	old := s.set.Load()
	next := s.buildSet(cfg, old)
	var r ReloadResult
	var fresh []*profile
	for _, p := range next.list {
		op := old.byName[p.cfg.Name]
		switch {
		case op == nil:
			r.Added = append(r.Added, p.cfg.Name)
			fresh = append(fresh, p)
		case op != p:
			r.Changed = append(r.Changed, p.cfg.Name)
			fresh = append(fresh, p)
		default:
			r.Kept = append(r.Kept, p.cfg.Name)
		}
	}
	for _, p := range old.list {
		if next.byName[p.cfg.Name] == nil {
			r.Removed = append(r.Removed, p.cfg.Name)
		}
	}
	s.set.Store(next)
	for _, name := range r.Removed {
		s.caps.revokeProfile(context.Background(), name)
	}
	s.prefetch(fresh...)
	s.nudge()
	s.log.Info("config reloaded", "added", r.Added, "removed", r.Removed, "changed", r.Changed)
	return r
}

// errNoReload: the daemon was built without Config.LoadConfig.
var errNoReload = errors.New("this tokend cannot reload its config: restart it")

// ReloadConfig reads the configuration again (Config.LoadConfig) and
// applies it (Reload). A configuration that does not load changes nothing.
func (s *Server) ReloadConfig() (*config.Config, ReloadResult, error) {
	if s.cfg.LoadConfig == nil {
		return nil, ReloadResult{}, errNoReload
	}
	cfg, err := s.cfg.LoadConfig()
	if err != nil {
		return nil, ReloadResult{}, err
	}
	return cfg, s.Reload(cfg), nil
}

// handleReload is POST /v1/reload (socket only): `token setup` has the
// daemon load the profile it wrote; SIGHUP does the same.
func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) error {
	var req struct{}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	cfg, res, err := s.ReloadConfig()
	if err != nil {
		s.log.Error("config reload failed; keeping the running config", "err", err)
		return newError(wire.CodeInvalidRequest, "%v (the running config is unchanged)", err).because(err)
	}
	writeJSON(w, http.StatusOK, wire.ReloadResult{Config: cfg.Path, Added: res.Added, Removed: res.Removed, Changed: res.Changed, Kept: res.Kept})
	return nil
}
