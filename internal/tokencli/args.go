package tokencli

import (
	"github.com/spf13/cobra"
	"github.com/tokend/tokend/internal/cli"
)

// Argument validators: what does not fit is a usage error.

// profileArgs takes at most one positional argument, a profile.
func profileArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return cli.Usagef("unexpected argument %q", args[1])
	}
	return nil
}
