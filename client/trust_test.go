package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
)

// TestUntrustedSocket: a socket in a directory that others can write to is
// refused before anything is sent, in every kind of request, with a
// message that names the path and its owner.
func TestUntrustedSocket(t *testing.T) {
	var requests atomic.Int64
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) { requests.Add(1) })
	if err := os.Chmod(filepath.Dir(c.Socket()), 0o777); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"token":  func() error { _, err := c.Token(ctx, TokenRequest{Profile: "p"}); return err },
		"status": func() error { _, err := c.Status(ctx); return err },
		"sign-in": func() error {
			_, err := c.SignIn(ctx, wire.LoginRequest{Profile: "p", Password: "pw"}, nil)
			return err
		},
		"watch": func() error { return c.Watch(ctx, WatchRequest{}, func(wire.Event) error { return nil }) },
		"capability": func() error {
			_, err := c.CreateCapability(ctx, wire.CapabilityRequest{Profile: "p"})
			return err
		},
	} {
		err := call()
		if !errors.Is(err, ErrUntrusted) || errors.Is(err, ErrUnreachable) {
			t.Errorf("%s: %v, want ErrUntrusted", name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.Socket()) || !strings.Contains(msg, "uid") || strings.Contains(msg, "\n") {
			t.Errorf("%s: the message does not name the path and owner on one line: %q", name, msg)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the untrusted daemon got %d requests", n)
	}
}

// stoppedDaemon accepts connections (the kernel does, for a stopped
// process) and never answers; it counts the bytes it receives.
func stoppedDaemon(t *testing.T) (*Client, *atomic.Int64) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tkc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var got atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				n, _ := io.Copy(io.Discard, c)
				got.Add(n)
			}()
		}
	}()
	return New(filepath.Join(dir, "s.sock")), &got
}

// TestNotAnswering: a request to a daemon that does not answer ends at the
// caller's deadline with the daemon's pid; Ctrl-C stays a cancellation.
func TestNotAnswering(t *testing.T) {
	c, _ := stoppedDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Token(ctx, TokenRequest{Profile: "p"})
	var na *NotAnsweringError
	if !errors.As(err, &na) || na.PID != os.Getpid() || !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Token = %v, want a NotAnsweringError naming pid %d", err, os.Getpid())
	}
	if want := "tokend (pid " + strconv.Itoa(os.Getpid()) + ") is not answering"; !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := c.Status(ctx); !errors.Is(err, context.Canceled) || errors.As(err, &na) {
		t.Fatalf("cancelled Status = %v, want context.Canceled", err)
	}
}

// TestWatchdog: an interactive sign-in and a watch wait as long as the
// daemon answers its pings, and end with a NotAnsweringError once it
// stops answering them.
func TestWatchdog(t *testing.T) {
	var stopped atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			if stopped.Load() {
				<-release
			}
			io.WriteString(w, `{"status":"ok"}`)
		case "/v1/login":
			ndjson(`{"event":"open_url","url":"u"}`)(w, r)
			select { // the person takes their time
			case <-time.After(300 * time.Millisecond):
			case <-release:
			}
			if !stopped.Load() {
				ndjson(`{"event":"signed_in","result":{"profile":"p","account":"alice"}}`)(w, r)
				return
			}
			<-release
		case "/v1/watch":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, ": watching\n\n")
			w.(http.Flusher).Flush()
			<-release
		}
	})
	// Pinged often while the person takes their time, each ping with room
	// to answer (a 50 ms bound failed 1.5% of runs under -race and load).
	c.pingEvery, c.pingTimeout = 30*time.Millisecond, 5*time.Second
	ctx := context.Background()

	r, err := c.SignIn(ctx, wire.LoginRequest{Profile: "p"}, func(wire.LoginEvent) {})
	if err != nil || r.Account != "alice" {
		t.Fatalf("a slow person with a live daemon: %+v, %v", r, err)
	}

	// A daemon that stops answering pings: a client of its own with a
	// short bound (c's watchdog may still be reading its fields).
	stopped.Store(true)
	c = New(c.Socket())
	c.pingEvery, c.pingTimeout = 30*time.Millisecond, 50*time.Millisecond
	var na *NotAnsweringError
	if _, err := c.SignIn(ctx, wire.LoginRequest{Profile: "p"}, func(wire.LoginEvent) {}); !errors.As(err, &na) || na.PID != os.Getpid() {
		t.Fatalf("sign-in with a stopped daemon: %v, want a NotAnsweringError", err)
	}
	if err := c.Watch(ctx, WatchRequest{}, func(wire.Event) error { return nil }); !errors.As(err, &na) {
		t.Fatalf("watch with a stopped daemon: %v, want a NotAnsweringError", err)
	}
}
