package entraemu

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// oauthError is an Entra-shaped OAuth error: HTTP status, OAuth error code
// and an AADSTS number with its text.
type oauthError struct {
	status int
	err    string // "invalid_grant", "invalid_client", …
	aadsts int
	text   string // the description after "AADSTSnnnn: "
	sub    string // suberror, e.g. "basic_action" (optional)
}

func (o *oauthError) Error() string {
	return fmt.Sprintf("%s: AADSTS%d: %s", o.err, o.aadsts, o.text)
}

func newError(status int, errCode string, aadsts int, format string, args ...any) *oauthError {
	return &oauthError{status: status, err: errCode, aadsts: aadsts, text: fmt.Sprintf(format, args...)}
}

// Constructors for the errors the emulator returns, named after their
// AADSTS numbers' meaning.
func errMissingParam(name string) *oauthError {
	return newError(400, "invalid_request", 900144, "The request body must contain the following parameter: '%s'.", name)
}

func errMalformed() *oauthError {
	return newError(400, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid.")
}

func errUnknownTenant(t string) *oauthError {
	return newError(400, "invalid_request", 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t)
}

func errUnknownClient(id string) *oauthError {
	return newError(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", id, TenantDomain)
}

func errInvalidGrant(aadsts int, format string, args ...any) *oauthError {
	return newError(400, "invalid_grant", aadsts, format, args...)
}

func errInvalidClient(aadsts int, format string, args ...any) *oauthError {
	return newError(401, "invalid_client", aadsts, format, args...)
}

func errInvalidScope(aadsts int, format string, args ...any) *oauthError {
	return newError(400, "invalid_scope", aadsts, format, args...)
}

func errInvalidRequest(aadsts int, format string, args ...any) *oauthError {
	return newError(400, "invalid_request", aadsts, format, args...)
}

// entraTimestamp is the timestamp format of Entra error bodies.
const entraTimestamp = "2006-01-02 15:04:05Z"

// errorBody is the JSON of an Entra error response.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	Suberror         string `json:"suberror,omitempty"`
}

// body renders o as Entra does, with trace and correlation ids and the
// emulator's time.
func (o *oauthError) body(r *http.Request, now time.Time) errorBody {
	trace := newGUID()
	corr := correlationID(r)
	ts := now.UTC().Format(entraTimestamp)
	return errorBody{
		Error: o.err,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			o.aadsts, o.text, trace, corr, ts),
		ErrorCodes:    []int{o.aadsts},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      "https://" + hostOf(r) + "/error?code=" + strconv.Itoa(o.aadsts),
		Suberror:      o.sub,
	}
}

// writeError sends o as an Entra error response.
func (e *Emulator) writeError(w http.ResponseWriter, r *http.Request, o *oauthError) {
	b := o.body(r, e.Now())
	w.Header().Set("x-ms-request-id", b.TraceID)
	noStore(w)
	writeJSON(w, o.status, b)
}

// correlationID echoes the client-request-id header as Entra does, or makes
// one up.
func correlationID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); id != "" && len(id) <= 64 && isGUIDish(id) {
		return id
	}
	return newGUID()
}

func isGUIDish(s string) bool {
	for _, c := range s {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// newGUID returns a random version 4 GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hostOf is the host (and port) the client addressed: every URL the
// emulator hands out is built from it, so it works on any port.
func hostOf(r *http.Request) string {
	h := r.Host
	if h == "" || strings.ContainsAny(h, "/\\?#@ \"'<>") {
		return "127.0.0.1"
	}
	return h
}
