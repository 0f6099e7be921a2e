package entraemu

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// browser plays a person's browser: it keeps cookies and fills in forms.
type browser struct {
	t    *testing.T
	hc   *http.Client
	base string
	// redirected is the last redirect to the app (query or fragment mode).
	redirected *url.URL
}

func newBrowser(t *testing.T, e *Emulator) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: e.URL()}
	b.hc = &http.Client{Transport: e.HTTPClient().Transport, Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), "http://localhost") || strings.HasPrefix(req.URL.String(), "http://127.0.0.1") {
				if req.URL.Port() == "1" { // the tests' app that is not there
					b.redirected = req.URL
					return http.ErrUseLastResponse
				}
			}
			return nil
		}}
	return b
}

func (b *browser) get(u string) (string, error) {
	resp, err := b.hc.Get(u)
	return b.read(resp, err)
}

func (b *browser) read(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		b.redirected, _ = url.Parse(loc)
	}
	return string(body), err
}

var (
	formRE   = regexp.MustCompile(`(?s)<form method="POST" (?:name="hiddenform" )?action="([^"]+)">(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)" ?/?>`)
)

// forms returns the page's forms: action and hidden fields.
func forms(page string) (actions []string, fields []url.Values) {
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		v := url.Values{}
		for _, in := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			v.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		actions = append(actions, html.UnescapeString(m[1]))
		fields = append(fields, v)
	}
	return actions, fields
}

// submit posts the page's last form with its hidden fields and typed.
func (b *browser) submit(page string, typed url.Values) (string, error) {
	return b.submitForm(page, -1, typed)
}

func (b *browser) submitForm(page string, i int, typed url.Values) (string, error) {
	actions, fields := forms(page)
	if len(actions) == 0 {
		return "", fmt.Errorf("no form in %q", page)
	}
	if i < 0 {
		i = len(actions) + i
	}
	form := fields[i]
	for k, v := range typed {
		form[k] = v
	}
	action := actions[i]
	if strings.HasPrefix(action, "/") {
		action = b.base + action
	}
	return b.read(b.hc.PostForm(action, form))
}

