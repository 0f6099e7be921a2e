package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/quote"
)

// apiError is an error with its place in the API: status, code and a
// description that tells the user what to do (it never carries a secret),
// kept apart from its cause, which goes to the log and to errors.Is/As but
// never to the caller.
type apiError struct {
	status     int
	code       string
	desc       string
	retryAfter time.Duration
	err        error // the cause, if any
}

func (e *apiError) Error() string { return e.code + ": " + e.desc }

// Unwrap returns the cause.
func (e *apiError) Unwrap() error { return e.err }

// withRetry sets how long the caller should wait before asking again.
func (e *apiError) withRetry(d time.Duration) *apiError {
	e.retryAfter = d
	return e
}

// because records the cause of e and returns e.
func (e *apiError) because(err error) *apiError {
	e.err = err
	return e
}

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
		return newError(wire.CodeLoginRequired, "profile %s needs a new sign-in (%v): run `%s`", p.cfg.Name, err, loginHint(p.cfg)).because(err)
	}
	if idp.IsTemporary(err) {
		e := newError(wire.CodeUpstreamUnavailable, "identity provider unavailable for profile %s (%v); tokend keeps retrying", p.cfg.Name, err).because(err)
		e.retryAfter = time.Until(sl.nextAt())
		if ra := idp.RetryAfter(err); ra > e.retryAfter {
			e.retryAfter = ra
		}
		return e
	}
	var ie *idp.Error
	if errors.As(err, &ie) {
		return newError(wire.CodeInvalidRequest, "identity provider refused the request for profile %s: %v", p.cfg.Name, err).because(err)
	}
	if errors.Is(err, idp.ErrSetup) {
		return newError(wire.CodeInvalidRequest, "%v", err).because(err)
	}
	s.log.Error("token source failed", "profile", p.cfg.Name, "err", err)
	return newError(wire.CodeInternal, "profile %s: %v", p.cfg.Name, err).because(err)
}

// storeError explains a secret-store failure (its message carries the fix),
// or returns nil for other errors.
func storeError(err error) *apiError {
	if errors.Is(err, idp.ErrStoreUnavailable) {
		return newError(wire.CodeStoreUnavailable, "%v", err).because(err).withRetry(30 * time.Second)
	}
	return nil
}

// handler is an HTTP handler that returns its error instead of writing it.
type handler func(w http.ResponseWriter, r *http.Request) error

// h adapts a handler: its error is written by fail.
func (s *Server) h(fn handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// fail writes err as the answer to r, in the shape the endpoint's clients
// read: every error answer of the daemon goes through here.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.asAPIError(r, err)
	if strings.HasPrefix(r.URL.Path, msiPrefix) {
		writeMSIError(w, ae)
		return
	}
	writeAPIError(w, ae)
}

// asAPIError turns any error into an apiError. Unexpected ones are logged
// with their cause (and the endpoint, never its URL, which may carry a
// capability) and become "internal"; a request the client gave up on is 408.
func (s *Server) asAPIError(r *http.Request, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.code == wire.CodeInternal && ae.err != nil {
			s.log.Error("request failed", "endpoint", endpointOf(r), "err", ae.err)
		}
		return ae
	}
	if r.Context().Err() != nil {
		return errorf(http.StatusRequestTimeout, wire.CodeInvalidRequest, "request cancelled").because(err)
	}
	s.log.Error("request failed", "endpoint", endpointOf(r), "err", err)
	return newError(wire.CodeInternal, "internal error: see the tokend log").because(err)
}

// endpointOf names the endpoint of r for logs, without capabilities.
func endpointOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, databricksPrefix) {
		return databricksPrefix + "…"
	}
	return r.URL.Path
}

// writeAPIError writes {"error","error_description"} (the daemon API and
// the Databricks metadata service).
func writeAPIError(w http.ResponseWriter, ae *apiError) {
	setRetryAfter(w.Header(), ae.retryAfter)
	writeJSON(w, ae.status, wire.ErrorBody{Error: ae.code, Description: ae.desc})
}

// writeMSIError writes {"statusCode","message"} (the App Service managed
// identity protocol).
func writeMSIError(w http.ResponseWriter, ae *apiError) {
	setRetryAfter(w.Header(), ae.retryAfter)
	writeJSON(w, ae.status, msiError{StatusCode: ae.status, Message: ae.desc})
}

// setRetryAfter sets Retry-After in whole seconds, rounded up, if d > 0.
func setRetryAfter(h http.Header, d time.Duration) {
	if d > 0 {
		h.Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
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
		return newError(wire.CodeInvalidRequest, "request body: %v", err).because(err)
	}
	return nil
}
