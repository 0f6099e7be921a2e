package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
)

// Freshness rules (docs/contract.md).
const (
	minServe        = 2 * time.Minute  // never serve a token with less left
	minServeHealthy = 10 * time.Minute // under this, serve only while refresh is failing
	latestRefresh   = 15 * time.Minute // refresh at the latest this long before expiry
	backoffBase     = 15 * time.Second
	backoffMax      = 10 * time.Minute
	// maxSleep bounds the refresher's sleep. Timers run on monotonic time,
	// which stops while a laptop sleeps; waking up at least this often
	// notices, by wall time, tokens that went stale meanwhile.
	maxSleep = time.Minute
)

// profile is the daemon's state for one configured profile.
type profile struct {
	cfg    *config.Profile
	src    Source
	broken error // the source could not be built

	mu          sync.Mutex
	slots       map[string]*slot // by scopeKey
	loginNeeded error            // set by invalid_grant & co, cleared by login
	account     string
	lastRefresh time.Time
	lastErr     error
	saveFails   int       // consecutive failed retries of an unsaved sign-in
	saveAt      time.Time // next retry of an unsaved sign-in (wall time); zero: none

	served, waited, refreshes, failures atomic.Int64
	metrics                             profileMetrics
}

// unusable explains why a profile whose source could not be built serves
// nothing.
func (p *profile) unusable() *apiError {
	return newError(wire.CodeInvalidRequest, "profile %s cannot be used: %v", p.cfg.Name, p.broken).because(p.broken)
}

func newProfile(p *config.Profile) *profile {
	return &profile{cfg: p, slots: map[string]*slot{}}
}

// slot is one (profile, scopes) token kept fresh.
type slot struct {
	scopes []string
	cur    atomic.Pointer[idp.Token]
	used   atomic.Int64 // unix nanos of the last request (daemon clock)

	mu       sync.Mutex
	call     *call     // the refresh in flight, if any
	next     time.Time // next background refresh (wall time); zero: none scheduled
	obtained time.Time // when the current token arrived (wall time)
	failures int       // consecutive failed refreshes
	err      error     // the last failure, for callers that come during backoff
	// A permanent refusal of these scopes alone (an unknown resource or
	// scope, no consent for it): no background retries; a request may ask
	// once more after retryAt.
	refused  *apiError
	refusals int
	retryAt  time.Time
}

// refusal returns the standing refusal of sl and until when it stands.
func (sl *slot) refusal() (*apiError, time.Time) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.refused, sl.retryAt
}

// slotHealth is what the request path needs to know of a slot.
type slotHealth struct {
	failing bool      // the last refresh failed
	err     error     // and why
	retryAt time.Time // when it is retried
	overdue bool      // the scheduled refresh is overdue (the refresher slept through it)
}

// health reads the slot's health under one lock.
func (sl *slot) health(now time.Time) slotHealth {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return slotHealth{
		failing: sl.failures > 0,
		err:     sl.err,
		retryAt: sl.next,
		overdue: !sl.next.IsZero() && !sl.next.After(now) && sl.call == nil,
	}
}

// circuitOpen reports whether callers finding no valid token are to be told
// at once that the identity provider is failing, instead of each reaching
// it: while a temporary failure backs off.
func (h slotHealth) circuitOpen(now time.Time) bool {
	return h.failing && idp.IsTemporary(h.err) && now.Before(h.retryAt)
}

type call struct {
	done chan struct{}
	tok  idp.Token
	err  error
}

func scopeKey(scopes []string) string { return strings.Join(scopes, " ") }

// normScopes sorts and de-duplicates scopes so that equal sets share a slot.
// Scopes already in order (a profile's own, on every request for them) come
// back as they are, capped so that an append cannot write into them.
func normScopes(scopes []string) []string {
	if strictlySorted(scopes) {
		return scopes[:len(scopes):len(scopes)]
	}
	out := slices.Clone(scopes)
	slices.Sort(out)
	return slices.Compact(out)
}

