package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
)

// fakeDaemon serves handler on a unix socket and returns a client for it.
func fakeDaemon(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "tkc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return New(sock)
}

func ndjson(lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", wire.ContentTypeNDJSON)
		for _, l := range lines {
			io.WriteString(w, l+"\n")
			w.(http.Flusher).Flush()
		}
	}
}

func TestSignIn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		shown   []string // events handed to show
		account string
		err     func(error) bool
	}{
		{
			name:    "browser stream",
			handler: ndjson(`{"event":"open_url","url":"https://idp/authorize"}`, ``, `{"event":"signed_in","result":{"profile":"p","account":"alice","expires_on":1}}`),
			shown:   []string{"open_url https://idp/authorize"}, account: "alice",
		},
		{
			name:    "device code refused",
			handler: ndjson(`{"event":"device_code","message":"To sign in, enter ABC","user_code":"ABC"}`, `{"event":"error","error":"login_required","error_description":"run token login p"}`),
			shown:   []string{"device_code To sign in, enter ABC"},
			err: func(err error) bool {
				var e *Error
				return errors.As(err, &e) && e.Code == wire.CodeLoginRequired && e.Status == http.StatusConflict && e.Description == "run token login p"
			},
		},
		{
			name:    "stream cut short",
			handler: ndjson(`{"event":"open_url","url":"u"}`),
			shown:   []string{"open_url u"},
			err:     func(err error) bool { return errors.Is(err, ErrLoginStreamEnded) },
		},
		{
			name:    "garbage line",
			handler: ndjson(`{"event":`),
			err:     func(err error) bool { return err != nil && strings.Contains(err.Error(), "decode sign-in event") },
		},
		{
			name:    "signed_in without result",
			handler: ndjson(`{"event":"signed_in"}`),
			err:     func(err error) bool { return err != nil && strings.Contains(err.Error(), "without a result") },
		},
		{
			name: "plain JSON",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"profile":"app","account":"cid","expires_on":5}`)
			},
			account: "cid",
		},
		{
			name: "error answer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":"upstream_unavailable","error_description":"try again"}`)
			},
			err: func(err error) bool {
				var e *Error
				return errors.As(err, &e) && e.Code == wire.CodeUpstreamUnavailable && e.RetryAfter == 7*time.Second
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req wire.LoginRequest
			var accept string
			c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
				accept = r.Header.Get("Accept")
				if r.Method != http.MethodPost || r.URL.Path != "/v1/login" || json.NewDecoder(r.Body).Decode(&req) != nil {
					http.Error(w, "bad request", 500)
					return
				}
				tc.handler(w, r)
			})
			var shown []string
			r, err := c.SignIn(context.Background(), wire.LoginRequest{Profile: "p", Flow: "browser", TimeoutSeconds: 9}, func(ev wire.LoginEvent) {
				shown = append(shown, strings.TrimSpace(ev.Event+" "+ev.URL+ev.Message))
			})
			if req.Profile != "p" || req.Flow != "browser" || req.TimeoutSeconds != 9 || !strings.Contains(accept, wire.ContentTypeNDJSON) {
				t.Errorf("request %+v, Accept %q", req, accept)
			}
			if strings.Join(shown, "|") != strings.Join(tc.shown, "|") {
				t.Errorf("shown %q, want %q", shown, tc.shown)
			}
			if tc.err != nil {
				if !tc.err(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || r.Account != tc.account {
				t.Fatalf("SignIn = %+v, %v", r, err)
			}
		})
	}
}

// TestSignInCancel: cancelling the context ends the request, which is how
// the daemon learns that the sign-in is off.
func TestSignInCancel(t *testing.T) {
	gone := make(chan struct{})
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		ndjson(`{"event":"open_url","url":"u"}`)(w, r)
		<-r.Context().Done()
		close(gone)
	})
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.SignIn(ctx, wire.LoginRequest{Profile: "p"}, func(wire.LoginEvent) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("SignIn = %v, want context.Canceled", err)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon's request lived on after the client cancelled")
	}
}

func TestSignInUnreachable(t *testing.T) {
	c := New(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.SignIn(context.Background(), wire.LoginRequest{Profile: "p"}, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("SignIn = %v, want ErrUnreachable", err)
	}
}
