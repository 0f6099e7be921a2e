package tokencli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tokend/tokend/internal/cli"
)

func newReloadCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Have tokend read its config file again",
		Long: `Have tokend read its config file again and apply its profiles, as SIGHUP
does (and on Windows, which has no SIGHUP): unchanged profiles keep their
sign-ins and tokens, changed ones start over from their stored sign-in,
removed ones stop being served, new ones are fetched at once. A config that
does not load changes nothing, and the error names the file and line.
Daemon settings (socket, http, store) need a restart.`,
		GroupID: groupSignIn,
		Args:    cli.NoArgs,
	}
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		r, err := a.client().Reload(ctx)
		if err != nil {
			return err
		}
		if out.JSON() {
			return cli.WriteJSON(a.stdout, r)
		}
		fmt.Fprintf(a.stderr, "reloaded %s", r.Config)
		for _, part := range []struct {
			what  string
			names []string
		}{{"added", r.Added}, {"changed", r.Changed}, {"removed", r.Removed}} {
			if len(part.names) > 0 {
				fmt.Fprintf(a.stderr, "; %s %s", part.what, strings.Join(part.names, ", "))
			}
		}
		fmt.Fprintln(a.stderr)
		return nil
	})
	return cmd
}
