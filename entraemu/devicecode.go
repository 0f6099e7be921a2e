package entraemu

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// deviceCode is a pending (or finished) device code sign-in.
type deviceCode struct {
	code     string
	userCode string
	clientID string
	scopes   scopeSet
	expires  time.Time
	username string // set on approval
	redeemed bool
	denied   bool // the user declined (DenyDeviceCode)
	mfa      bool // the approval did multi-factor authentication
}

// userCodeAlphabet avoids look-alikes (0/O, 1/I, …).
const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newUserCode returns 9 characters, the length Entra uses.
func newUserCode() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
	}
	return string(b[:])
}

// normalizeUserCode lets people type "abcd-efghj" or "ABCD EFGHJ".
func normalizeUserCode(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
}

// deviceCodeResponse is the device authorization response, as Entra words it.
type deviceCodeResponse struct {
	UserCode        string `json:"user_code"`
	DeviceCode      string `json:"device_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
	Message         string `json:"message"`
}

// handleDeviceCode is POST /{tenant}/oauth2/v2.0/devicecode. MSAL Go finds
// it by replacing "token" with "devicecode" in the token endpoint and then
// polls the token endpoint (50ms growing to 5s, ignoring interval) while
// the answer is authorization_pending.
func (e *Emulator) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	if !e.applyFault(w, r) {
		return
	}
	form, oe := parsePostForm(w, r)
	e.count("devicecode")
	if oe == nil && !knownTenant(r.PathValue("tenant")) {
		oe = errUnknownTenant(sanitize(r.PathValue("tenant")))
	}
	var c *client
	if oe == nil {
		switch id := form.Get("client_id"); {
		case id == "":
			oe = errMissingParam("client_id")
		default:
			if c = e.lookupClient(id); c == nil {
				oe = errUnknownClient(sanitize(id))
			}
		}
	}
	var ss scopeSet
	if oe == nil {
		if strings.TrimSpace(form.Get("scope")) == "" {
			oe = errMissingParam("scope")
		} else {
			if ss, oe = parseScopes(form.Get("scope")); oe == nil {
				ss = ss.withDefaultResource()
				oe = e.resolveScopes(&ss, true, false, c)
			}
		}
	}
	if oe != nil {
		annotate(w, slog.String("error", oe.err), slog.Int("aadsts", oe.aadsts))
		e.writeError(w, r, oe)
		return
	}
	annotate(w, slog.String("client_id", c.id))
	now := e.Now()
	dc := &deviceCode{code: newSecret("DAQAB"), clientID: c.id, scopes: ss, expires: now.Add(deviceCodeLifetime)}
	e.mu.Lock()
	for dc.userCode == "" || e.userCodes[dc.userCode] != nil {
		dc.userCode = newUserCode()
	}
	e.deviceCodes[dc.code] = dc
	e.userCodes[dc.userCode] = dc
	e.sweepLocked(now)
	e.mu.Unlock()
	e.recordIssued(dc.code)
	verify := "https://" + hostOf(r) + "/devicelogin"
	noStore(w)
	writeJSON(w, http.StatusOK, deviceCodeResponse{
		UserCode:        dc.userCode,
		DeviceCode:      dc.code,
		VerificationURI: verify,
		ExpiresIn:       int(deviceCodeLifetime / time.Second),
		Interval:        5,
		Message:         fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, dc.userCode),
	})
}

// grantDeviceCode redeems a device code: authorization_pending
// (AADSTS70016) until approved, expired_token (AADSTS70020) after expiry,
// single use.
func (e *Emulator) grantDeviceCode(tr *tokenRequest) (any, *oauthError) {
	code := tr.form.Get("device_code")
	if code == "" {
		return nil, errMissingParam("device_code")
	}
	e.mu.Lock()
	dc := e.deviceCodes[code]
	var u *user
	var oe *oauthError
	switch {
	case dc == nil:
		oe = errInvalidGrant(70000, "The provided value for the input parameter 'device_code' is not valid.")
	case dc.clientID != tr.client.id:
		oe = errInvalidGrant(70000, "The provided device code was issued to a different client.")
	case dc.redeemed:
		oe = errInvalidGrant(54005, "OAuth2 device code was already redeemed, please retry with a new device code.")
	case dc.denied:
		oe = newError(400, "authorization_declined", 65004, "User declined to consent to access the app.")
	case tr.now.After(dc.expires):
		oe = newError(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	case dc.username == "":
		oe = newError(400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	default:
		dc.redeemed = true
		u = e.users[dc.username]
	}
	e.mu.Unlock()
	if oe != nil {
		return nil, oe
	}
	ss, oe := e.requestScopes(tr, &dc.scopes, true)
	if oe != nil {
		return nil, oe
	}
	return e.issue(tr, grantResult{user: u, scopes: ss, mfa: dc.mfa})
}

// ApproveDeviceCode signs username (the fixture user if "") in for the
// pending device code with userCode (case, spaces and dashes ignored).
func (e *Emulator) ApproveDeviceCode(userCode, username string) error {
	if username == "" {
		username = Username
	}
	now := e.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	dc := e.userCodes[normalizeUserCode(userCode)]
	u := e.users[strings.ToLower(username)]
	switch {
	case dc == nil:
		return errors.New("emulator: unknown user code")
	case u == nil:
		return fmt.Errorf("emulator: unknown user %q", username)
	case now.After(dc.expires):
		return errors.New("emulator: device code expired")
	case dc.redeemed:
		return errors.New("emulator: device code already redeemed")
	case dc.denied:
		return errors.New("emulator: device code already declined")
	case dc.username != "" && dc.username != u.username:
		return errors.New("emulator: device code already approved for another user")
	}
	// The sign-in page asks for consent (granted at once) and, for users
	// who need it, a second factor.
	dc.username, dc.mfa = u.username, u.mfa
	if c := e.clients[dc.clientID]; c != nil {
		e.consentLocked(u.username, c, dc.scopes)
	}
	return nil
}

// DenyDeviceCode declines the pending device code with userCode, as a
// person who did not start that sign-in would: polling then ends with
// authorization_declined.
func (e *Emulator) DenyDeviceCode(userCode string) error {
	now := e.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	dc := e.userCodes[normalizeUserCode(userCode)]
	switch {
	case dc == nil:
		return errors.New("emulator: unknown user code")
	case now.After(dc.expires):
		return errors.New("emulator: device code expired")
	case dc.redeemed || dc.username != "":
		return errors.New("emulator: device code already approved")
	}
	dc.denied = true
	return nil
}

// PendingDeviceCode is a device code sign-in waiting for its user.
type PendingDeviceCode struct {
	UserCode  string    `json:"user_code"`
	ClientID  string    `json:"client_id"`
	ExpiresOn time.Time `json:"expires_on"`
}

// PendingDeviceCodes lists the device codes neither approved, declined nor
// expired, oldest first.
func (e *Emulator) PendingDeviceCodes() []PendingDeviceCode {
	now := e.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []PendingDeviceCode{}
	for _, dc := range e.deviceCodes {
		if dc.username == "" && !dc.denied && !now.After(dc.expires) {
			out = append(out, PendingDeviceCode{UserCode: dc.userCode, ClientID: dc.clientID, ExpiresOn: dc.expires.UTC()})
		}
	}
	slices.SortFunc(out, func(a, b PendingDeviceCode) int { return a.ExpiresOn.Compare(b.ExpiresOn) })
	return out
}

// handleDeviceLoginPage is the verification_uri: a form for people
// running the emulator by hand.
func (e *Emulator) handleDeviceLoginPage(w http.ResponseWriter, r *http.Request) {
	devicePage(w, http.StatusOK, "Enter the code displayed on your device.", "")
}

// handleDeviceLoginSubmit approves the typed code, as the given known user
// (fixture user by default), without asking for a password.
func (e *Emulator) handleDeviceLoginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		devicePage(w, http.StatusBadRequest, "Malformed request.", "")
		return
	}
	name := r.PostForm.Get("username")
	if r.PostForm.Get("action") == "Deny" {
		if err := e.DenyDeviceCode(r.PostForm.Get("user_code")); err != nil {
			devicePage(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "emulator: ")+". Try again.", name)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, `<!doctype html><html><head><title>tokend emulator</title></head><body><p>Sign-in declined. You may now close this window.</p></body></html>`)
		return
	}
	if err := e.ApproveDeviceCode(r.PostForm.Get("user_code"), name); err != nil {
		devicePage(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "emulator: ")+". Try again.", name)
		return
	}
	if name == "" {
		name = Username
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, `<!doctype html><html><head><title>tokend emulator</title></head><body><p>%s has signed in to the application on your device. You may now close this window.</p></body></html>`, html.EscapeString(name))
}

func devicePage(w http.ResponseWriter, status int, msg, name string) {
	if name == "" {
		name = Username
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	noStore(w)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<!doctype html><html><head><title>tokend emulator: device sign-in</title></head><body>
<h1>Device sign-in (tokend emulator)</h1><p>%s</p>
<form method="POST" action="/devicelogin">
<label>Code <input name="user_code" autofocus autocomplete="off"></label>
<label>User <input name="username" value="%s"></label>
<input type="submit" name="action" value="Next"> <input type="submit" name="action" value="Deny">
</form></body></html>`, html.EscapeString(msg), html.EscapeString(name))
}
