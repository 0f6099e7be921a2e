// Package daemon is tokend's server: it owns one token source per profile,
// keeps every requested (profile, scopes) token fresh in the background, and
// serves tokens over a unix socket (the caller is identified by the kernel)
// and over loopback TCP (the caller presents a capability; on Linux the
// kernel also says which user the caller is, and other users' connections
// are closed as they are accepted, see tcpListener). One route table serves
// both; guards run before routing.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/peercred"
)

// Source gets tokens for one profile from its identity provider. It never
// answers from a cache: the daemon decides when to call it.
type Source interface {
	Token(ctx context.Context, scopes []string) (idp.Token, error)
	Login(ctx context.Context, req idp.LoginRequest) (idp.Token, error)
	Logout(ctx context.Context) error
	// Unsaved says why the profile's newest refresh token is not in the
	// store yet (a write failed during a refresh); nil when it is, or when
	// the flow keeps none.
	Unsaved() error
	// Save retries writing it.
	Save(ctx context.Context) error
}

// SourceFactory builds the Source of a profile.
type SourceFactory func(p *config.Profile) (Source, error)

// Store is what the daemon reports about the secret store.
type Store interface {
	Backend() string
	Warning() string // what the user should know about the backend, or ""
	Health() error   // nil while the store works
}

// Config is everything a Server needs.
type Config struct {
	Config  *config.Config
	Sources SourceFactory
	Store   Store
	// Capabilities is where capabilities are kept, so that they outlive a
	// restart (the secret store: sealed, bound to its name); nil keeps
	// them in memory for the daemon's life.
	Capabilities SecretStore
	Clock        clock.Clock  // nil: real time
	Logger       *slog.Logger // nil: discard
	Version      string
	// RefreshTimeout bounds one call to the identity provider (default 60s).
	RefreshTimeout time.Duration
	// MaxWait bounds, in real time, how long a request waits on the
	// identity provider (default 20s): a slower refresh goes on in the
	// background, and the caller gets upstream_unavailable, so that a
	// client's deadline means the daemon is not answering.
	MaxWait time.Duration
	// IdleAfter drops a (profile, scopes) pair nobody asked for in this
	// long (default 12h): it is no longer refreshed, nor kept (the
	// profile's own scopes are kept, see KeepAlive). The next request
	// starts it over.
	IdleAfter time.Duration
	// MaxScopeSets bounds the pairs a profile keeps (default 256), and
	// MaxCapabilityScopeSets the scope sets one capability may ask for
	// in its life (default 64). Beyond them requests are refused (403)
	// before the identity provider is asked.
	MaxScopeSets, MaxCapabilityScopeSets int
	// KeepAlive refreshes an idle profile's own token this often anyway
	// (default 24h; negative: never), so that an unused refresh token does
	// not expire at the identity provider (Entra: 90 days of inactivity).
	KeepAlive time.Duration
	// LoadConfig, if set, reads the configuration again, for POST
	// /v1/reload and ReloadConfig (tokend serve: the config file, and the
	// emulator's demo profiles). nil: the daemon cannot reload.
	LoadConfig func() (*config.Config, error)
	// OnLoginRequired, if set, is called (in its own goroutine) when the
	// identity provider ends a profile's sign-in (revoked, expired, consent
	// withdrawn): the profile needs a new login.
	OnLoginRequired func(profile, fix string)
}

// Server is the daemon.
type Server struct {
	cfg     Config
	clock   clock.Clock
	log     *slog.Logger
	set     atomic.Pointer[profileSet] // the configured profiles; swapped whole by Reload
	caps    *capabilities
	routes  http.Handler
	wake    chan struct{} // nudges the refresher after a foreground change
	baseCtx context.Context
	stop    context.CancelFunc
	watch   watchers      // GET /v1/watch streams
	logins  logins        // sign-ins in progress (login.go)
	saved   chan struct{} // closed when the capability saver has finished

	mu        sync.Mutex
	listeners wire.Listeners
	tcp       *tcpListener // the last one Run started

	// Tests set these to stand in for the kernel's view of TCP peers
	// (nil: peercred.TCPOwners, tcpAdmits); tcpUnknown for a kernel that
	// does not say (macOS).
	tcpOwners  func(net.Conn) (int, error)
	tcpAdmits  func(uid int) bool
	tcpUnknown bool
}

