package tokencli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
)

func newStatusCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [PROFILE]",
		Short: "Show the daemon and its profiles",
		Long: `Show the daemon (version, pid, socket, TCP port, store) and each profile:
its flow, state, account, when its token expires and is refreshed next,
and its last error with the fix.

With PROFILE, only that profile, and the exit code says whether it is
usable: 4 when it needs a sign-in (the message says how), 0 otherwise.`,
		Example: `  token status
  token status dbx || token login dbx
  token status -o json | jq -r .listeners.socket`,
		GroupID:           groupTokens,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	out := cli.AddOutput(cmd, "table", "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		st, err := a.client().Status(ctx)
		if err != nil {
			return err
		}
		var one *wire.ProfileStatus
		if len(args) == 1 {
			i := slices.IndexFunc(st.Profiles, func(p wire.ProfileStatus) bool { return p.Name == args[0] })
			if i < 0 {
				return noProfile(st, args[0])
			}
			one = &st.Profiles[i]
			st.Profiles = st.Profiles[i : i+1]
		}
		if out.JSON() {
			err = cli.WriteJSON(a.stdout, st)
		} else {
			err = writeStatusTable(a.stdout, st, time.Now())
		}
		if err == nil && one != nil && one.State == wire.StateLoginRequired {
			return &client.Error{Code: wire.CodeLoginRequired, Description: fmt.Sprintf("%s needs a sign-in: run `%s`", one.Name, cmp.Or(one.Fix, "token login "+one.Name))}
		}
		return err
	})
	return cmd
}

func writeStatusTable(w io.Writer, st *wire.Status, now time.Time) error {
	fmt.Fprintf(w, "tokend %s (pid %d), socket %s", st.Version, st.PID, st.Listeners.Socket)
	if st.Listeners.TCP != "" {
		fmt.Fprintf(w, ", http %s", st.Listeners.TCP)
	}
	fmt.Fprintf(w, ", store %s\n", st.Store.Backend)
	if st.Store.Warning != "" {
		fmt.Fprintf(w, "warning: %s\n", st.Store.Warning)
	}
	if !st.Store.Healthy {
		fmt.Fprintf(w, "store unavailable: %s\n", st.Store.Error)
	}
	if len(st.Profiles) == 0 {
		cfg := "its config file"
		if st.Config != "" {
			cfg = st.Config
		}
		fmt.Fprintf(w, "no profiles in %s: add one with `token setup NAME --databricks-host URL` (or write it, see `tokend config check`)\n", cfg)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPROFILE\tFLOW\tSTATE\tACCOUNT\tEXPIRES IN\tNEXT REFRESH\tLAST ERROR")
	for _, p := range st.Profiles {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Flow, p.State, dash(p.Account),
			until(p.ExpiresOn, now), until(p.NextRefresh, now), dash(p.LastError))
		// Other scope sets than the profile's own, one line each.
		for _, ts := range p.Tokens {
			if slices.Equal(slices.Sorted(slices.Values(ts.Scopes)), slices.Sorted(slices.Values(p.Scopes))) {
				continue
			}
			fmt.Fprintf(tw, "  %s\t\t%s\t\t%s\t%s\t%s\n", strings.Join(ts.Scopes, " "), ts.State,
				until(ts.ExpiresOn, now), until(ts.NextRefresh, now), dash(ts.LastError))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range st.Profiles {
		switch {
		case p.Fix == "":
		case p.State == wire.StateLoginRequired: // the fix is a command
			fmt.Fprintf(w, "%s: run `%s`\n", p.Name, p.Fix)
		default:
			fmt.Fprintf(w, "%s: %s\n", p.Name, p.Fix)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func until(unix int64, now time.Time) string {
	if unix == 0 {
		return "-"
	}
	d := time.Unix(unix, 0).Sub(now).Round(time.Second)
	if d < 0 {
		return "expired"
	}
	return d.String()
}
