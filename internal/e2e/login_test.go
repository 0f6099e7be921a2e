package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestLoginScripts runs testdata/login/*.txtar: every way a person signs
// in, through the real binaries against a standalone emulator (`tokend
// emulator`, started by each script, so that it outlives daemon restarts).
// The person is played by commands that act in the background while
// `token login` runs in the foreground: browser (follows the sign-in URL
// the client handed to $BROWSER and posts the form back to MSAL's loopback
// server), devicecode (approves or declines the code on the emulator's
// admin path); emu is any other emulator control.
func TestLoginScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "login"),
		Setup: func(env *testscript.Env) error {
			if err := scriptEnv(env); err != nil {
				return err
			}
			env.Values[personKey{}] = &person{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitsock":   waitSock,
			"exits":      exits,
			"jwt":        checkJWT,
			"emuconfig":  emuConfig,
			"emu":        emuAdmin,
			"browser":    browser,
			"devicecode": deviceCode,
			"mintrt":     mintRefreshToken,
			"redeemrt":   redeemRefreshToken,
			"emuenv":     emuEnv,
			"stopdaemon": stopDaemon,
			"mode":       checkMode,
			"hasprefix":  hasPrefix,
		},
		Condition: secretService,
	})
}

// fixture is what the standalone emulator wrote to $EMULATOR_DIR.
type fixture struct {
	Authority      string `json:"authority"`
	TenantID       string `json:"tenant_id"`
	PublicClientID string `json:"public_client_id"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	CAFile         string `json:"ca_file"`
}

// emulatorFixture waits for the emulator started by the script to answer.
func emulatorFixture(ts *testscript.TestScript) (fixture, *http.Client) {
	dir := ts.Getenv("EMULATOR_DIR")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var fx fixture
		data, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
		if err == nil && json.Unmarshal(data, &fx) == nil && fx.Authority != "" {
			pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
			if err != nil {
				ts.Fatalf("emulator CA: %v", err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if resp, err := hc.Get(emulatorURL(fx) + "/_emulator/clock"); err == nil {
				resp.Body.Close()
				return fx, hc
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no emulator answering from %s after 30s", dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func emulatorURL(fx fixture) string { return strings.TrimSuffix(fx.Authority, "/"+fx.TenantID) }

// emuconfig IN OUT writes OUT from IN with ${EMULATOR} (https://HOST:PORT),
// ${AUTHORITY}, ${TENANT}, ${CLIENT_ID} (the public client) and ${CA_FILE}
// of the running emulator.
func emuConfig(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: emuconfig IN OUT")
	}
	fx, _ := emulatorFixture(ts)
	vars := map[string]string{
		"EMULATOR": emulatorURL(fx), "AUTHORITY": fx.Authority, "TENANT": fx.TenantID,
		"CLIENT_ID": fx.PublicClientID, "CA_FILE": fx.CAFile,
	}
	out := os.Expand(ts.ReadFile(args[0]), func(k string) string {
		v, ok := vars[k]
		if !ok {
			ts.Fatalf("emuconfig: unknown variable ${%s}", k)
		}
		return v
	})
	if err := os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o600); err != nil {
		ts.Fatalf("emuconfig: %v", err)
	}
}

// emu METHOD PATH [JSON] calls the emulator's admin API and prints the
// answer; a non-2xx answer fails (or, negated, is required).
func emuAdmin(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: emu METHOD PATH [JSON]")
	}
	fx, hc := emulatorFixture(ts)
	var body io.Reader
	if len(args) == 3 {
		body = strings.NewReader(args[2])
	}
	req, err := http.NewRequest(args[0], emulatorURL(fx)+args[1], body)
	if err != nil {
		ts.Fatalf("emu: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		ts.Fatalf("emu: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	ts.Stdout().Write(data)
	if ok := resp.StatusCode/100 == 2; ok == neg {
		ts.Fatalf("emu %s %s: HTTP %d %s", args[0], args[1], resp.StatusCode, data)
	}
}

var (
	formAction = regexp.MustCompile(`action="([^"]+)"`)
	formInput  = regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`)
)

// person is what the person at the keyboard is doing in the background of
// a script, while `token login` runs in the foreground.
type person struct {
	done chan error // nil when idle
}

type personKey struct{}

func personOf(ts *testscript.TestScript) *person { return ts.Value(personKey{}).(*person) }

// act runs fn in the background; `browser wait` or `devicecode wait`
// collects its outcome.
func (p *person) act(ts *testscript.TestScript, fn func() error) {
	if p.done != nil {
		ts.Fatalf("the person is still busy with the previous step")
	}
	done := make(chan error, 1)
	p.done = done
	go func() { done <- fn() }()
}

func (p *person) wait(ts *testscript.TestScript) {
	if p.done == nil {
		ts.Fatalf("the person is not doing anything")
	}
	select {
	case err := <-p.done:
		p.done = nil
		if err != nil {
			ts.Fatalf("%v", err)
		}
	case <-time.After(60 * time.Second):
		ts.Fatalf("the person's step did not end within 60s")
	}
}

// browser start [-tamper-state] | wait plays the person's browser. start
// waits, in the background, for the sign-in URL the client hands to
// $BROWSER (a script writing it to $WORK/browser-url), checks it asks for
// PKCE (S256), a state and a loopback redirect, loads it, and submits the
// emulator's form_post page to MSAL's loopback server; -tamper-state
// changes the state on the way, as a forged or stale redirect would. On
// the emulator's sign-in page it signs in as the account prefilled from
// login_hint (else alice) with the fixture password. wait
// waits for that to be done.
func browser(ts *testscript.TestScript, neg bool, args []string) {
	p := personOf(ts)
	if len(args) == 1 && args[0] == "wait" {
		p.wait(ts)
		return
	}
	fs := flag.NewFlagSet("browser", flag.ContinueOnError)
	tamper := fs.Bool("tamper-state", false, "")
	if len(args) == 0 || args[0] != "start" || fs.Parse(args[1:]) != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: browser start [-tamper-state] | browser wait")
	}
	_, hc := emulatorFixture(ts)
	path := ts.MkAbs("browser-url")
	p.act(ts, func() error { return followSignIn(hc, path, *tamper) })
}

func followSignIn(hc *http.Client, path string, tamper bool) error {
	var signIn string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(path); err == nil && bytes.HasSuffix(data, []byte("\n")) {
			signIn = strings.TrimSpace(string(data))
			break
		}
		if time.Now().After(deadline) {
			return errors.New("browser: no sign-in URL handed to $BROWSER after 30s")
		}
	}
	os.Remove(path)
	u, err := url.Parse(signIn)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	q := u.Query()
	for k, want := range map[string]string{"code_challenge_method": "S256", "response_type": "code", "response_mode": "form_post"} {
		if q.Get(k) != want {
			return fmt.Errorf("browser: sign-in URL has %s=%q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("state") == "" || len(q.Get("code_challenge")) != 43 || !strings.HasPrefix(q.Get("redirect_uri"), "http://localhost:") {
		return fmt.Errorf("browser: sign-in URL lacks a state, a PKCE challenge or a loopback redirect: %s", q.Encode())
	}
	resp, err := hc.Get(signIn)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(page, []byte(`name="password"`)) {
		// The emulator's sign-in page: the person types the password of
		// the account (prefilled from login_hint, else the fixture user's).
		if page, err = signInPage(hc, u, page); err != nil {
			return err
		}
	}
	m := formAction.FindStringSubmatch(string(page))
	if m == nil {
		return fmt.Errorf("browser: no form in the sign-in page (HTTP %d): %s", resp.StatusCode, page)
	}
	form := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	if tamper {
		form.Set("state", "forged-"+form.Get("state"))
	}
	r, err := http.PostForm(html.UnescapeString(m[1]), form)
	if err != nil {
		return fmt.Errorf("browser: post to the loopback redirect: %w", err)
	}
	return r.Body.Close()
}

// signInPage fills in and submits the emulator's sign-in page at u and
// returns the page that answers it (the form_post page to the app).
func signInPage(hc *http.Client, u *url.URL, page []byte) ([]byte, error) {
	m := formAction.FindStringSubmatch(string(page))
	if m == nil {
		return nil, fmt.Errorf("browser: no form in the sign-in page: %s", page)
	}
	form := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	if form.Get("username") == "" {
		form.Set("username", "alice@tokend.test")
	}
	form.Set("password", "correct-horse-battery-staple")
	form.Set("emu_action", "signin")
	action, err := u.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	resp, err := hc.PostForm(action.String(), form)
	if err != nil {
		return nil, fmt.Errorf("browser: sign in: %w", err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// devicecode pending | start approve [USER] | start deny | start expire |
// wait plays the person with the device code. pending waits until a
// device code is pending; start, in the background, waits for one and then
// approves it (as USER, default the fixture user) or declines it on the
// emulator's admin path, or lets it expire (moves the emulator's clock 16
// minutes on); wait waits for that to be done.
func deviceCode(ts *testscript.TestScript, neg bool, args []string) {
	p := personOf(ts)
	fx, hc := emulatorFixture(ts)
	switch {
	case len(args) == 1 && args[0] == "wait":
		p.wait(ts)
		return
	case len(args) == 1 && args[0] == "pending":
		if _, err := pendingDeviceCode(hc, fx); err != nil {
			ts.Fatalf("%v", err)
		}
		return
	case len(args) < 2 || len(args) > 3 || args[0] != "start":
		ts.Fatalf("usage: devicecode pending | start approve [USER] | start deny | start expire | wait")
	}
	action := args[1]
	var user string
	if len(args) == 3 {
		user = args[2]
	}
	p.act(ts, func() error {
		code, err := pendingDeviceCode(hc, fx)
		if err != nil {
			return err
		}
		var path string
		var body any
		switch action {
		case "approve":
			path, body = "/_emulator/devicecode/approve", map[string]string{"user_code": code, "username": user}
		case "deny":
			path, body = "/_emulator/devicecode/deny", map[string]string{"user_code": code}
		case "expire":
			path, body = "/_emulator/clock/shift", map[string]int{"seconds": 16 * 60}
		default:
			return fmt.Errorf("devicecode: unknown action %q", action)
		}
		b, _ := json.Marshal(body)
		resp, err := hc.Post(emulatorURL(fx)+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("devicecode %s: %w", action, err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("devicecode %s: HTTP %d %s", action, resp.StatusCode, data)
		}
		return nil
	})
}

// pendingDeviceCode waits for the oldest pending device code.
func pendingDeviceCode(hc *http.Client, fx fixture) (string, error) {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := hc.Get(emulatorURL(fx) + "/_emulator/devicecodes")
		if err != nil {
			return "", fmt.Errorf("devicecode: %w", err)
		}
		var pending []struct {
			UserCode string `json:"user_code"`
		}
		err = json.NewDecoder(resp.Body).Decode(&pending)
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("devicecode: %w", err)
		}
		if len(pending) > 0 {
			return pending[0].UserCode, nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("devicecode: no pending device code after 30s")
		}
	}
}

// mintrt FILE gets a refresh token for the fixture user and public client
// straight from the emulator (as another tool would) and writes it to FILE.
func mintRefreshToken(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: mintrt FILE")
	}
	fx, hc := emulatorFixture(ts)
	tr, err := tokenRequest(hc, fx, url.Values{
		"grant_type": {"password"}, "username": {fx.Username}, "password": {fx.Password},
	})
	if err != nil {
		ts.Fatalf("mintrt: %v", err)
	}
	if err := os.WriteFile(ts.MkAbs(args[0]), []byte(tr+"\n"), 0o600); err != nil {
		ts.Fatalf("mintrt: %v", err)
	}
}

// redeemrt FILE redeems the refresh token in FILE once at the emulator;
// it must succeed (or, negated, fail: the Entra error goes to stdout).
func redeemRefreshToken(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: redeemrt FILE")
	}
	fx, hc := emulatorFixture(ts)
	_, err := tokenRequest(hc, fx, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {strings.TrimSpace(ts.ReadFile(args[0]))},
	})
	if err != nil {
		fmt.Fprintln(ts.Stdout(), err)
	}
	if (err != nil) != neg {
		ts.Fatalf("redeemrt: %v", err)
	}
}

// tokenRequest posts a grant for the public client and the Databricks
// scope; it returns the refresh token of the answer.
func tokenRequest(hc *http.Client, fx fixture, form url.Values) (string, error) {
	form.Set("client_id", fx.PublicClientID)
	form.Set("scope", "openid offline_access 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default")
	resp, err := hc.PostForm(fx.Authority+"/oauth2/v2.0/token", form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		desc, _, _ := strings.Cut(body.Description, "\r")
		return "", fmt.Errorf("%s: %s", body.Error, desc)
	}
	return body.RefreshToken, nil
}
