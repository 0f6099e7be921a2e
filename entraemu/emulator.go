package entraemu

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/entraemu/workspace"
	"github.com/tokend/tokend/internal/clock"
)

// Config configures an Emulator. The zero value is usable.
type Config struct {
	// Clock is the time source; nil means clock.Real{}. The emulator's
	// "now" is Clock.Now() plus the offset moved by ShiftClock.
	Clock clock.Clock
	// Logger gets one line per request; nil discards. Tokens, secrets,
	// codes and passwords are never logged.
	Logger *slog.Logger
	// Seed makes access token lifetimes deterministic (math/rand/v2 PCG);
	// 0 picks a random seed.
	Seed uint64
	// MinLifetime and MaxLifetime bound access token lifetimes (uniform,
	// whole seconds); 0 means 60 and 90 minutes.
	MinLifetime, MaxLifetime time.Duration
	// Dir, if set, keeps the CA across runs (Dir/ca.pem, Dir/ca-key.pem
	// 0600, reused when valid) and receives the fixture client certificate
	// as Dir/client.pem (certificate + PKCS#8 key, 0600).
	Dir string
	// StrictRefreshRotation retires a refresh token once one of its
	// successors has been redeemed (invalid_grant AADSTS70000), as a
	// provider that rotates refresh tokens one-time does. Entra does not:
	// by default an old refresh token stays valid until it expires or the
	// user's sessions are revoked. SetStrictRotation changes it later.
	StrictRefreshRotation bool
	// InstantSignIn makes /authorize sign in at once, with no page: as
	// login_hint if that is a known user, else Username (the tests' browser
	// need not fill in a form). By default /authorize shows a sign-in page
	// (see the package documentation). SetInstantSignIn changes it later.
	InstantSignIn bool
	// Resources are registered in addition to the fixture's (see
	// RegisterResource).
	Resources []Resource
}

const (
	defaultMinLifetime = 60 * time.Minute
	defaultMaxLifetime = 90 * time.Minute
	authCodeLifetime   = 10 * time.Minute
	deviceCodeLifetime = 15 * time.Minute
	refreshLifetime    = 90 * 24 * time.Hour // Entra's inactivity limit
	spaRefreshLifetime = 24 * time.Hour      // single-page apps' refresh tokens (refresh-tokens#token-lifetime)
	idTokenLifetime    = time.Hour
)

// Emulator is an offline Entra ID. All methods are safe for concurrent use.
type Emulator struct {
	clock          clock.Clock
	log            *slog.Logger
	pki            *pki
	handler        http.Handler
	workspace      http.Handler // the Azure Databricks workspace at the emulator's address
	httpClient     *http.Client
	caFile         string
	clientCertFile string

	mu             sync.Mutex
	shift          time.Duration
	minLife        time.Duration
	maxLife        time.Duration
	rng            *rand.Rand
	faults         []pendingFault
	counts         map[string]int
	issued         []string
	users          map[string]*user
	clients        map[string]*client
	codes          map[string]*authCode
	deviceCodes    map[string]*deviceCode // by device_code
	userCodes      map[string]*deviceCode // by normalized user_code
	refresh        map[string]*refreshToken
	inserts        int                  // codes issued, to sweep expired ones now and then
	noConsent      map[consentKey]bool  // consents withdrawn (all are granted by default)
	noScope        map[scopeKey]bool    // delegated permissions withdrawn (SetScopeConsent)
	resourcesByID  map[string]*Resource // registered resources by app id
	resourceNames  map[string]*Resource // by resourceKey of app id and identifier URIs
	strictRotation bool
	instantSignIn  bool
	sessions       map[string]*session // browser sign-in sessions by cookie value
	authorize      []AuthorizeOutcome  // what the next sign-ins at /authorize do instead
	fed            federatedIssuer     // signs FederatedToken (identities.go)

	srvMu  sync.Mutex
	srv    *http.Server
	url    string
	closed bool
}

type pendingFault struct {
	n int
	f Fault
}

