package daemon

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/peercred"
	"github.com/tokend/tokend/internal/quote"
	"github.com/tokend/tokend/internal/redact"
)

// caller is who sent a request, as established by a guard: the kernel's
// peer credentials on the socket, or a capability on TCP.
type caller struct {
	socket  bool
	cred    peercred.Cred
	credErr error
	cap     *capability
	uid     int    // of a TCP caller: -1 where the kernel does not say
	peer    string // of a TCP caller: "uid N", or its IP

	exeOnce sync.Once
	exe     string
	audited atomic.Pointer[auditKey] // audit.go
}

// executable is the program of a socket caller, for audit lines: read once
// per connection, when the first token is handed out on it.
func (c *caller) executable() string {
	c.exeOnce.Do(func() {
		if c.socket && c.credErr == nil {
			c.exe, _ = peercred.Exe(c.cred.PID)
		}
	})
	return c.exe
}

type callerKey struct{}

func callerOf(ctx context.Context) *caller {
	if c, ok := ctx.Value(callerKey{}).(*caller); ok {
		return c
	}
	return &caller{uid: -1}
}

// connContext attaches the peer credentials of a unix connection to every
// request on it. They come from the kernel, never from the request.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tcpConn); ok {
		return context.WithValue(ctx, callerKey{}, &caller{uid: tc.uid, peer: tc.peer})
	}
	if w, ok := c.(interface{ Unwrap() net.Conn }); ok {
		c = w.Unwrap()
	}
	if _, ok := c.LocalAddr().(*net.UnixAddr); !ok { // a unix socket, or a Windows pipe
		return context.WithValue(ctx, callerKey{}, &caller{uid: -1})
	}
	cred, err := peercred.Get(c)
	return context.WithValue(ctx, callerKey{}, &caller{socket: true, cred: cred, credErr: err})
}

// front is everything in front of the route table on a listener at addr:
// security headers and the body bound on every response and request, then
// the guard of the listener's kind.
func (s *Server) front(addr net.Addr) (http.Handler, error) {
	var h http.Handler
	switch a := addr.(type) {
	case *net.UnixAddr:
		h = s.socketGuard(s.routes)
	case *net.TCPAddr:
		if !a.IP.IsLoopback() {
			return nil, fmt.Errorf("refusing to serve on %s: not a loopback address", a)
		}
		h = s.tcpGuard(a.Port, s.routes)
	default:
		return nil, fmt.Errorf("unsupported listener %T", addr)
	}
	return s.hardened(h), nil
}

