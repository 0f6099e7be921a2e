//go:build unix

package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestNewSearching: where no daemon listens at the first place (no socket,
// or a stale one nobody accepts on), the client looks at the others in
// turn, settles on the first daemon of the user's it finds and says which;
// a place that is not the user's alone is passed over (and is the error
// when nothing else answers); with nothing anywhere, the error names every
// place it looked.
func TestNewSearching(t *testing.T) {
	ctx := context.Background()
	var asked atomic.Int64
	good := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write([]byte(`{"version":"v","pid":1}`))
	}).Socket()
	bad := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) { t.Error("the untrusted daemon got a request") }).Socket()
	if err := os.Chmod(filepath.Dir(bad), 0o777); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "none.sock")
	stale := filepath.Join(t.TempDir(), "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil { // not a socket: refused as unsafe
		t.Fatal(err)
	}
	places := func(p ...string) func() []string { return func() []string { return p } }
	// A socket nobody accepts on: a daemon killed without clean-up.
	dead := filepath.Join(t.TempDir(), "dead.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()

	t.Run("found elsewhere", func(t *testing.T) {
		var found []string
		c := NewSearching(missing, places(filepath.Join(t.TempDir(), "x.sock"), bad, good), func(p string) { found = append(found, p) })
		for range 2 {
			if _, err := c.Status(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if c.Socket() != good || len(found) != 1 || found[0] != good {
			t.Fatalf("settled on %s, found %q; want %s once", c.Socket(), found, good)
		}
	})
	t.Run("a dead daemon's socket", func(t *testing.T) {
		var found string
		c := NewSearching(dead, places(good), func(p string) { found = p })
		if _, err := c.Status(ctx); err != nil || found != good {
			t.Fatalf("%v, found %q", err, found)
		}
	})
	t.Run("first place answers", func(t *testing.T) {
		c := NewSearching(good, func() []string { t.Error("looked elsewhere"); return nil }, func(string) { t.Error("found elsewhere") })
		if _, err := c.Status(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("only someone else's", func(t *testing.T) {
		c := NewSearching(missing, places(bad), nil)
		if _, err := c.Status(ctx); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("%v, want the refusal of %s", err, bad)
		}
	})
	t.Run("nothing anywhere", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "y.sock")
		c := NewSearching(missing, places(other), nil)
		_, err := c.Status(ctx)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "also looked at "+other) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("the first place is not the user's", func(t *testing.T) {
		// An unsafe first place is refused, not searched past.
		c := NewSearching(stale, places(good), func(string) { t.Error("searched past an unsafe socket") })
		if _, err := c.Status(ctx); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("%v, want ErrUntrusted", err)
		}
	})
	if asked.Load() == 0 {
		t.Fatal("the daemon found was never asked")
	}
}
