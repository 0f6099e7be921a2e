package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/quote"
	"github.com/tokend/tokend/store"
)

// apiError is an error with its place in the API: status, code and a
// description that tells the user what to do. It never carries a secret.
type apiError struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.desc }

// errorf builds an apiError. The description is made safe to print (see
// quote.Line): it may echo what a caller sent.
func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, desc: quote.Line(fmt.Sprintf(format, args...))}
}

// Statuses of the error codes. Permanent failures are 4xx; only retryable
// ones are 5xx.
var codeStatus = map[string]int{
	wire.CodeInvalidRequest:      http.StatusBadRequest,
	wire.CodeUnauthorized:        http.StatusUnauthorized,
	wire.CodeForbidden:           http.StatusForbidden,
	wire.CodeUnknownProfile:      http.StatusNotFound,
	wire.CodeLoginRequired:       http.StatusConflict,
	wire.CodeUpstreamUnavailable: http.StatusServiceUnavailable,
	wire.CodeStoreUnavailable:    http.StatusServiceUnavailable,
	wire.CodeInternal:            http.StatusInternalServerError,
}

func newError(code, format string, args ...any) *apiError {
	return errorf(codeStatus[code], code, format, args...)
}

// apiErrorFor explains a failed refresh of p to the caller.
func (s *Server) apiErrorFor(p *profile, err error, sl *slot) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if e := storeError(err); e != nil {
		return e
	}
	if errors.Is(err, idp.ErrLoginRequired) {
		return newError(wire.CodeLoginRequired, "profile %s needs a new sign-in (%v): run `%s`", p.cfg.Name, err, loginHint(p.cfg))
	}
	if idp.IsTemporary(err) {
		e := newError(wire.CodeUpstreamUnavailable, "identity provider unavailable for profile %s (%v); tokend keeps retrying", p.cfg.Name, err)
		e.retryAfter = time.Until(sl.nextAt())
		if ra := idp.RetryAfter(err); ra > e.retryAfter {
			e.retryAfter = ra
		}
		return e
	}
	var ie *idp.Error
	if errors.As(err, &ie) {
		return newError(wire.CodeInvalidRequest, "identity provider refused the request for profile %s: %v", p.cfg.Name, err)
	}
	if errors.Is(err, idp.ErrSetup) {
		return newError(wire.CodeInvalidRequest, "%v", err)
	}
	s.log.Error("token source failed", "profile", p.cfg.Name, "err", err)
	return newError(wire.CodeInternal, "profile %s: %v", p.cfg.Name, err)
}

// storeError explains a secret-store failure (its message carries the fix),
// or returns nil for other errors.
func storeError(err error) *apiError {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrWrongKey) {
		e := newError(wire.CodeStoreUnavailable, "%v", err)
		e.retryAfter = 30 * time.Second
		return e
	}
	return nil
}

// handler is an HTTP handler that returns its error instead of writing it.
type handler func(w http.ResponseWriter, r *http.Request) error

// h adapts a handler: errors become {"error","error_description"} bodies.
func (s *Server) h(fn handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
		ae = newError(wire.CodeInternal, "internal error: see the tokend log")
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, ae.status, wire.ErrorBody{Error: ae.code, Description: ae.desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal","error_description":"encode response"}`)
	}
	setJSONHeaders(w.Header()) // tokenjson.go
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		// A refused caller does not keep its connection (and its slot).
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decodeJSON reads a small JSON body strictly.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return newError(wire.CodeInvalidRequest, "request body: %v", err)
	}
	return nil
}
