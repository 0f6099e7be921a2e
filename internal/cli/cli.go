// Package cli is what token and tokend share on top of cobra: usage errors
// (exit 2), argument validators, the -o/--output flag and JSON output, the
// version command's output, the root command's handling of an unknown or
// missing command, and CheckHelp, the test both binaries run on their
// command trees.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/version"
)

// UsageError is a command line that does not fit: exit code 2, one line
// and a pointer to the command's --help.
type UsageError struct{ error }

// Unwrap returns what did not fit.
func (e UsageError) Unwrap() error { return e.error }

// Usage marks err as a usage error.
func Usage(err error) error { return UsageError{err} }

// Usagef is a usage error with a formatted message.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// IsUsage reports whether err is a usage error.
func IsUsage(err error) bool {
	var ue UsageError
	return errors.As(err, &ue)
}

// NoArgs takes no positional arguments.
func NoArgs(cmd *cobra.Command, args []string) error { return MaxArgs(0)(cmd, args) }

// MaxArgs takes at most n positional arguments.
func MaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return Usagef("unexpected argument %q", args[n])
		}
		return nil
	}
}

// Output is an -o/--output flag and the formats it allows.
type Output struct {
	value   string
	allowed []string
}

// AddOutput gives cmd -o/--output with the formats allowed, the first the
// default.
func AddOutput(cmd *cobra.Command, allowed ...string) *Output {
	o := &Output{allowed: allowed}
	cmd.Flags().StringVarP(&o.value, "output", "o", allowed[0], "output format: "+strings.Join(allowed, ", "))
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// Check refuses a format the command does not have.
func (o *Output) Check() error {
	if !slices.Contains(o.allowed, o.value) {
		return Usagef("unknown output %q (want %s)", o.value, strings.Join(o.allowed, ", "))
	}
	return nil
}

// JSON reports whether the output is JSON.
func (o *Output) JSON() bool { return o.value == "json" }

// Value is the format asked for.
func (o *Output) Value() string { return o.value }

// WriteJSON writes v indented, with a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// PrintVersion prints "NAME VERSION", or {"name","version"} as JSON: both
// binaries of one build say the same (internal/version).
func PrintVersion(w io.Writer, name string, asJSON bool) error {
	if asJSON {
		return WriteJSON(w, struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}{name, version.String()})
	}
	_, err := fmt.Fprintln(w, name, version.String())
	return err
}

// RootArgs is the root command's Args: a word that names no command is a
// usage error, with the commands it may have meant.
func RootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	hint := ""
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
	}
	return Usagef("unknown command %q%s", args[0], hint)
}

// NameACommand is the RunE of a command that only groups others (the
// root, `config`, `databricks`): run alone, it is a usage error naming them.
func NameACommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	what := "command"
	if cmd.HasParent() {
		what = "subcommand"
	}
	return Usagef("name a %s: %s", what, strings.Join(names, ", "))
}
