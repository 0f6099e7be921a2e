//go:build unix

package tokencli

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenBrowser: $BROWSER is run with the URL, in place of %s or last.
func TestOpenBrowser(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "browser")
	os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s|' \"$@\" > \"$0.out\"\n"), 0o755)
	for _, tc := range []struct{ browser, want string }{
		{script, "https://idp/a?b=c&d|"},
		{script + " --new-window %s --x", "--new-window|https://idp/a?b=c&d|--x|"},
	} {
		t.Setenv("BROWSER", tc.browser)
		os.Remove(script + ".out")
		if err := openBrowser("https://idp/a?b=c&d"); err != nil {
			t.Fatal(err)
		}
		var got []byte
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got, _ = os.ReadFile(script + ".out"); len(got) > 0 {
				break
			}
		}
		if string(got) != tc.want {
			t.Errorf("BROWSER=%q ran with %q, want %q", tc.browser, got, tc.want)
		}
	}
	t.Setenv("BROWSER", filepath.Join(dir, "no-such-browser"))
	if openBrowser("https://x") == nil {
		t.Error("a missing browser did not fail")
	}
}