// Fault is an injected failure for the token-issuing endpoints (v2 token,
// v1 token, devicecode).
type Fault struct {
	// Status is the HTTP status to answer with (4xx or 5xx; other values
	// mean 500). 0 with Delay > 0 just delays, then answers normally.
	Status int
	// RetryAfter sets the Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration
	// Delay is slept (real time) before answering; a cancelled request
	// gets no answer at all.
	Delay time.Duration
	// Error is the OAuth error code of the body; default
	// "temporarily_unavailable" for 429 and 503, else "server_error".
	Error string
}

// New makes an emulator: CA (ECDSA P-256), server certificate for
// 127.0.0.1, ::1 and localhost, RSA-2048 token signing key, and the fixture
// client certificate registered for ConfidentialClientID.
func New(cfg Config) (*Emulator, error) {
	p, err := newPKI(cfg.Dir)
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		clock:          cfg.Clock,
		log:            cfg.Logger,
		pki:            p,
		counts:         map[string]int{},
		users:          newUsers(),
		clients:        newClients(),
		codes:          map[string]*authCode{},
		deviceCodes:    map[string]*deviceCode{},
		userCodes:      map[string]*deviceCode{},
		refresh:        map[string]*refreshToken{},
		noConsent:      map[consentKey]bool{},
		noScope:        map[scopeKey]bool{},
		resourcesByID:  map[string]*Resource{},
		resourceNames:  map[string]*Resource{},
		strictRotation: cfg.StrictRefreshRotation,
		instantSignIn:  cfg.InstantSignIn,
		sessions:       map[string]*session{},
	}
	for _, r := range knownResources() {
		if len(r.Roles) == 0 {
			r.Roles = []string{"Emulator.Default"}
		}
		e.registerResourceLocked(r)
	}
	for _, r := range cfg.Resources {
		if err := e.RegisterResource(r); err != nil {
			return nil, err
		}
	}
	if e.clock == nil {
		e.clock = clock.Real{}
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64() | 1
	}
	e.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	e.minLife, e.maxLife = normLifetimes(cfg.MinLifetime, cfg.MaxLifetime)
	if cfg.Dir != "" {
		e.caFile = filepath.Join(cfg.Dir, "ca.pem")
		e.clientCertFile = filepath.Join(cfg.Dir, "client.pem")
	}
	if err := e.RegisterClientCertificate(ConfidentialClientID, p.clientCertPEM); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12}
	tr.Proxy = nil
	// HTTP/2 multiplexes; capping dials keeps a burst of 1000 concurrent
	// requests from opening (and TLS-handshaking) a connection each.
	tr.MaxConnsPerHost = 8
	tr.MaxIdleConnsPerHost = 8
	e.httpClient = &http.Client{Transport: tr}
	e.workspace = &hostWorkspaces{e: e, byHost: map[string]*workspace.Workspace{}}
	e.handler = e.routes()
	return e, nil
}

// hostWorkspaces serves the fake Azure Databricks workspace at the
// emulator's own address: one workspace.Workspace per Host the clients
// use, knowing the emulator as its identity provider at that host.
type hostWorkspaces struct {
	e      *Emulator
	mu     sync.Mutex
	byHost map[string]*workspace.Workspace
}

func (h *hostWorkspaces) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r)
	h.mu.Lock()
	ws := h.byHost[host]
	if ws == nil {
		ws = &workspace.Workspace{
			Authority: "https://" + host + "/" + TenantID, HTTPClient: h.e.httpClient,
			ResourceID: WorkspaceResourceID, WorkspaceID: WorkspaceID, Now: h.e.Now,
		}
		if len(h.byHost) < 16 { // Host is the client's to choose: keep a few
			h.byHost[host] = ws
		}
	}
	h.mu.Unlock()
	if r.URL.Path == workspace.MePath {
		h.e.count("workspace")
	}
	ws.ServeHTTP(w, r)
}

