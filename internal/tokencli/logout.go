package tokencli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newLogoutCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout PROFILE",
		Short: "Sign a profile out: forget its tokens and delete its stored secrets",
		Long: `Sign PROFILE out: tokend forgets its tokens, deletes what its sign-in
stored (refresh token, secret, certificate) and revokes its capabilities.
The profile stays in the config; ` + "`token login PROFILE`" + ` signs it in again.`,
		GroupID:           groupSignIn,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		profile, err := a.profileArg(args, true)
		if err != nil {
			return err
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		if err := a.client().Logout(ctx, profile); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "signed out of %s\n", profile)
		return nil
	})
	return cmd
}
