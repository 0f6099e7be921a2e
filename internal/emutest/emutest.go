// Package emutest writes tokend configuration for tests that sign in at
// an entraemu emulator: one way to say "a profile of flow F at this
// emulator", instead of a TOML template per test harness.
package emutest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/flow"
)

// TB is the part of testing.TB that CAFile uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
}

// CAFile writes the emulator's CA certificate into a temporary directory
// of t and returns its path, for a profile's ca_file.
func CAFile(t TB, em *entraemu.Emulator) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, em.CAPEM(), 0o600); err != nil {
		t.Fatalf("emutest: %v", err)
	}
	return p
}

// Profile is the TOML of profile name signing in with flow f at authority
// (the emulator's, Emulator.Authority) trusting caFile ("" for none), as
// the fixture's client of that flow: the confidential client for the app
// flows with a credential, the public client for the user flows. extra
// lines (`databricks_host = "…"`, `scopes = […]`) are added as they are.
func Profile(name string, f flow.Name, authority, caFile string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[profiles.%s]\nflow = %q\nclient_id = %q\nauthority = %q\n", name, f, ClientID(f), authority)
	if caFile != "" {
		fmt.Fprintf(&b, "ca_file = %q\n", caFile)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String() + "\n"
}

// ClientID is the fixture's client for flow f.
func ClientID(f flow.Name) string {
	switch f {
	case flow.ClientSecret, flow.ClientCertificate:
		return entraemu.ConfidentialClientID
	case flow.WorkloadIdentity:
		return entraemu.WorkloadClientID
	}
	return entraemu.PublicClientID
}

// UserDatabricksCfg is a ~/.databrickscfg as its user keeps it, which
// go-ini, Python's configparser and tokend's reader all read: comments,
// DEFAULT, profiles of other tools, a '#' inside a value, an inline
// comment, a continued value, the CLI's own settings. Tests check that
// tokend's writes leave all of it as it was.
const UserDatabricksCfg = `; profiles of the Databricks CLI
[DEFAULT]
host = https://adb-0.0.azuredatabricks.net

# prod, through the CLI's OAuth
[prod]
host      = https://adb-2.2.azuredatabricks.net
auth_type = databricks-cli
cluster_id = 0123-\
  456789-abc

[pat]
host = https://adb-3.3.azuredatabricks.net
token = dapi0123#456 ; a personal access token

[__settings__]
default_profile = prod
`
