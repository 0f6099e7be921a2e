package entraemu

import (
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The sign-in page of /authorize, for a person at a browser. It asks for a
// username (prefilled from login_hint) and password, or offers the accounts
// already signed in to this browser (an account picker), and has a Cancel
// button. prompt is honoured as Entra does
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code):
// "login" asks for credentials even with a session, "select_account" shows
// the picker, "none" never shows a page (a session's account, else
// login_required), and without prompt a browser with one signed-in account
// (or the one login_hint names) is signed in at once (single sign-on). The
// browser session is a cookie, as Entra's ESTSAUTH. Config.InstantSignIn
// skips the page altogether.

// sessionCookie names the browser's sign-in session.
const sessionCookie = "ESTSAUTH"

// session is a browser's sign-in session: the accounts signed in.
type session struct {
	accounts []string
}

// signInPage is what the page shows.
type signInPage struct {
	client   *client
	scopes   scopeSet
	params   url.Values // the authorization request, carried through the form
	action   string     // where the form posts
	username string     // prefilled
	errText  string
	accounts []string // accounts to pick from; nil: the credentials form
}

// protocolParams are the request's parameters minus the page's own.
func protocolParams(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		switch k {
		case "username", "password", "emu_action":
			continue
		}
		out[k] = v
	}
	return out
}

// signIn decides who signs in to an authorization request. It returns the
// username, or "" when prompt=none finds nobody to sign in silently; ok is
// false when it answered the request itself (the page).
func (e *Emulator) signIn(w http.ResponseWriter, r *http.Request, q url.Values, sp *signInPage) (username string, ok bool) {
	sp.action = r.URL.Path
	e.mu.Lock()
	instant := e.instantSignIn
	e.mu.Unlock()
	hint := strings.ToLower(q.Get("login_hint"))
	accounts := e.sessionAccounts(r)
	switch q.Get("emu_action") {
	case "signin":
		name, pw := q.Get("username"), q.Get("password")
		u := e.lookupUser(name)
		sp.username = name
		switch {
		case u == nil:
			// AADSTS50034 UserAccountNotFound, as the page words it.
			sp.errText = "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin. (AADSTS50034)"
		case subtle.ConstantTimeCompare([]byte(pw), []byte(u.password)) != 1:
			// AADSTS50126 InvalidUserNameOrPassword, as the page words it.
			sp.errText = "Your account or password is incorrect. If you don't remember your password, reset it now. (AADSTS50126: Error validating credentials due to invalid username or password.)"
		default:
			e.addSessionAccount(w, r, u.username)
			return u.username, true
		}
		e.renderSignIn(w, sp)
		return "", false
	case "pick":
		name := strings.ToLower(q.Get("username"))
		if slices.Contains(accounts, name) {
			return name, true
		}
		sp.username = name
		e.renderSignIn(w, sp)
		return "", false
	case "other":
		e.renderSignIn(w, sp)
		return "", false
	}
	if instant {
		username = Username
		if u := e.lookupUser(hint); u != nil {
			username = u.username
		}
		return username, true
	}
	silent := ""
	switch {
	case hint != "" && slices.Contains(accounts, hint):
		silent = hint
	case hint == "" && len(accounts) == 1:
		silent = accounts[0]
	}
	switch strings.ToLower(q.Get("prompt")) {
	case "none":
		return silent, true
	case "login":
	case "select_account":
		if len(accounts) > 0 {
			sp.accounts = accounts
		}
	default:
		if silent != "" {
			return silent, true
		}
	}
	sp.username = q.Get("login_hint")
	e.renderSignIn(w, sp)
	return "", false
}

// sessionAccounts are the accounts signed in to the request's browser.
func (e *Emulator) sessionAccounts(r *http.Request) []string {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sessions[ck.Value]; s != nil {
		return slices.Clone(s.accounts)
	}
	return nil
}