// New builds a Server. A profile whose source cannot be built is kept, in
// state "error", so that the others still work.
func New(cfg Config) (*Server, error) {
	if cfg.Config == nil || cfg.Sources == nil || cfg.Store == nil {
		return nil, errors.New("daemon: Config, Sources and Store are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RefreshTimeout == 0 {
		cfg.RefreshTimeout = 60 * time.Second
	}
	cfg.MaxScopeSets = cmp.Or(cfg.MaxScopeSets, config.DefaultMaxScopeSets)
	cfg.MaxCapabilityScopeSets = cmp.Or(cfg.MaxCapabilityScopeSets, config.DefaultMaxCapabilityScopeSets)
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 20 * time.Second
	}
	if cfg.IdleAfter == 0 {
		cfg.IdleAfter = 12 * time.Hour
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 24 * time.Hour
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		caps:    newCapabilities(cfg.Clock, cfg.Capabilities, cfg.Logger),
		wake:    make(chan struct{}, 1),
		baseCtx: ctx,
		stop:    stop,
		saved:   make(chan struct{}),
	}
	s.set.Store(s.buildSet(cfg.Config, nil))
	s.routes = s.router()
	go func() {
		defer close(s.saved)
		s.caps.saver(ctx)
	}()
	return s, nil
}

// Close stops background work started by the server, and saves what the
// capabilities' store lacks (their last uses).
func (s *Server) Close() {
	s.stop()
	<-s.saved
}

// LoadCapabilities reads the saved capabilities now (the daemon otherwise
// reads them when one is first needed), so that a store that cannot is
// reported at start.
func (s *Server) LoadCapabilities(ctx context.Context) error { return s.caps.load(ctx) }

// Run serves the API on ln until ctx is cancelled, then shuts down
// gracefully. A unix listener gets the peer-credential guard; a TCP listener
// must be on loopback and gets the capability and browser guards.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	h, err := s.front(ln.Addr()) // guard.go
	if err != nil {
		return err
	}
	s.Listening(ln)
	var connState func(net.Conn, http.ConnState)
	if _, ok := ln.Addr().(*net.UnixAddr); ok {
		ln = newLimitListener(ln, maxSocketConns)
	} else {
		owners, closeOwners := s.tcpPeerOwners()
		defer closeOwners()
		admits := s.tcpAdmits
		if admits == nil {
			admits = tcpAdmits
		}
		tl := newTCPListener(ln, owners, admits, s.log)
		ln, connState = tl, tl.track
		s.mu.Lock()
		s.tcp = tl
		s.mu.Unlock()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeader - headerSlack,
		ConnContext:       connContext,
		ConnState:         connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(func() { s.watch.endServer(srv) }) // SSE streams never go idle
	srv.RegisterOnShutdown(s.logins.shutdown)                 // nor do sign-ins waiting on a person
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// tcpPeerOwners returns how the TCP listener learns the uid of a peer
// (nil where the kernel does not say), and what releases it.
func (s *Server) tcpPeerOwners() (func(net.Conn) (int, error), func()) {
	if s.tcpOwners != nil || s.tcpUnknown {
		return s.tcpOwners, func() {}
	}
	o, err := peercred.NewTCPOwners()
	switch {
	case err == nil:
		return o.UID, func() { o.Close() }
	case errors.Is(err, peercred.ErrUnsupported):
		s.log.Debug("this system does not say who owns a TCP peer: TCP callers are judged by their capability alone")
	default:
		s.log.Warn("cannot learn who owns TCP peers: TCP callers are judged by their capability alone", "err", err)
	}
	return nil, func() {}
}

// Listening records where the daemon listens, as status reports it. Run
// calls it; a caller with several listeners calls it before starting any
// Run, so that a client connecting at once sees all of them.
func (s *Server) Listening(lns ...net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range lns {
		switch a := ln.Addr().(type) {
		case *net.UnixAddr:
			s.listeners.Socket = a.Name
		case *net.TCPAddr:
			// The first TCP listener is the configured one; a 127.0.0.1
			// one after it is its companion (see wire.Listeners).
			switch {
			case s.listeners.TCP == "" || s.listeners.TCP == a.String():
				s.listeners.TCP = a.String()
			case a.IP.To4() != nil:
				s.listeners.TCPIPv4 = a.String()
			}
		}
	}
}

// socketHandler returns the route table behind the socket guard, for tests that
// serve it themselves.
func (s *Server) socketHandler() http.Handler { return s.hardened(s.socketGuard(s.routes)) }