func strictlySorted(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// slotFor returns the slot of scopes for a request, creating it unless the
// profile keeps MaxScopeSets already (idle ones are dropped first to make
// room); the profile's own scopes always have one. It marks the slot used.
func (s *Server) slotFor(p *profile, scopes []string) (*slot, error) {
	k := scopeKey(scopes)
	now := s.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	sl := p.slots[k]
	if sl == nil {
		main := scopeKey(normScopes(p.cfg.Scopes))
		if k != main && len(p.slots) >= s.cfg.MaxScopeSets {
			p.dropIdle(now.Add(-s.cfg.IdleAfter).UnixNano(), main)
		}
		if k != main && len(p.slots) >= s.cfg.MaxScopeSets {
			return nil, newError(wire.CodeForbidden, "profile %s already keeps %d scope sets fresh, the most daemon.max_scope_sets_per_profile allows: ask for one of those, or raise the limit in the config and restart tokend (a scope set nobody asks for in %s is dropped)", p.cfg.Name, s.cfg.MaxScopeSets, s.cfg.IdleAfter)
		}
		sl = &slot{scopes: scopes}
		p.slots[k] = sl
	}
	sl.used.Store(now.UnixNano())
	return sl, nil
}

// dropIdle forgets the slots, other than main, that nobody asked for since
// idleBefore (unix nanos) and that are not being refreshed. p.mu is held.
func (p *profile) dropIdle(idleBefore int64, main string) (dropped int) {
	for k, sl := range p.slots {
		if k == main || sl.used.Load() >= idleBefore {
			continue
		}
		sl.mu.Lock()
		busy := sl.call != nil
		sl.mu.Unlock()
		if !busy {
			delete(p.slots, k)
			dropped++
		}
	}
	return dropped
}

// slot returns the slot of scopes, creating it.
func (p *profile) slot(scopes []string) *slot {
	k := scopeKey(scopes)
	p.mu.Lock()
	defer p.mu.Unlock()
	sl := p.slots[k]
	if sl == nil {
		sl = &slot{scopes: scopes}
		p.slots[k] = sl
	}
	return sl
}

// servable reports whether t may be handed out at now.
func servable(t *idp.Token, now time.Time, failing bool) bool {
	if t == nil {
		return false
	}
	left := t.ExpiresOn.Sub(now)
	return left >= minServeHealthy || (failing && left >= minServe)
}

// token returns a token for (p, scopes), from memory when fresh enough, else
// by waiting on the one refresh in flight for this slot.
func (s *Server) token(ctx context.Context, p *profile, scopes []string) (idp.Token, error) {
	if p.broken != nil {
		return idp.Token{}, p.unusable()
	}
	sl, err := s.slotFor(p, scopes)
	if err != nil {
		return idp.Token{}, err
	}
	now := s.clock.Now()
	health := sl.health(now)
	cur := sl.cur.Load()
	if servable(cur, now, health.failing) {
		if health.overdue {
			s.nudge() // e.g. just after resume: refresh in the background
		}
		return p.serve(*cur, now), nil
	}
	if err := p.needsLogin(); err != nil {
		return idp.Token{}, s.apiErrorFor(p, err, sl)
	}
	// A refusal stands until its retry time: one request then asks again.
	if refused, at := sl.refusal(); refused != nil && now.Before(at) {
		return idp.Token{}, refused
	}
	// Circuit: while a failing slot backs off, callers are told so at once
	// instead of each reaching the identity provider.
	if health.circuitOpen(now) {
		return idp.Token{}, s.apiErrorFor(p, health.err, sl)
	}
	p.waited.Add(1)
	t, err := s.refresh(ctx, p, sl, false, cur)
	if err == nil {
		return p.serve(t, s.clock.Now()), nil
	}
	// The refresh failed: a token that is still valid is better than none.
	if now := s.clock.Now(); servable(sl.cur.Load(), now, true) {
		return p.serve(*sl.cur.Load(), now), nil
	}
	return idp.Token{}, err
}

// serve counts a token handed out.
func (p *profile) serve(t idp.Token, now time.Time) idp.Token {
	p.served.Add(1)
	p.metrics.served(t.ExpiresOn.Sub(now))
	return t
}

func (p *profile) needsLogin() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loginNeeded
}

