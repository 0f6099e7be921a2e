package daemon

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/tokend/tokend/client/wire"
)

// router is the one route table, served on the socket and on TCP. Routes
// marked socketOnly refuse TCP callers: a capability buys tokens, nothing else.
func (s *Server) router() http.Handler {
	r := chi.NewRouter()
	r.NotFound(s.h(func(w http.ResponseWriter, r *http.Request) error {
		return newError(wire.CodeInvalidRequest, "no such endpoint: %s", r.URL.Path)
	}))
	r.MethodNotAllowed(s.h(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusMethodNotAllowed, wire.CodeInvalidRequest, "method %s not allowed on %s", r.Method, r.URL.Path)
	}))
	r.Get("/healthz", s.h(s.handleHealth))
	r.Route("/v1", func(r chi.Router) {
		r.Get("/token", s.h(s.handleToken))
		r.Get("/watch", s.h(s.handleWatch))
		r.Group(func(r chi.Router) {
			r.Use(socketOnly(s))
			r.Get("/status", s.h(s.handleStatus))
			r.Get("/metrics", s.h(s.handleMetrics))
			r.Post("/login", s.h(s.handleLogin))
			r.Post("/logout", s.h(s.handleLogout))
			r.Get("/capabilities", s.h(s.handleListCapabilities))
			r.Post("/capabilities", s.h(s.handleCreateCapability))
			r.Delete("/capabilities/{id}", s.h(s.handleRevokeCapability))
			r.Post("/refresh", s.h(s.handleRefresh))
			r.Post("/reload", s.h(s.handleReload))
		})
	})
	// Compatibility endpoints (docs/contract.md): existing clients, unchanged.
	r.Get(msiPrefix+"token", s.h(s.handleMSIToken))
	r.HandleFunc(databricksPrefix+"{capability}", s.h(s.handleDatabricks))
	return r
}
