package daemon

import (
	"maps"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/tokend/tokend/client/wire"
)

// GET /healthz and GET /v1/status: whether the daemon answers, and what it
// and each profile are doing (wire.Status).

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.status())
	return nil
}

// status gathers wire.Status: listeners, store, and each profile.
func (s *Server) status() wire.Status {
	s.mu.Lock()
	ls := s.listeners
	s.mu.Unlock()
	set := s.profileSet()
	st := wire.Status{
		Version:   s.cfg.Version,
		PID:       os.Getpid(),
		Config:    set.cfg.Path,
		Listeners: ls,
		Store: wire.StoreStatus{
			Backend: s.cfg.Store.Backend(),
			State:   wire.StoreOK,
			Healthy: true,
			Warning: s.cfg.Store.Warning(),
		},
		Profiles: []wire.ProfileStatus{},
	}
	if err := s.cfg.Store.Health(); err != nil {
		st.Store.Healthy, st.Store.State, st.Store.Error = false, wire.StoreUnavailable, err.Error()
	}
	now := s.clock.Now()
	for _, p := range set.list {
		st.Profiles = append(st.Profiles, p.status(now))
	}
	return st
}

func (p *profile) status(now time.Time) wire.ProfileStatus {
	st := wire.ProfileStatus{
		Name:   p.cfg.Name,
		Flow:   string(p.cfg.Flow),
		State:  wire.StateReady,
		Scopes: p.cfg.Scopes,
		Counters: wire.Counters{
			Served: p.served.Load(), Waited: p.waited.Load(),
			Refreshes: p.refreshes.Load(), Failures: p.failures.Load(),
		},
		DatabricksHost:           p.cfg.DatabricksHost,
		DatabricksHosts:          p.cfg.AllDatabricksHosts(),
		DatabricksAccountID:      p.cfg.DatabricksAccountID,
		AzureWorkspaceResourceID: p.cfg.AzureWorkspaceResourceID,
	}
	if p.broken != nil {
		st.State, st.LastError = wire.StateError, p.broken.Error()
		st.Fix = "fix profiles." + p.cfg.Name + " in the config, then restart tokend"
		return st
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st.Account = p.account
	st.LastRefresh = unix(p.lastRefresh)
	if p.lastErr != nil {
		st.LastError = p.lastErr.Error()
	}
	var busy, failing bool
	mainKey := scopeKey(normScopes(p.cfg.Scopes))
	main := p.slots[mainKey]
	keys := slices.Sorted(maps.Keys(p.slots))
	if i := slices.Index(keys, mainKey); i > 0 {
		keys = append(append([]string{mainKey}, keys[:i]...), keys[i+1:]...)
	}
	var mainRefused *apiError
	for _, k := range keys {
		sl := p.slots[k]
		ts := sl.status()
		st.Tokens = append(st.Tokens, ts)
		busy = busy || ts.State == wire.StateRefreshing
		failing = failing || ts.State == wire.StateError
		if sl == main || main == nil {
			st.ExpiresOn, st.NextRefresh = ts.ExpiresOn, ts.NextRefresh
		}
		if sl == main {
			mainRefused, _ = sl.refusal()
		}
	}
	unsaved := p.src.Unsaved()
	switch {
	case p.loginNeeded != nil:
		st.State = wire.StateLoginRequired
		st.Fix = loginHint(p.cfg)
	case unsaved != nil:
		st.State = wire.StateUnsaved
		st.LastError = unsaved.Error()
		st.Fix = "tokens are still served and tokend keeps retrying the save: make the store writable (see the error) before tokend stops, or its next start has only the older stored sign-in"
	case mainRefused != nil:
		st.State, st.LastError, st.Fix = wire.StateError, mainRefused.desc, "fix the scopes of profiles."+p.cfg.Name+" in the config"
	case busy:
		st.State = wire.StateRefreshing
	case failing:
		st.State = wire.StateError
	}
	return st
}

// status reports the slot for ProfileStatus.Tokens.
func (sl *slot) status() wire.TokenStatus {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	ts := wire.TokenStatus{Scopes: sl.scopes, State: wire.StateReady, NextRefresh: unix(sl.next)}
	if t := sl.cur.Load(); t != nil {
		ts.ExpiresOn = t.ExpiresOn.Unix()
	}
	switch {
	case sl.refused != nil:
		ts.State, ts.LastError = wire.StateRefused, sl.refused.desc
	case sl.call != nil:
		ts.State = wire.StateRefreshing
	case sl.failures > 0:
		ts.State = wire.StateError
		if sl.err != nil {
			ts.LastError = sl.err.Error()
		}
	}
	return ts
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