// refresh joins the refresh in flight for sl, or starts one. The refresh
// itself is detached from ctx: a caller that gives up does not cancel it for
// the others. A refresh started by a request (not by the refresher) wakes the
// refresher afterwards, so that it sees the new schedule.
//
// A request passes the token it found wanting (seen; nil if none). If the
// slot's token is another one now, a refresh ended between that look and
// this one: its token is the answer, and no second refresh starts (a burst
// of callers costs one request to the identity provider, however they
// interleave with it).
func (s *Server) refresh(ctx context.Context, p *profile, sl *slot, fromRefresher bool, seen *idp.Token) (idp.Token, error) {
	sl.mu.Lock()
	c := sl.call
	if c == nil && !fromRefresher {
		if cur := sl.cur.Load(); cur != nil && cur != seen {
			sl.mu.Unlock()
			return *cur, nil
		}
	}
	if c == nil {
		c = &call{done: make(chan struct{})}
		sl.call = c
		go s.runRefresh(p, sl, c, !fromRefresher)
	}
	sl.mu.Unlock()
	var slow <-chan time.Time
	if !fromRefresher {
		t := time.NewTimer(s.cfg.MaxWait)
		defer t.Stop()
		slow = t.C
	}
	select {
	case <-c.done:
		return c.tok, c.err
	case <-ctx.Done():
		return idp.Token{}, ctx.Err()
	case <-slow:
		e := newError(wire.CodeUpstreamUnavailable, "the identity provider has not answered for profile %s in %s; tokend keeps trying", p.cfg.Name, s.cfg.MaxWait)
		e.retryAfter = 5 * time.Second
		return idp.Token{}, e
	}
}

func (s *Server) runRefresh(p *profile, sl *slot, c *call, nudge bool) {
	ctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.RefreshTimeout)
	defer cancel()
	tok, err := s.redeem(ctx, p, sl)
	now := s.clock.Now().Round(0) // wall time only: see maxSleep
	unsaved := p.src.Unsaved()
	refused := s.pairRefusal(p, sl, err, now)

	sl.mu.Lock()
	sl.err = err
	switch {
	case err == nil:
		sl.cur.Store(&tok)
		sl.failures = 0
		sl.obtained = now
		sl.next = nextRefresh(now, tok.ExpiresOn)
		sl.refused, sl.refusals = nil, 0
	case refused != nil:
		sl.refusals++
		sl.refused, sl.retryAt = refused, now.Add(refusedRetry(sl.refusals))
		sl.failures, sl.next = 0, time.Time{} // nothing to retry in the background
	default:
		sl.failures++
		sl.next = now.Add(retryIn(sl.failures, idp.RetryAfter(err), sl.cur.Load(), now))
		if errors.Is(err, idp.ErrLoginRequired) {
			sl.next = time.Time{} // nothing to retry until the user signs in
		}
	}
	sl.call = nil
	sl.mu.Unlock()

	p.mu.Lock()
	if refused == nil {
		p.lastErr = err
	}
	if unsaved != nil && p.saveAt.IsZero() {
		p.saveAt = now.Add(backoff(1, 0))
	}
	if err == nil {
		p.lastRefresh = now
		p.loginNeeded = nil
		if tok.Account != "" {
			p.account = tok.Account
		}
	} else if refused == nil && errors.Is(err, idp.ErrLoginRequired) {
		// Notify when the identity provider ended a sign-in (revoked,
		// expired), not for a profile that was never signed in.
		var ie *idp.Error
		if p.loginNeeded == nil && errors.As(err, &ie) && s.cfg.OnLoginRequired != nil {
			go s.cfg.OnLoginRequired(p.cfg.Name, loginHint(p.cfg))
		}
		p.loginNeeded = err
	}
	p.mu.Unlock()
	if refused == nil { // a refusal is the caller's answer, not a change of the profile
		s.publishRefresh(p, sl, tok, err)
	}
	if unsaved != nil {
		s.watch.publish(wire.Event{Type: wire.EventState, Profile: p.cfg.Name, State: wire.StateUnsaved, Error: unsaved.Error(), Time: now.Unix()})
	}

	if err == nil {
		p.refreshes.Add(1)
		s.log.Info("token refreshed", "profile", p.cfg.Name, "scopes", sl.scopes, "account", tok.Account,
			"expires_on", tok.ExpiresOn.UTC().Format(time.RFC3339), "next_refresh", sl.nextAt().UTC().Format(time.RFC3339))
	} else if refused != nil {
		p.failures.Add(1)
		s.log.Warn("the identity provider refused these scopes; not retrying", "profile", p.cfg.Name, "scopes", sl.scopes, "err", err)
		err = refused
	} else {
		p.failures.Add(1)
		s.log.Warn("token refresh failed", "profile", p.cfg.Name, "scopes", sl.scopes, "err", err)
		err = s.apiErrorFor(p, err, sl)
	}
	c.tok, c.err = tok, err
	close(c.done)
	if nudge {
		s.nudge()
	}
}

