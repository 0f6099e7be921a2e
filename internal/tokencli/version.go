package tokencli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/cli"
)

func newVersionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print token's version (the same as tokend's of the same build)",
		Args:  cli.NoArgs,
	}
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		return cli.PrintVersion(a.stdout, "token", out.JSON())
	})
	return cmd
}
