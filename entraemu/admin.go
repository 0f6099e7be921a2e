package entraemu

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// adminRoutes registers the test controls under /_emulator/. They take and
// return JSON; errors are {"error": "..."} with status 400.
func (e *Emulator) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_emulator/devicecode/approve", e.adminApprove)
	mux.HandleFunc("POST /_emulator/devicecode/deny", e.adminDeny)
	mux.HandleFunc("GET /_emulator/devicecodes", e.adminDeviceCodes)
	mux.HandleFunc("POST /_emulator/authorize/next", e.adminAuthorizeNext)
	mux.HandleFunc("POST /_emulator/user", e.adminUser)
	mux.HandleFunc("POST /_emulator/consent", e.adminConsent)
	mux.HandleFunc("POST /_emulator/revoke", e.adminRevoke)
	mux.HandleFunc("POST /_emulator/fail", e.adminFail)
	mux.HandleFunc("POST /_emulator/lifetime", e.adminLifetime)
	mux.HandleFunc("POST /_emulator/clock/shift", e.adminShift)
	mux.HandleFunc("GET /_emulator/clock", e.adminClock)
	mux.HandleFunc("GET /_emulator/counts", e.adminCounts)
	mux.HandleFunc("POST /_emulator/counts/reset", e.adminResetCounts)
	mux.HandleFunc("GET /_emulator/fixture", e.adminFixture)
	mux.HandleFunc("POST /_emulator/rotation", e.adminRotation)
	mux.HandleFunc("POST /_emulator/signin", e.adminSignIn)
	mux.HandleFunc("POST /_emulator/resource", e.adminResource)
	mux.HandleFunc("GET /_emulator/resources", e.adminResources)
	mux.HandleFunc("POST /_emulator/client", e.adminClient)
}

func (e *Emulator) adminRotation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Strict *bool `json:"strict"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Strict == nil {
		adminError(w, errors.New("strict (true or false) is required"))
		return
	}
	e.SetStrictRotation(*req.Strict)
	ok(w)
}

func (e *Emulator) adminSignIn(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Instant *bool `json:"instant"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Instant == nil {
		adminError(w, errors.New("instant (true or false) is required"))
		return
	}
	e.SetInstantSignIn(*req.Instant)
	ok(w)
}

func (e *Emulator) adminResource(w http.ResponseWriter, r *http.Request) {
	var req Resource
	if !readJSON(w, r, &req) {
		return
	}
	if err := e.RegisterResource(req); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

func (e *Emulator) adminResources(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, e.Resources())
}

func (e *Emulator) adminClient(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientID          string `json:"client_id"`
		PublicClientFlows *bool  `json:"public_client_flows"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.PublicClientFlows == nil {
		adminError(w, errors.New("say what to change: public_client_flows"))
		return
	}
	if err := e.SetPublicClientFlows(req.ClientID, *req.PublicClientFlows); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

// readJSON decodes a small JSON body, rejecting unknown fields so typos in
// test scripts fail loudly.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		adminError(w, errors.New("bad JSON body: "+err.Error()))
		return false
	}
	return true
}

func adminError(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
}

func ok(w http.ResponseWriter) { writeJSON(w, http.StatusOK, map[string]any{}) }

func (e *Emulator) adminApprove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserCode string `json:"user_code"`
		Username string `json:"username"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := e.ApproveDeviceCode(req.UserCode, req.Username); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

func (e *Emulator) adminDeny(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserCode string `json:"user_code"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := e.DenyDeviceCode(req.UserCode); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

func (e *Emulator) adminDeviceCodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, e.PendingDeviceCodes())
}

func (e *Emulator) adminAuthorizeNext(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Outcome AuthorizeOutcome `json:"outcome"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := e.NextAuthorize(req.Outcome); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

func (e *Emulator) adminUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		MFA      *bool  `json:"mfa"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.MFA == nil {
		adminError(w, errors.New("say what to change: mfa"))
		return
	}
	if err := e.RequireMFA(req.Username, *req.MFA); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

func (e *Emulator) adminConsent(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"` // one delegated permission; "": the app as a whole
		Granted  *bool  `json:"granted"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Granted == nil {
		adminError(w, errors.New("granted (true or false) is required"))
		return
	}
	set := func() error { return e.SetConsent(req.Username, req.ClientID, *req.Granted) }
	if req.Scope != "" {
		set = func() error { return e.SetScopeConsent(req.Username, req.ClientID, req.Scope, *req.Granted) }
	}
	if err := set(); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

func (e *Emulator) adminRevoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if e.lookupUser(req.Username) == nil {
		adminError(w, errors.New("unknown user"))
		return
	}
	e.RevokeUser(req.Username)
	ok(w)
}

func (e *Emulator) adminFail(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Count             int     `json:"count"`
		Status            int     `json:"status"`
		RetryAfterSeconds float64 `json:"retry_after_seconds"`
		DelayMS           int64   `json:"delay_ms"`
		Error             string  `json:"error"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.RetryAfterSeconds < 0 || req.DelayMS < 0 || req.DelayMS > int64(time.Hour/time.Millisecond) {
		adminError(w, errors.New("retry_after_seconds and delay_ms must be >= 0 (delay at most an hour)"))
		return
	}
	e.FailNext(req.Count, Fault{
		Status:     req.Status,
		RetryAfter: time.Duration(req.RetryAfterSeconds * float64(time.Second)),
		Delay:      time.Duration(req.DelayMS) * time.Millisecond,
		Error:      req.Error,
	})
	ok(w)
}

func (e *Emulator) adminLifetime(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MinSeconds int64 `json:"min_seconds"`
		MaxSeconds int64 `json:"max_seconds"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	const maxSecs = int64(365 * 24 * 3600)
	if req.MinSeconds < 0 || req.MaxSeconds < 0 || req.MinSeconds > maxSecs || req.MaxSeconds > maxSecs {
		adminError(w, errors.New("lifetimes must be between 0 and a year"))
		return
	}
	e.SetLifetime(time.Duration(req.MinSeconds)*time.Second, time.Duration(req.MaxSeconds)*time.Second)
	ok(w)
}

// clockState is the answer of the clock endpoints.
type clockState struct {
	Now           time.Time `json:"now"`
	OffsetSeconds float64   `json:"offset_seconds"`
}

func (e *Emulator) clockState() clockState {
	e.mu.Lock()
	s := e.shift
	e.mu.Unlock()
	return clockState{Now: e.clock.Now().Add(s).UTC(), OffsetSeconds: s.Seconds()}
}

func (e *Emulator) adminShift(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Seconds float64 `json:"seconds"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Seconds > 100*365*24*3600 || req.Seconds < -100*365*24*3600 {
		adminError(w, errors.New("seconds out of range"))
		return
	}
	e.ShiftClock(time.Duration(req.Seconds * float64(time.Second)))
	writeJSON(w, http.StatusOK, e.clockState())
}

func (e *Emulator) adminClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, e.clockState())
}

func (e *Emulator) adminCounts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, e.Counts())
}

func (e *Emulator) adminResetCounts(w http.ResponseWriter, r *http.Request) {
	e.ResetCounts()
	ok(w)
}

// adminFixture serves the fixture, with the authority built from the
// request's host (so it is right however the handler is served).
func (e *Emulator) adminFixture(w http.ResponseWriter, r *http.Request) {
	f := e.Fixture()
	f.Authority = "https://" + hostOf(r) + "/" + TenantID
	f.WorkspaceURL = "https://" + hostOf(r)
	writeJSON(w, http.StatusOK, f)
}