// redeem gets a new token for sl from the source. While the profile's newest
// refresh token is unsaved (the store failed to write it), it is not
// redeemed again: each redemption would leave the one in the store further
// behind, and an identity provider that retires a refresh token once its
// successor is used would leave nothing valid on disk for the next start.
// So redeem retries the save first, and redeems regardless only when the
// token held would otherwise become unservable (or there is none): serving
// comes first, and the save keeps being retried.
func (s *Server) redeem(ctx context.Context, p *profile, sl *slot) (idp.Token, error) {
	if p.src.Unsaved() != nil {
		err := p.src.Save(ctx)
		s.noteSave(p, err)
		if err != nil {
			if t := sl.cur.Load(); t != nil && t.ExpiresOn.Sub(s.clock.Now()) > minServe+time.Minute {
				return idp.Token{}, fmt.Errorf("not redeeming the refresh token of profile %s again before its newest one is saved: %w", p.cfg.Name, err)
			}
			s.log.Warn("redeeming a refresh token whose newest successor is not saved, because the token held would expire otherwise; a restart before the store recovers needs a new sign-in",
				"profile", p.cfg.Name, "err", err)
		}
	}
	began := time.Now()
	tok, err := p.src.Token(ctx, sl.scopes)
	p.metrics.upstream(time.Since(began))
	return tok, err
}

// retrySave retries writing p's unsaved sign-in (the refresher's own
// schedule, with backoff, independent of token refreshes).
func (s *Server) retrySave(ctx context.Context, p *profile) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RefreshTimeout)
	defer cancel()
	s.noteSave(p, p.src.Save(ctx))
}

// noteSave records the outcome of a save attempt and schedules the next.
func (s *Server) noteSave(p *profile, err error) {
	now := s.clock.Now().Round(0)
	p.mu.Lock()
	was := p.saveFails
	if err == nil {
		p.saveFails, p.saveAt = 0, time.Time{}
	} else {
		p.saveFails++
		p.saveAt = now.Add(backoff(p.saveFails, 0))
	}
	p.mu.Unlock()
	switch {
	case err == nil && was > 0:
		s.log.Info("the newest sign-in is saved again", "profile", p.cfg.Name)
		s.watch.publish(wire.Event{Type: wire.EventState, Profile: p.cfg.Name, State: wire.StateReady, Time: now.Unix()})
	case err != nil:
		s.log.Error("could not save the newest sign-in; tokend keeps it in memory and retries", "profile", p.cfg.Name, "err", err)
	}
}

func (sl *slot) nextAt() time.Time {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.next
}

// nextRefresh is when a token obtained at now should be replaced: at half
// its remaining life, less up to 5% jitter, and never later than 15 minutes
// before it expires. Jitter only ever moves a refresh earlier, so a served
// token always has at least half its life left.
func nextRefresh(now, exp time.Time) time.Time {
	now, exp = now.Round(0), exp.Round(0) // compare wall times: see maxSleep
	life := exp.Sub(now)
	if life <= 0 {
		return now
	}
	jitter := time.Duration(rand.Int64N(int64(life/20) + 1))
	at := now.Add(life/2 - jitter)
	if latest := exp.Add(-latestRefresh); at.After(latest) {
		at = latest
	}
	if at.Before(now) { // tokens shorter than 30 minutes
		at = now.Add(life / 2)
	}
	return at
}

// backoff is exponential with full jitter, at least the provider's
// Retry-After.
func backoff(failures int, retryAfter time.Duration) time.Duration {
	d := backoffBase << min(failures-1, 10)
	if d > backoffMax || d <= 0 {
		d = backoffMax
	}
	d = time.Duration(rand.Int64N(int64(d)) + 1)
	return max(d, retryAfter)
}

// retryIn is the wait before the next attempt after a failure: the backoff,
// but short enough that one more attempt comes 30 s before the token held
// drops under minServe (unless the provider's Retry-After forbids it).
func retryIn(failures int, retryAfter time.Duration, cur *idp.Token, now time.Time) time.Duration {
	d := backoff(failures, retryAfter)
	if cur != nil {
		urgent := cur.ExpiresOn.Add(-minServe - 30*time.Second).Sub(now)
		if urgent > 0 && urgent < d && urgent >= retryAfter {
			d = urgent
		}
	}
	return d
}

// nudge wakes the refresher so it re-reads the schedule.
func (s *Server) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// prefetch schedules the first fetch of each profile's own scopes, unless
// it already has a token (a login just did).
func (s *Server) prefetch(ps ...*profile) {
	now := s.clock.Now()
	for _, p := range ps {
		if p.broken != nil {
			continue
		}
		sl := p.slot(normScopes(p.cfg.Scopes))
		sl.used.Store(now.UnixNano())
		sl.mu.Lock()
		if sl.cur.Load() == nil && sl.next.IsZero() {
			sl.next = now
		}
		sl.mu.Unlock()
	}
}

