package daemon

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/internal/peercred"
)

// caller is who sent a request, as established by a guard: the kernel's
// peer credentials on the socket, or a capability on TCP.
type caller struct {
	socket  bool
	cred    peercred.Cred
	credErr error
	cap     *capability
}

type callerKey struct{}

func callerOf(ctx context.Context) *caller {
	if c, ok := ctx.Value(callerKey{}).(*caller); ok {
		return c
	}
	return &caller{}
}

// connContext attaches the peer credentials of a unix connection to every
// request on it. They come from the kernel, never from the request.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if _, ok := c.(*net.UnixConn); !ok {
		return context.WithValue(ctx, callerKey{}, &caller{})
	}
	cred, err := peercred.Get(c)
	return context.WithValue(ctx, callerKey{}, &caller{socket: true, cred: cred, credErr: err})
}

// socketGuard admits only processes of the daemon's own user.
func (s *Server) socketGuard(next http.Handler) http.Handler {
	uid := os.Getuid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r.Context())
		switch {
		case !c.socket:
			s.writeError(w, r, newError(client.CodeForbidden, "not a unix socket connection"))
		case c.credErr != nil:
			s.writeError(w, r, newError(client.CodeForbidden, "cannot identify the connecting process: %v", c.credErr))
		case c.cred.UID != uid:
			s.log.Warn("refused socket peer", "uid", c.cred.UID, "pid", c.cred.PID)
			s.writeError(w, r, newError(client.CodeForbidden, "uid %d may not use the tokend of uid %d", c.cred.UID, uid))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// tcpGuard refuses, before routing, anything a browser or a request forgery
// could send, then requires a capability where the request's protocol
// carries it (see presented).
func (s *Server) tcpGuard(port int, next http.Handler) http.Handler {
	p := strconv.Itoa(port)
	hosts := map[string]bool{"127.0.0.1:" + p: true, "localhost:" + p: true, "[::1]:" + p: true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := browserCheck(r, hosts); err != nil {
			s.refuse(w, r, err)
			return
		}
		secret, where := presented(r)
		c := s.caps.check(secret)
		if c == nil {
			s.refuse(w, r, newError(client.CodeUnauthorized, "%s must carry a valid capability: run the program under `token exec PROFILE -- …` or mint one with `token env PROFILE`", where))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, &caller{cap: c})))
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

// refuse writes a guard's refusal in the error shape the endpoint's clients
// read, without logging the URL (which may carry a capability).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err *apiError) {
	if strings.HasPrefix(r.URL.Path, msiPrefix) {
		writeMSIError(w, err)
		return
	}
	writeAPIError(w, err)
}

// browserCheck rejects requests shaped like they came from a web page or
// through DNS rebinding.
func browserCheck(r *http.Request, hosts map[string]bool) *apiError {
	switch {
	case !hosts[strings.ToLower(r.Host)] && !isLocalAddr(r):
		return newError(client.CodeForbidden, "Host %q refused: use 127.0.0.1 or localhost with the daemon's port", r.Host)
	case r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "":
		return newError(client.CodeForbidden, "requests from web pages are refused")
	case r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "none":
		return newError(client.CodeForbidden, "requests from web pages are refused")
	}
	return nil
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
				s.writeError(w, r, newError(client.CodeForbidden, "%s is only served on the unix socket", r.URL.Path))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
