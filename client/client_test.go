package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
)

func TestDo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, tok *wire.Token, err error)
	}{
		{
			name: "token",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/token" || r.URL.Query().Get("profile") != "dbx" || r.URL.Query()["scope"][1] != "b" {
					http.Error(w, "bad request "+r.URL.String(), 400)
					return
				}
				io.WriteString(w, `{"access_token":"x.y.z","token_type":"Bearer","expires_on":7,"profile":"dbx","scopes":["a","b"]}`)
			},
			check: func(t *testing.T, tok *wire.Token, err error) {
				if err != nil || tok.AccessToken != "x.y.z" || tok.ExpiresOn != 7 || len(tok.Scopes) != 2 {
					t.Fatalf("%+v, %v", tok, err)
				}
			},
		},
		{
			name: "error answer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(503)
				io.WriteString(w, `{"error":"upstream_unavailable","error_description":"try later"}`)
			},
			check: func(t *testing.T, _ *wire.Token, err error) {
				var e *Error
				if !errors.As(err, &e) || e.Status != 503 || e.Code != wire.CodeUpstreamUnavailable || e.Description != "try later" || e.RetryAfter != 30*time.Second {
					t.Fatalf("%#v", err)
				}
			},
		},
		{
			name:    "not our error shape",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "teapot", http.StatusTeapot) },
			check: func(t *testing.T, _ *wire.Token, err error) {
				var e *Error
				if !errors.As(err, &e) || e.Code != wire.CodeInternal || !strings.Contains(e.Description, "418") {
					t.Fatalf("%#v", err)
				}
			},
		},
		{
			name: "chunked answer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 10000))
				w.(http.Flusher).Flush()
				io.WriteString(w, `"}`)
			},
			check: func(t *testing.T, tok *wire.Token, err error) {
				if err != nil || len(tok.AccessToken) != 10000 {
					t.Fatalf("%d bytes, %v", len(tok.AccessToken), err)
				}
			},
		},
		{
			name: "daemon hangs up",
			handler: func(w http.ResponseWriter, r *http.Request) {
				c, _, _ := w.(http.Hijacker).Hijack()
				c.Close()
			},
			check: func(t *testing.T, _ *wire.Token, err error) {
				if !errors.Is(err, ErrUnreachable) {
					t.Fatalf("%v", err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeDaemon(t, tc.handler)
			tok, err := c.Token(context.Background(), TokenRequest{Profile: "dbx", Scopes: []string{"a", "b"}})
			tc.check(t, tok, err)
		})
	}
}

func TestDoPostsJSON(t *testing.T) {
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || string(b) != `{"profile":"dbx"}` {
			http.Error(w, "bad request", 400)
			return
		}
		w.WriteHeader(204)
	})
	if err := c.Logout(context.Background(), "dbx"); err != nil {
		t.Fatal(err)
	}
}

func TestDoUnreachable(t *testing.T) {
	c := New(t.TempDir() + "/nothing.sock")
	_, err := c.Token(context.Background(), TokenRequest{})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "nothing.sock") {
		t.Fatalf("%v", err)
	}
}

// TestDoCancel: a caller that gives up while the daemon waits on the
// identity provider gets its context's error at once.
func TestDoCancel(t *testing.T) {
	release := make(chan struct{})
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Token(ctx, TokenRequest{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
}
