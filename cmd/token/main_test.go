package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestThinClientDeps keeps the client thin: no MSAL, keychain or router,
// here and in the Windows build (whose pipe code is its own).
func TestThinClientDeps(t *testing.T) {
	for _, goos := range []string{"", "windows"} {
		cmd := exec.Command("go", "list", "-deps", ".")
		if goos != "" {
			cmd.Env = append(os.Environ(), "GOOS="+goos)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, banned := range []string{
			"github.com/AzureAD/microsoft-authentication-library-for-go",
			"github.com/zalando/go-keyring",
			"github.com/go-chi/chi",
			"github.com/tokend/tokend/daemon",
		} {
			for _, dep := range strings.Fields(string(out)) {
				if strings.HasPrefix(dep, banned) {
					t.Errorf("cmd/token (GOOS=%s) links %s", goos, dep)
				}
			}
		}
	}
}
