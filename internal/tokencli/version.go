package tokencli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/version"
)

func newVersionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print token's version (the same as tokend's of the same build)",
		Args:  noArgs,
	}
	out := addOutput(cmd, "text", "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.check(); err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.stdout, struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			}{"token", version.String()})
		}
		_, err := fmt.Fprintln(a.stdout, "token", version.String())
		return err
	})
	return cmd
}