// hardened sets the headers that keep every answer out of caches, content
// sniffing and pages (errors and streams included), and bounds the body.
func (s *Server) hardened(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.ContentLength > maxBody {
			s.fail(w, r, errorf(http.StatusRequestEntityTooLarge, wire.CodeInvalidRequest, "request body over %d bytes", maxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// socketGuard admits only processes of the daemon's own user.
func (s *Server) socketGuard(next http.Handler) http.Handler {
	uid := peercred.OwnUID() // os.Getuid, but for Windows too
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r.Context())
		switch {
		case !c.socket:
			s.fail(w, r, newError(wire.CodeForbidden, "not a unix socket connection"))
		case c.credErr != nil:
			s.fail(w, r, newError(wire.CodeForbidden, "cannot identify the connecting process: %v", c.credErr).because(c.credErr))
		case c.cred.UID != uid:
			s.log.Warn("refused socket peer", "uid", c.cred.UID, "pid", c.cred.PID)
			s.fail(w, r, newError(wire.CodeForbidden, "uid %d may not use the tokend of uid %d", c.cred.UID, uid))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// tcpGuard refuses, before routing, anything a browser or a request forgery
// could send, then requires a capability where the request's protocol
// carries it (see presented). A peer (a uid where the kernel says) that
// fails too many capability checks gets 429 for its failures for a while;
// a valid capability is served whatever its peer's budget.
func (s *Server) tcpGuard(port int, next http.Handler) http.Handler {
	p := strconv.Itoa(port)
	hosts := map[string]bool{"127.0.0.1:" + p: true, "localhost:" + p: true, "[::1]:" + p: true}
	fails := newFailLimiter(s.clock)
	admits := s.tcpAdmits
	if admits == nil {
		admits = tcpAdmits
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := browserCheck(r, hosts); err != nil {
			s.fail(w, r, err)
			return
		}
		conn := callerOf(r.Context())
		secret, where := presented(r)
		c := s.caps.check(secret)
		if c == nil {
			peer := peerOf(r)
			if d := fails.wait(peer); d > 0 {
				e := errorf(http.StatusTooManyRequests, wire.CodeUnauthorized, "too many failed capability checks from %s: try again in %s", peer, d.Round(time.Second))
				e.retryAfter = d
				s.fail(w, r, e)
				return
			}
			if fails.fail(peer) {
				s.log.Warn("peer refused for failing capability checks", "peer", peer, "endpoint", endpointOf(r))
			}
			s.fail(w, r, newError(wire.CodeUnauthorized, "%s must carry a valid capability: run the program under `token exec PROFILE -- …` or mint one with `token env PROFILE`", where))
			return
		}
		if !c.admitsUID(conn.uid, admits) {
			// Bound to its owner: a copy in a log is nobody else's.
			s.log.Warn("capability presented by another user: refused", "capability", c.id, "label", c.label, "uid", conn.uid, "owner", c.uid)
			fails.fail(peerOf(r))
			s.fail(w, r, newError(wire.CodeForbidden, "this capability belongs to uid %d, not to uid %d: it works only for the user who minted it", c.uid, conn.uid))
			return
		}
		if !c.kind.serves(r.URL.Path) {
			s.fail(w, r, newError(wire.CodeForbidden, "capability %s is for the Databricks metadata service only (GET /databricks/…)", c.name()))
			return
		}
		c.used(s.clock.Now())
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, &caller{cap: c, uid: conn.uid, peer: conn.peer})))
	})
}

// presented returns the capability of a TCP request from where its protocol
// puts it, and names that place: X-IDENTITY-HEADER for the App Service
// managed-identity endpoint, the last path segment for the Databricks
// metadata service, the Bearer Authorization everywhere else.
func presented(r *http.Request) (secret, where string) {
	switch {
	case strings.HasPrefix(r.URL.Path, msiPrefix):
		return r.Header.Get("X-IDENTITY-HEADER"), "X-IDENTITY-HEADER"
	case strings.HasPrefix(r.URL.Path, databricksPrefix):
		c := strings.TrimPrefix(r.URL.Path, databricksPrefix)
		if strings.Contains(c, "/") {
			c = ""
		}
		return c, "the metadata-service URL"
	}
	return bearer(r), "Authorization: Bearer"
}

// browserCheck rejects requests shaped like they came from a web page,
// through DNS rebinding or through a tool tricked into sending them: a Host
// that is not the daemon's loopback address, any Origin or Referer (even
// empty), Sec-Fetch-Site other than none, a protocol upgrade (websockets),
// and a body that is not JSON (HTML forms and no-CORS fetches can send
// form and text bodies without a preflight).
func browserCheck(r *http.Request, hosts map[string]bool) *apiError {
	switch {
	case !hosts[strings.ToLower(r.Host)] && !isLocalAddr(r):
		return newError(wire.CodeForbidden, "Host %s refused: use 127.0.0.1 or localhost with the daemon's port", quote.String(redact.String(r.Host)))
	case r.Header["Origin"] != nil || r.Header["Referer"] != nil:
		return newError(wire.CodeForbidden, "requests from web pages are refused")
	case !fetchSiteNone(r.Header["Sec-Fetch-Site"]):
		return newError(wire.CodeForbidden, "requests from web pages are refused")
	case r.Header["Upgrade"] != nil:
		return newError(wire.CodeForbidden, "protocol upgrades (websockets) are refused")
	case hasBody(r.Method) && !isJSON(r.Header["Content-Type"]):
		return errorf(http.StatusUnsupportedMediaType, wire.CodeInvalidRequest, "%s needs Content-Type: application/json", r.Method)
	}
	return nil
}

// fetchSiteNone reports whether Sec-Fetch-Site is absent or only "none" (a
// person typed the URL).
func fetchSiteNone(vs []string) bool {
	for _, v := range vs {
		if v != "none" {
			return false
		}
	}
	return true
}

func hasBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

func isJSON(vs []string) bool {
	if len(vs) != 1 {
		return false
	}
	mt, _, err := mime.ParseMediaType(vs[0])
	return err == nil && mt == "application/json"
}

// isLocalAddr reports whether r names, as its Host, the very address it
// arrived on (a daemon bound to another loopback IP such as 127.0.0.2).
func isLocalAddr(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return ok && a.IP.IsLoopback() && r.Host == a.String()
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// socketOnly refuses TCP callers: capabilities buy tokens, not management.
func socketOnly(s *Server) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !callerOf(r.Context()).socket {
				s.fail(w, r, newError(wire.CodeForbidden, "%s is only served on the unix socket", r.URL.Path))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
