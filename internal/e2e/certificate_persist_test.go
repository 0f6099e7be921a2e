package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/entraemu"
)

// TestCertificatePersists: a certificate signed in from a PFX survives a
// daemon restart in the store, and neither its private key nor the PFX
// password is readable in the state directory, the logs or the keychain.
func TestCertificatePersists(t *testing.T) {
	testdata := filepath.Join("..", "pkcs12", "testdata")
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, backend := range stores(t) {
		t.Run(backend, func(t *testing.T) {
			m := newMachine(t, backend)
			if err := m.em.RegisterClientCertificate(entraemu.ConfidentialClientID, read("cert.pem")); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			ca := filepath.Join(dir, "ca.pem")
			os.WriteFile(ca, m.em.CAPEM(), 0o600)
			cfg := filepath.Join(dir, "config.toml")
			os.WriteFile(cfg, fmt.Appendf(nil, "[daemon]\nstore = %q\nhttp = \"\"\n\n[profiles.sp]\nflow = \"client-certificate\"\nclient_id = %q\nauthority = %q\nca_file = %q\n",
				backend, entraemu.ConfidentialClientID, m.em.Authority(), ca), 0o600)
			m.env = append(m.env, "TOKEND_CONFIG="+cfg)
			pfx := filepath.Join(dir, "sp.pfx")
			os.WriteFile(pfx, read("modern.pfx"), 0o600)

			m.start()
			m.mustToken("pfx-password\n", "login", "sp", "--certificate", pfx)
			m.mustToken("", "get", "sp")
			m.stop()

			m.em.ResetCounts()
			m.start()
			m.mustToken("", "get", "sp")
			if n := m.em.Counts()["client_credentials"]; n != 1 {
				t.Errorf("after restart: %d client_credentials grants, want 1", n)
			}
			m.stop()

			// A line from the middle of the private key, and the password.
			keyLines := strings.Split(string(read("key.pem")), "\n")
			secrets := []string{keyLines[len(keyLines)/2], "pfx-password"}
			if hit := grepDir(t, m.state, secrets); hit != "" {
				t.Errorf("state dir holds the private key or the PFX password in plaintext: %s", hit)
			}
			for _, s := range secrets {
				if strings.Contains(m.logs.String(), s) {
					t.Errorf("daemon log holds %q", s[:8])
				}
			}
		})
	}
}
