package tokencli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
)

// envTTL is how long the capability of `token env` lives: nothing revokes
// it when the shell goes away.
const envTTL = 12 * time.Hour

func newEnvCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env PROFILE",
		Short: "Print the variables that let Azure and Databricks SDKs get tokens from tokend",
		Long: `Print, in your shell's syntax, the variables with which the Azure SDKs,
MSAL and the Databricks SDKs and CLI get PROFILE's tokens from tokend:
IDENTITY_ENDPOINT and IDENTITY_HEADER (the App Service managed-identity
protocol) with a capability scoped to PROFILE, and, for a profile with
databricks_host, DATABRICKS_HOST, DATABRICKS_AUTH_TYPE=metadata-service and
DATABRICKS_METADATA_SERVICE_URL. The capability lives --ttl (12h); nothing
revokes it when the shell goes away (token exec does).`,
		Example: `  eval "$(token env dbx)"
  token env dbx --shell fish | source
  token env dbx --shell powershell | Invoke-Expression`,
		GroupID:           groupTools,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	shell := cmd.Flags().String("shell", defaultShell(), "syntax: sh, fish or powershell")
	cmd.RegisterFlagCompletionFunc("shell", cobra.FixedCompletions([]string{"sh", "fish", "powershell"}, cobra.ShellCompDirectiveNoFileComp))
	ttl := cmd.Flags().Duration("ttl", envTTL, "how long the capability lives (at most 8784h, 366 days)")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		profile, err := a.profileArg(args, true)
		if err != nil {
			return err
		}
		q, ok := quoters[*shell]
		if !ok {
			return cli.Usagef("unknown shell %q (want sh, fish or powershell)", *shell)
		}
		if err := checkTTL(*ttl); err != nil {
			return err
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		label := fmt.Sprintf("token env, parent pid %d", os.Getppid())
		vars, c, err := childEnv(ctx, a.client(), profile, *ttl, wire.CapabilityEnv, label)
		if err != nil {
			return err
		}
		return writeEnv(a.stdout, q, vars, c)
	})
	return cmd
}

// maxTTL is the longest a capability lives: the daemon's bound.
const maxTTL = 366 * 24 * time.Hour

// checkTTL refuses, in the user's words, a --ttl the daemon would refuse.
func checkTTL(ttl time.Duration) error {
	switch {
	case ttl < time.Second:
		return cli.Usagef("--ttl %v: a capability lives at least 1s", ttl)
	case ttl > maxTTL:
		return cli.Usagef("--ttl %v: a capability lives at most 8784h (366 days)", ttl)
	}
	return nil
}

// childEnv mints a capability of kind for profile and returns the child's
// variables with it.
func childEnv(ctx context.Context, cl *client.Client, profile string, ttl time.Duration, kind, label string) ([]client.EnvVar, *wire.Capability, error) {
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ps *wire.ProfileStatus
	for i := range st.Profiles {
		if st.Profiles[i].Name == profile {
			ps = &st.Profiles[i]
		}
	}
	if ps == nil {
		return nil, nil, noProfile(st, profile)
	}
	if _, err := client.ChildEnv(st.Listeners.TCP, "", ""); err != nil {
		return nil, nil, err
	}
	c, err := cl.CreateCapability(ctx, wire.CapabilityRequest{Profile: profile, TTLSeconds: int64(ttl / time.Second), Kind: kind, Label: label})
	if err != nil {
		return nil, nil, err
	}
	vars, err := client.ChildEnv(st.Listeners.TCP, c.Token, ps.DatabricksHost)
	return vars, c, err
}

// writeEnv prints the commands that set vars (and unset the variables that
// would send SDKs elsewhere) in one shell's syntax.
func writeEnv(w io.Writer, q quoter, vars []client.EnvVar, c *wire.Capability) error {
	fmt.Fprintf(w, "# tokend capability %s for profile %s, valid until %s\n", c.ID, c.Profile,
		time.Unix(c.ExpiresOn, 0).UTC().Format(time.RFC3339))
	for _, v := range vars {
		fmt.Fprintln(w, q.set(v.Name, v.Value))
	}
	for _, name := range client.ChildEnvUnset() {
		fmt.Fprintln(w, q.unset(name))
	}
	return nil
}

// quoter writes variable assignments in one shell's syntax.
type quoter struct {
	set   func(name, value string) string
	unset func(name string) string
}

var quoters = map[string]quoter{
	"sh": {
		set:   func(n, v string) string { return "export " + n + "=" + shQuote(v) },
		unset: func(n string) string { return "unset " + n },
	},
	"fish": {
		set:   func(n, v string) string { return "set -gx " + n + " " + fishQuote(v) + ";" },
		unset: func(n string) string { return "set -e " + n + ";" },
	},
	"powershell": {
		set:   func(n, v string) string { return "$env:" + n + " = " + psQuote(v) },
		unset: func(n string) string { return "Remove-Item Env:" + n + " -ErrorAction SilentlyContinue" },
	},
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// defaultShell guesses the syntax the user's shell reads.
func defaultShell() string {
	if runtime.GOOS == "windows" {
		return "powershell"
	}
	if filepath.Base(os.Getenv("SHELL")) == "fish" {
		return "fish"
	}
	return "sh"
}
