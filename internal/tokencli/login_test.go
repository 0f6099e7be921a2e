package tokencli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/client/wire"
)

// fakeDaemon answers POST /v1/login on a unix socket with answer, and
// records the request.
func fakeDaemon(t *testing.T, answer func(w http.ResponseWriter)) (sock string, got *wire.LoginRequest) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tkt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock = filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	got = &wire.LoginRequest{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/login" || json.NewDecoder(r.Body).Decode(got) != nil {
			http.Error(w, "bad", 500)
			return
		}
		answer(w)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock, got
}

func events(lines ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", wire.ContentTypeNDJSON)
		for _, l := range lines {
			io.WriteString(w, l+"\n")
		}
	}
}

const signedIn = `{"event":"signed_in","result":{"profile":"p","account":"alice@tokend.test","expires_on":1}}`

func TestLogin(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	t.Setenv("BROWSER", "false") // a browser that fails to open
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		answer func(http.ResponseWriter)
		code   int
		stderr []string
		req    wire.LoginRequest
	}{
		{
			name: "browser, printing the URL", args: []string{"--browser", "--no-browser", "--timeout", "90s"},
			answer: events(`{"event":"open_url","url":"https://idp.example/authorize?x=1"}`, signedIn),
			stderr: []string{"To sign in to p, open this URL in a browser:\n\n    https://idp.example/authorize?x=1\n", "waiting for the sign-in in the browser (Ctrl-C cancels)", "signed in to p as alice@tokend.test"},
			req:    wire.LoginRequest{Profile: "p", Flow: "browser", TimeoutSeconds: 90},
		},
		{
			name: "browser that cannot open", args: []string{"--browser", "--username", "bob@tokend.test", "--timeout", "1500ms"},
			answer: events(`{"event":"open_url","url":"https://idp.example/authorize"}`, signedIn),
			stderr: []string{"Could not open a browser. To sign in to p, open this URL in one:\n\n    https://idp.example/authorize\n"},
			req:    wire.LoginRequest{Profile: "p", Flow: "browser", Username: "bob@tokend.test", TimeoutSeconds: 2},
		},
		{
			name: "device code, verbatim", args: []string{"--device-code"},
			answer: events(`{"event":"device_code","message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate.","user_code":"ABCD-EFGH"}`, signedIn),
			stderr: []string{"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate.\n", "waiting for the code to be entered"},
			req:    wire.LoginRequest{Profile: "p", Flow: "device-code"},
		},
		{
			name: "refused after the prompt", args: []string{"--device-code"},
			answer: events(`{"event":"device_code","message":"enter X"}`, `{"event":"error","error":"login_required","error_description":"sign-in to p failed (expired): run it again"}`),
			code:   exitLogin, stderr: []string{"token: sign-in to p failed (expired): run it again\n"},
			req: wire.LoginRequest{Profile: "p", Flow: "device-code"},
		},
		{
			name: "refresh token from stdin", args: []string{"--refresh-token-stdin"}, stdin: "1.ARsecret\n",
			answer: func(w http.ResponseWriter) {
				io.WriteString(w, `{"profile":"p","account":"alice@tokend.test","expires_on":1}`)
			},
			stderr: []string{"signed in to p as alice@tokend.test"},
			req:    wire.LoginRequest{Profile: "p", Flow: "refresh-token", RefreshToken: "1.ARsecret"},
		},
		{
			name: "password from stdin", args: []string{"--username", "alice", "--password-stdin"}, stdin: "pw\n",
			answer: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusConflict)
				io.WriteString(w, `{"error":"login_required","error_description":"wrong password"}`)
			},
			code: exitLogin, stderr: []string{"token: wrong password\n"},
			req: wire.LoginRequest{Profile: "p", Flow: "password", Username: "alice", Password: "pw"},
		},
		{
			name: "daemon stops mid-way", args: []string{"--browser"},
			answer: events(`{"event":"open_url","url":"u"}`),
			code:   exitError, stderr: []string{"stopped answering before the sign-in ended"},
			req: wire.LoginRequest{Profile: "p", Flow: "browser"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock, got := fakeDaemon(t, tc.answer)
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append([]string{"login", "p", "--socket", sock}, tc.args...), strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q lacks %q", stderr.String(), want)
				}
			}
			if *got != tc.req {
				t.Errorf("request %+v, want %+v", *got, tc.req)
			}
			if stdout.Len() != 0 || strings.Contains(stderr.String(), "1.ARsecret") {
				t.Errorf("a secret or stray output: stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

func TestLoginUsage(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	gone := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--browser", "--device-code"}, "choose one way to sign in"},
		{[]string{"--no-browser", "--refresh-token-stdin"}, "choose one way to sign in"},
		{[]string{"--username", "u", "--device-code"}, "--username goes with --password-stdin"},
		{[]string{"--browser", "--timeout", "-1s"}, "--timeout must not be negative"},
		{[]string{"--browser", "--timeout", "soon"}, `invalid argument "soon" for "--timeout" flag`},
		{[]string{"--certificate", "x.pem", "--device-code"}, "choose one way to sign in"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append([]string{"login", "p", "--socket", gone}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d %q, want usage and %q", code, stderr.String(), tc.stderr)
			}
		})
	}
}