func normLifetimes(lo, hi time.Duration) (time.Duration, time.Duration) {
	if lo <= 0 {
		lo = defaultMinLifetime
	}
	if hi <= 0 {
		hi = defaultMaxLifetime
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves TLS in
// the background until Close.
func (e *Emulator) Start(addr string) error {
	e.srvMu.Lock()
	defer e.srvMu.Unlock()
	if e.closed {
		return errors.New("emulator: closed")
	}
	if e.srv != nil {
		return errors.New("emulator: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	// Another loopback address (127.0.0.2, …) goes into the server
	// certificate too.
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsUnspecified() && !ip.Equal(net.IPv4(127, 0, 0, 1)) && !ip.Equal(net.IPv6loopback) {
		if err := e.pki.makeServerCert(ip); err != nil {
			ln.Close()
			return err
		}
	}
	srv := &http.Server{
		Handler:           e.handler,
		ReadHeaderTimeout: 30 * time.Second, // also bounds TLS handshakes: generous for loaded CI
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 1000},
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{e.pki.server}, MinVersion: tls.VersionTLS12},
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
	}
	e.srv = srv
	e.url = "https://" + urlHost(ln.Addr().(*net.TCPAddr))
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("emulator server stopped", "err", err)
		}
	}()
	e.log.Info("emulator listening", "url", e.url)
	return nil
}

// urlHost is the host:port to advertise for a listener: unspecified
// addresses become 127.0.0.1.
func urlHost(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if a.Port == 443 {
		// The default port is left out, as browsers and MSAL write URLs:
		// msal-node, for one, does not take "https://host:443/…" for a
		// known authority.
		if ip.To4() == nil {
			return "[" + ip.String() + "]"
		}
		return ip.String()
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// Handler returns the emulator's routes (with request logging), for callers
// that serve it themselves. URLs in responses are built from the request's
// Host, always with https.
func (e *Emulator) Handler() http.Handler { return e.handler }

// URL is "https://127.0.0.1:PORT" once started, else "".
func (e *Emulator) URL() string {
	e.srvMu.Lock()
	defer e.srvMu.Unlock()
	return e.url
}

// Authority is URL()+"/"+TenantID, the authority to give MSAL.
func (e *Emulator) Authority() string { return e.URL() + "/" + TenantID }

// Close stops the server, dropping open connections. It is idempotent.
func (e *Emulator) Close() error {
	e.srvMu.Lock()
	defer e.srvMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.httpClient.CloseIdleConnections()
	if e.srv == nil {
		return nil
	}
	return e.srv.Close()
}

// CAPEM returns the CA certificate, PEM encoded.
func (e *Emulator) CAPEM() []byte { return append([]byte(nil), e.pki.caPEM...) }

// CertPool returns a new pool holding only the emulator's CA.
func (e *Emulator) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.pki.caCert)
	return p
}

// HTTPClient returns a client that trusts the emulator's CA only. It is the
// same client on every call.
func (e *Emulator) HTTPClient() *http.Client { return e.httpClient }

// ClientCertificate returns the fixture client certificate registered for
// ConfidentialClientID and its PKCS#8 private key, PEM encoded.
func (e *Emulator) ClientCertificate() (certPEM, keyPEM []byte) {
	return append([]byte(nil), e.pki.clientCertPEM...), append([]byte(nil), e.pki.clientKeyPEM...)
}

// RegisterClientCertificate registers the (RSA) certificate in certPEM as a
// credential of clientID. An unknown clientID becomes a new confidential
// client with no secret; public clients cannot have certificates.
func (e *Emulator) RegisterClientCertificate(clientID string, certPEM []byte) error {
	cert := parseCertPEM(certPEM)
	if cert == nil {
		return errors.New("emulator: no certificate in PEM")
	}
	rc, err := newRegisteredCert(cert)
	if err != nil {
		return err
	}
	clientID = strings.ToLower(clientID)
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.clients[clientID]
	if c == nil {
		c = &client{id: clientID, name: "registered client " + clientID, spOID: derivedGUID("sp", clientID)}
		e.clients[clientID] = c
	}
	if c.public {
		return fmt.Errorf("emulator: %s is a public client", clientID)
	}
	c.certs = append(c.certs, rc)
	return nil
}