// addSessionAccount signs username in to the browser's session, starting
// one if need be.
func (e *Emulator) addSessionAccount(w http.ResponseWriter, r *http.Request, username string) {
	id := ""
	if ck, err := r.Cookie(sessionCookie); err == nil {
		id = ck.Value
	}
	e.mu.Lock()
	s := e.sessions[id]
	if s == nil {
		id = newSecret("")
		s = &session{}
		e.sessions[id] = s
	}
	if !slices.Contains(s.accounts, username) {
		s.accounts = append(s.accounts, username)
	}
	e.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
}

// renderSignIn shows the sign-in page (200, HTML).
func (e *Emulator) renderSignIn(w http.ResponseWriter, sp *signInPage) {
	var perms []string
	if sp.scopes.res != nil {
		for _, p := range sp.scopes.perms {
			if p == ".default" {
				perms = append(perms, sp.scopes.res.Scopes...)
			} else {
				perms = append(perms, p)
			}
		}
	}
	resource := ""
	if sp.scopes.res != nil {
		resource = sp.scopes.res.Name
	}
	var hidden []struct{ Name, Value string }
	for k, vs := range sp.params {
		for _, v := range vs {
			hidden = append(hidden, struct{ Name, Value string }{k, v})
		}
	}
	slices.SortFunc(hidden, func(a, b struct{ Name, Value string }) int { return strings.Compare(a.Name, b.Name) })
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	_ = signInTemplate.Execute(w, map[string]any{
		"App": sp.client.name, "Resource": resource, "Perms": perms, "Action": sp.action,
		"Hidden": hidden, "Username": sp.username, "Error": sp.errText, "Accounts": sp.accounts,
	})
}

var signInTemplate = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0}
main{max-width:380px;margin:8vh auto;background:#fff;padding:32px 40px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:24px;font-weight:600;margin:0 0 12px}
p.app{color:#555;margin:0 0 16px}
label{display:block;margin:12px 0 4px}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:6px 0;border:0;border-bottom:1px solid #666;font-size:15px}
.error{color:#e81123;margin:12px 0}
.buttons{display:flex;gap:8px;justify-content:flex-end;margin-top:24px}
button{padding:6px 18px;font-size:15px;border:1px solid #888;background:#ccc;cursor:pointer}
button.primary{background:#0067b8;color:#fff;border-color:#0067b8}
button.account{display:block;width:100%;text-align:left;margin:4px 0;background:#fff;border:1px solid #ddd}
small{color:#666}
</style></head>
<body><main>
<p><small>tokend emulator — an offline Microsoft Entra ID</small></p>
{{if .Accounts}}
<h1>Pick an account</h1>
<p class="app">to continue to {{.App}}</p>
{{range .Accounts}}
<form method="POST" action="{{$.Action}}">{{range $.Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
<input type="hidden" name="username" value="{{.}}"><button class="account" name="emu_action" value="pick">{{.}}<br><small>Signed in</small></button></form>
{{end}}
<form method="POST" action="{{.Action}}">{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
<button class="account" name="emu_action" value="other">Use another account</button>
<div class="buttons"><button name="emu_action" value="cancel">Cancel</button></div></form>
{{else}}
<h1>Sign in</h1>
<p class="app">to continue to {{.App}}{{if .Resource}}, which asks to access {{.Resource}}{{if .Perms}} ({{range $i, $p := .Perms}}{{if $i}}, {{end}}{{$p}}{{end}}){{end}} on your behalf{{end}}</p>
<form method="POST" action="{{.Action}}">{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<label for="username">Email, phone, or Skype</label>
<input type="email" id="username" name="username" value="{{.Username}}" autocomplete="username" {{if not .Username}}autofocus{{end}}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" {{if .Username}}autofocus{{end}}>
<div class="buttons">
<button name="emu_action" value="cancel" formnovalidate>Cancel</button>
<button class="primary" name="emu_action" value="signin">Sign in</button>
</div></form>
{{end}}
</main></body></html>
`))