// authURL is an authorization request of the public client (no PKCE: it
// is not a single-page app), redirecting to http://localhost:1/cb.
func authURL(e *Emulator, extra url.Values) string {
	q := url.Values{
		"client_id": {PublicClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:1/cb"},
		"scope": {"openid offline_access " + DatabricksResource + "/.default"}, "state": {"st-2"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return e.URL() + "/" + TenantID + "/oauth2/v2.0/authorize?" + q.Encode()
}

// TestSignInPage: the sign-in page a person sees at /authorize, driven
// through its forms: login_hint prefilled, a wrong password and an unknown
// user refused on the page, Cancel (access_denied, error_subcode=cancel),
// single sign-on with the browser's session, and prompt (login,
// select_account, none).
func TestSignInPage(t *testing.T) {
	e := start(t, Config{})
	b := newBrowser(t, e)
	must := func(page string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	code := func() string {
		t.Helper()
		if b.redirected == nil || b.redirected.Query().Get("code") == "" {
			t.Fatalf("no code: redirected to %v", b.redirected)
		}
		c := b.redirected.Query().Get("code")
		b.redirected = nil
		return c
	}
	redeem := func(code string) map[string]any {
		t.Helper()
		r := post(t, e, v2Token, url.Values{"grant_type": {"authorization_code"}, "client_id": {PublicClientID}, "code": {code}, "redirect_uri": {"http://localhost:1/cb"}})
		if r.status != 200 {
			t.Fatalf("redeem: %d %v", r.status, r.body)
		}
		return claims(t, r.str("access_token"))
	}

	page := must(b.get(authURL(e, url.Values{"login_hint": {SecondUsername}})))
	if !strings.Contains(page, "<title>Sign in to your account</title>") || !strings.Contains(page, `value="`+SecondUsername+`"`) ||
		!strings.Contains(page, `value="cancel"`) || !strings.Contains(page, "AzureDatabricks") || b.redirected != nil {
		t.Fatalf("sign-in page:\n%s", page)
	}
	page = must(b.submit(page, url.Values{"username": {SecondUsername}, "password": {"wrong"}, "emu_action": {"signin"}}))
	if !strings.Contains(page, "AADSTS50126") || b.redirected != nil {
		t.Fatalf("wrong password:\n%s", page)
	}
	page = must(b.submit(page, url.Values{"username": {"nobody@tokend.test"}, "password": {Password}, "emu_action": {"signin"}}))
	if !strings.Contains(page, "AADSTS50034") || b.redirected != nil {
		t.Fatalf("unknown user:\n%s", page)
	}
	must(b.submit(page, url.Values{"username": {SecondUsername}, "password": {Password}, "emu_action": {"signin"}}))
	if c := redeem(code()); c["upn"] != SecondUsername {
		t.Errorf("signed in as %v", c["upn"])
	}

	t.Run("cancel", func(t *testing.T) {
		page := must(b.get(authURL(e, url.Values{"prompt": {"login"}})))
		must(b.submit(page, url.Values{"emu_action": {"cancel"}}))
		q := b.redirected.Query()
		if q.Get("error") != "access_denied" || q.Get("error_subcode") != "cancel" || q.Get("code") != "" ||
			!strings.HasPrefix(q.Get("error_description"), "AADSTS65004: ") || q.Get("state") != "st-2" {
			t.Errorf("cancel redirected with %v", q)
		}
		b.redirected = nil
	})
	t.Run("single sign-on", func(t *testing.T) {
		// The browser's session signs bob in again without a page.
		if page := must(b.get(authURL(e, nil))); strings.Contains(page, "<form") {
			t.Fatalf("a page despite the session:\n%s", page)
		}
		if c := redeem(code()); c["upn"] != SecondUsername {
			t.Errorf("signed in as %v", c["upn"])
		}
	})
	t.Run("prompt=login", func(t *testing.T) {
		page := must(b.get(authURL(e, url.Values{"prompt": {"login"}})))
		if !strings.Contains(page, `name="password"`) || b.redirected != nil {
			t.Fatalf("prompt=login: %v\n%s", b.redirected, page)
		}
		must(b.submit(page, url.Values{"username": {Username}, "password": {Password}, "emu_action": {"signin"}}))
		if c := redeem(code()); c["upn"] != Username {
			t.Errorf("signed in as %v", c["upn"])
		}
	})
	t.Run("prompt=select_account", func(t *testing.T) {
		page := must(b.get(authURL(e, url.Values{"prompt": {"select_account"}})))
		if !strings.Contains(page, "Pick an account") || !strings.Contains(page, Username) || !strings.Contains(page, SecondUsername) {
			t.Fatalf("picker:\n%s", page)
		}
		// The forms: one per account, then "Use another account".
		must(b.submitForm(page, 0, url.Values{"emu_action": {"pick"}})) // bob signed in first
		if c := redeem(code()); c["upn"] != SecondUsername {
			t.Errorf("picked %v", c["upn"])
		}
		page = must(b.get(authURL(e, url.Values{"prompt": {"select_account"}})))
		page = must(b.submitForm(page, -1, url.Values{"emu_action": {"other"}}))
		if !strings.Contains(page, `name="password"`) {
			t.Fatalf("another account:\n%s", page)
		}
	})
	t.Run("prompt=none", func(t *testing.T) {
		must(b.get(authURL(e, url.Values{"prompt": {"none"}, "login_hint": {Username}})))
		if c := redeem(code()); c["upn"] != Username {
			t.Errorf("silent sign-in as %v", c["upn"])
		}
		fresh := newBrowser(t, e)
		must(fresh.get(authURL(e, url.Values{"prompt": {"none"}})))
		q := fresh.redirected.Query()
		if q.Get("error") != "login_required" || !strings.HasPrefix(q.Get("error_description"), "AADSTS50058: ") || q.Get("code") != "" {
			t.Errorf("prompt=none without a session: %v", q)
		}
	})
	t.Run("instant sign-in", func(t *testing.T) {
		e.SetInstantSignIn(true)
		defer e.SetInstantSignIn(false)
		fresh := newBrowser(t, e)
		must(fresh.get(authURL(e, url.Values{"login_hint": {SecondUsername}})))
		if fresh.redirected == nil || fresh.redirected.Query().Get("code") == "" {
			t.Fatalf("instant sign-in: %v", fresh.redirected)
		}
	})
}