// RevokeUser makes every refresh token issued to username so far fail with
// invalid_grant AADSTS50173. Later sign-ins work again.
func (e *Emulator) RevokeUser(username string) {
	now := e.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if u := e.users[strings.ToLower(username)]; u != nil {
		u.epoch++
		u.revokedAt = now
	}
}

// FailNext makes the next n requests to the token-issuing endpoints (v2
// token, v1 token, devicecode) get f. Calls queue up in order; n <= 0
// clears everything pending.
func (e *Emulator) FailNext(n int, f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n <= 0 {
		e.faults = nil
		return
	}
	e.faults = append(e.faults, pendingFault{n: n, f: f})
}

func (e *Emulator) takeFaultLocked() (Fault, bool) {
	if len(e.faults) == 0 {
		return Fault{}, false
	}
	f := e.faults[0].f
	e.faults[0].n--
	if e.faults[0].n == 0 {
		e.faults = e.faults[1:]
	}
	return f, true
}

// SetLifetime sets the bounds of access token lifetimes; 0 restores the
// default of that bound, and max < min means max = min.
func (e *Emulator) SetLifetime(min, max time.Duration) {
	lo, hi := normLifetimes(min, max)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.minLife, e.maxLife = lo, hi
}

// lifetimeLocked draws an access token lifetime in whole seconds, uniform
// in [minLife, maxLife].
func (e *Emulator) lifetimeLocked() time.Duration {
	lo := int64((e.minLife + time.Second - 1) / time.Second)
	hi := int64(e.maxLife / time.Second)
	if lo < 1 {
		lo = 1
	}
	if hi < lo {
		hi = lo
	}
	return time.Duration(lo+e.rng.Int64N(hi-lo+1)) * time.Second
}

// ShiftClock moves the emulator's clock by d (adds to its offset).
func (e *Emulator) ShiftClock(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shift += d
}

// Now is the emulator's time: Config.Clock.Now() plus the ShiftClock offset.
func (e *Emulator) Now() time.Time {
	e.mu.Lock()
	s := e.shift
	e.mu.Unlock()
	return e.clock.Now().Add(s)
}

// Counts returns how many requests each endpoint or grant got: the grants
// "client_credentials", "refresh_token", "password", "authorization_code",
// "device_code" and "unknown" (v1 endpoint: prefixed "v1:"), "devicecode",
// "authorize", "userrealm", "managed_identity", "workspace" (SCIM Me), and
// "faulted" for requests answered by a Fault.
func (e *Emulator) Counts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]int, len(e.counts))
	for k, v := range e.counts {
		m[k] = v
	}
	return m
}

// ResetCounts zeroes all counts.
func (e *Emulator) ResetCounts() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts = map[string]int{}
}

func (e *Emulator) count(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[key]++
}

// Issued returns every secret-bearing string the emulator has issued:
// access, refresh and ID tokens, authorization codes and device codes.
func (e *Emulator) Issued() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.issued...)
}

func (e *Emulator) recordIssued(s ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range s {
		if v != "" {
			e.issued = append(e.issued, v)
		}
	}
}

// sleep waits d of real time or until ctx is done; it reports whether the
// full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sweepLocked forgets authorization and device codes that expired over an
// hour ago, every 1024 codes issued, so a long-running emulator does not
// grow without bound. (Refresh tokens are kept: a superseded one must keep
// failing as such.)
func (e *Emulator) sweepLocked(now time.Time) {
	e.inserts++
	if e.inserts%1024 != 0 {
		return
	}
	cutoff := now.Add(-time.Hour)
	for k, c := range e.codes {
		if c.expires.Before(cutoff) {
			delete(e.codes, k)
		}
	}
	for k, d := range e.deviceCodes {
		if d.expires.Before(cutoff) {
			delete(e.deviceCodes, k)
			delete(e.userCodes, d.userCode)
		}
	}
}