// RunRefresher refreshes tokens in the background until ctx is done. At
// start it fetches every profile's token for its configured scopes (unless a
// login just did), so even the first request is usually served from memory.
func (s *Server) RunRefresher(ctx context.Context) error {
	s.prefetch(s.profileSet().list...)
	for {
		now := s.clock.Now()
		due, next := s.due(now)
		if len(due) > 0 {
			var wg sync.WaitGroup
			for _, d := range due {
				if d.sl == nil {
					wg.Go(func() { s.retrySave(ctx, d.p) })
					continue
				}
				wg.Go(func() { _, _ = s.refresh(ctx, d.p, d.sl, true, nil) })
			}
			wg.Wait()
			continue
		}
		if next.IsZero() || next.Sub(now) > maxSleep {
			next = now.Add(maxSleep)
		}
		// The deadline is absolute: time that passed since due() ran
		// shortens the wait instead of delaying the refresh.
		t := s.clock.NewTimer(next.Sub(s.clock.Now()))
		select {
		case <-t.C():
		case <-s.wake:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// dueSlot is a refresh of sl that is due, or with sl nil, a retry of p's
// unsaved sign-in.
type dueSlot struct {
	p  *profile
	sl *slot
}

// due lists the slots whose refresh time has come (and the profiles whose
// unsaved sign-in is to be saved again), and the earliest future time of
// the others. Pairs idle for IdleAfter are dropped, except each profile's
// own scopes.
func (s *Server) due(now time.Time) (due []dueSlot, next time.Time) {
	idleBefore := now.Add(-s.cfg.IdleAfter).UnixNano()
	for _, p := range s.profileSet().list {
		main := scopeKey(normScopes(p.cfg.Scopes))
		p.mu.Lock()
		switch at := p.saveAt; {
		case at.IsZero():
		case !at.After(now):
			p.saveAt = time.Time{} // noteSave sets the next one
			due = append(due, dueSlot{p: p})
		case next.IsZero() || at.Before(next):
			next = at
		}
		if n := p.dropIdle(idleBefore, main); n > 0 {
			s.log.Debug("dropped idle scope sets", "profile", p.cfg.Name, "count", n)
		}
		for k, sl := range p.slots {
			sl.mu.Lock()
			at, busy := sl.next, sl.call != nil
			if sl.used.Load() < idleBefore {
				// Idle (a busy one: dropped next time): no refresh, except
				// the profile's own scopes once per KeepAlive, so that its
				// refresh token never reaches the identity provider's
				// inactivity limit.
				keep := k == main && s.cfg.KeepAlive > 0 && !sl.obtained.IsZero()
				switch {
				case !keep:
					at = time.Time{}
				case sl.failures == 0:
					at = sl.obtained.Add(s.cfg.KeepAlive)
				} // failing: keep the backoff schedule
			}
			sl.mu.Unlock()
			switch {
			case at.IsZero() || busy:
			case !at.After(now):
				due = append(due, dueSlot{p, sl})
			case next.IsZero() || at.Before(next):
				next = at
			}
		}
		p.mu.Unlock()
	}
	return due, next
}

// install makes t the current token of the profile's own scopes (after a
// login) and forgets the tokens of other scopes, which may belong to another
// account.
func (s *Server) install(p *profile, t idp.Token) {
	now := s.clock.Now().Round(0)
	p.mu.Lock()
	p.slots = map[string]*slot{}
	p.loginNeeded, p.lastErr = nil, nil
	p.lastRefresh = now
	p.account = t.Account
	p.mu.Unlock()
	sl := p.slot(normScopes(p.cfg.Scopes))
	sl.used.Store(now.UnixNano())
	sl.mu.Lock()
	sl.cur.Store(&t)
	sl.obtained = now
	sl.next = nextRefresh(now, t.ExpiresOn)
	sl.mu.Unlock()
	p.refreshes.Add(1)
	s.publishLogin(p, sl, t)
	s.nudge()
}

// forget drops every token of the profile (after a logout).
func (s *Server) forget(p *profile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slots = map[string]*slot{}
	p.account = ""
	p.loginNeeded = idp.ErrLoginRequired
	s.publishLogout(p)
}

// loginHint is the command that signs a profile in.
func loginHint(p *config.Profile) string { return flow.Get(p.Flow).LoginCommand(p.Name) }
