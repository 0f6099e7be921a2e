package tokencli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/captable"
	"github.com/tokend/tokend/internal/cli"
)

func newCapabilitiesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capabilities",
		Short: "List or revoke the capabilities tokend handed out",
		Long: `A capability is the secret with which a program reaches tokend over
loopback TCP: token env, token exec and token databricks configure hand
them out, each for one profile and one user, until it expires. They
survive restarts of tokend (with the keyring and file stores).`,
		GroupID: groupTools,
		Args:    cli.NoArgs,
		RunE:    cli.NameACommand,
	}
	cmd.AddCommand(newCapabilitiesListCmd(a), newCapabilitiesRevokeCmd(a))
	return cmd
}

func newCapabilitiesListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the capabilities: id, profile, kind, owner, expiry, last use, label",
		Example: `  token capabilities list
  token capabilities list -o json`,
		Args: cli.NoArgs,
	}
	out := cli.AddOutput(cmd, "table", "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		l, err := a.client().Capabilities(ctx)
		if err != nil {
			return err
		}
		if out.JSON() {
			return cli.WriteJSON(a.stdout, l)
		}
		return captable.Write(a.stdout, l, time.Now())
	})
	return cmd
}

func newCapabilitiesRevokeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "revoke ID...",
		Short:   "Revoke capabilities by id (from token capabilities list)",
		Example: `  token capabilities revoke 3f2a9c1e`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("name the capabilities (ids from `token capabilities list`)")
			}
			return nil
		},
	}
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		cl := a.client()
		var errs []error
		for _, id := range args {
			if err := cl.RevokeCapability(ctx, id); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(a.stdout, "revoked %s\n", id)
		}
		return errors.Join(errs...)
	})
	return cmd
}
