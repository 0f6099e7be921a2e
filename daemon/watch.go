package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/quote"
)

const (
	// watchBuffer is how many events a stream may fall behind before it is
	// ended (its client reconnects and re-reads the state).
	watchBuffer = 64
	// watchKeepalive is the real-time interval of SSE comments that keep
	// idle connections open and find dead clients. It is plumbing, not token
	// scheduling, so it does not use the daemon's clock.
	watchKeepalive = 25 * time.Second
)

// watchers fans events out to the GET /v1/watch streams. Publishing never
// blocks the refresher. The zero value is ready to use.
type watchers struct {
	mu    sync.Mutex
	subs  map[*watcher]struct{}
	state map[string]string // profile → state last published
}

type watcher struct {
	profile string       // "" for every profile
	srv     *http.Server // the server the stream is on, to end it at shutdown
	ch      chan wire.Event
	done    chan struct{} // closed to end the stream
	once    sync.Once
}

func (wt *watcher) end() { wt.once.Do(func() { close(wt.done) }) }

func (ws *watchers) subscribe(profile string, srv *http.Server) *watcher {
	wt := &watcher{profile: profile, srv: srv, ch: make(chan wire.Event, watchBuffer), done: make(chan struct{})}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.subs == nil {
		ws.subs = map[*watcher]struct{}{}
	}
	ws.subs[wt] = struct{}{}
	return wt
}

func (ws *watchers) unsubscribe(wt *watcher) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.subs, wt)
}

// endServer ends the streams served by srv, so that its graceful shutdown
// does not wait for them.
func (ws *watchers) endServer(srv *http.Server) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for wt := range ws.subs {
		if wt.srv == srv {
			wt.end()
		}
	}
}

// publish sends ev to every stream that wants it. A rotation always goes
// out; a state event only when the profile's state differs from the last
// one published, so a provider outage is one event, not one per retry.
func (ws *watchers) publish(ev wire.Event) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.state == nil {
		ws.state = map[string]string{}
	}
	last, ok := ws.state[ev.Profile]
	if !ok {
		last = wire.StateReady
	}
	if ev.Type == wire.EventState && ev.State == last {
		return
	}
	ws.state[ev.Profile] = ev.State
	for wt := range ws.subs {
		if wt.profile != "" && wt.profile != ev.Profile {
			continue
		}
		select {
		case wt.ch <- ev:
		default:
			wt.end() // too slow: its client reconnects
		}
	}
}

// publishRefresh reports the outcome of one refresh of sl.
func (s *Server) publishRefresh(p *profile, sl *slot, tok idp.Token, err error) {
	ev := wire.Event{Profile: p.cfg.Name, Scopes: sl.scopes, Time: s.clock.Now().Unix()}
	if err == nil {
		ev.Type, ev.State = wire.EventRotated, wire.StateReady
		ev.Account, ev.ExpiresOn, ev.NextRefresh = tok.Account, tok.ExpiresOn.Unix(), unix(sl.nextAt())
	} else {
		ev.Type, ev.State, ev.Error = wire.EventState, wire.StateError, err.Error()
		if errors.Is(err, idp.ErrLoginRequired) {
			ev.State = wire.StateLoginRequired
		}
	}
	s.watch.publish(ev)
}

// publishLogin reports the token a sign-in installed.
func (s *Server) publishLogin(p *profile, sl *slot, tok idp.Token) {
	s.watch.publish(wire.Event{
		Type: wire.EventRotated, Profile: p.cfg.Name, State: wire.StateReady, Scopes: sl.scopes,
		Account: tok.Account, ExpiresOn: tok.ExpiresOn.Unix(), NextRefresh: unix(sl.nextAt()),
		Time: s.clock.Now().Unix(),
	})
}

// publishLogout reports that a profile lost its tokens.
func (s *Server) publishLogout(p *profile) {
	s.watch.publish(wire.Event{
		Type: wire.EventState, Profile: p.cfg.Name, State: wire.StateLoginRequired,
		Error: "signed out", Time: s.clock.Now().Unix(),
	})
}

// handleWatch serves GET /v1/watch[?profile=P] as server-sent events: one
// event per token rotation or profile state change, named by its type, with
// a wire.Event as data. A comment opens the stream once the subscription
// is live; comments keep it alive. A capability holder sees its own profile.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return newError(wire.CodeInvalidRequest, "malformed query: %v", err)
	}
	for k, v := range q {
		if k != "profile" || len(v) != 1 {
			return newError(wire.CodeInvalidRequest, "unknown or repeated query parameter %s (want profile)", quote.String(k))
		}
	}
	name := q.Get("profile")
	if c := callerOf(r.Context()).cap; c != nil || name != "" {
		p, err := s.profileFor(r, name)
		if err != nil {
			return err
		}
		name = p.cfg.Name
	}
	// A stream outlives any write timeout of the server, which would cut
	// it. (net/http already lifts the read deadline while a handler runs.)
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("watch: clear write deadline: %w", err)
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	wt := s.watch.subscribe(name, srv)
	defer s.watch.unsubscribe(wt)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": watching\n\n"); err != nil {
		return nil
	}
	if rc.Flush() != nil {
		return nil
	}
	tick := time.NewTicker(watchKeepalive)
	defer tick.Stop()
	for {
		var err error
		select {
		case ev := <-wt.ch:
			b, _ := json.Marshal(ev)
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b)
		case <-tick.C:
			_, err = fmt.Fprint(w, ": keepalive\n\n")
		case <-wt.done:
			return nil
		case <-r.Context().Done():
			return nil
		}
		if err != nil || rc.Flush() != nil {
			return nil // the client went away
		}
	}
}
