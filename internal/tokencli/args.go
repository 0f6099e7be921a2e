package tokencli

import (
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Argument validators: what does not fit is a usage error.

// noArgs takes no positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// profileArgs takes at most one positional argument, a profile.
func profileArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usagef("unexpected argument %q", args[1])
	}
	return nil
}

// output is an -o/--output flag and the formats it allows.
type output struct {
	value   string
	allowed []string
}

// addOutput gives cmd -o/--output with the formats allowed, the first
// the default.
func addOutput(cmd *cobra.Command, allowed ...string) *output {
	o := &output{allowed: allowed}
	cmd.Flags().StringVarP(&o.value, "output", "o", allowed[0], "output format: "+strings.Join(allowed, ", "))
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// check refuses a format the command does not have.
func (o *output) check() error {
	if !slices.Contains(o.allowed, o.value) {
		return usagef("unknown output %q (want %s)", o.value, strings.Join(o.allowed, ", "))
	}
	return nil
}

func (o *output) json() bool { return o.value == "json" }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
