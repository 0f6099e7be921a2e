// Package tokendcli is the `tokend` command: the daemon (serve), the Entra
// ID emulator alone, the user service, and the checks (config check,
// doctor). cmd/tokend is its wiring (Main); tests run it in-process (Run),
// and internal/e2e runs the binary's commands through testscript.Main. The
// daemon itself is package daemon.
//
// The command line is spf13/cobra's, as in internal/tokencli: -h/--help on
// every command prints its help on stdout; a usage error is one line and
// "see `tokend CMD --help`", exit 2; other errors exit 1; reporting commands
// take -o/--output; `tokend completion bash|zsh|fish|powershell` prints a
// completion script.
//
// Adding a command: write newXCmd(a *app) *cobra.Command in a file of its
// own (version.go is the smallest), add it to commands below, and test it.
package tokendcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/quote"
	"github.com/tokend/tokend/internal/version"
)

// commands are tokend's commands, in the order help lists them.
func commands(a *app) []*cobra.Command {
	return []*cobra.Command{
		newServeCmd(a),
		newEmulatorCmd(a),
		newInstallCmd(a),
		newUninstallCmd(a),
		newConfigCmd(a),
		newDoctorCmd(a),
		newVersionCmd(a),
	}
}

// Main runs tokend with the process's arguments and standard streams, and
// returns its exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// app is what every command shares.
type app struct {
	stdout, stderr io.Writer
	ran            bool // a command's RunE started: its errors are not usage errors
}

// Run runs tokend with args (the arguments after the program name) and
// returns its exit code: 0, 1 for an error, 2 for a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := newRoot(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var ue usageError
	if !errors.As(err, &ue) && !a.ran {
		ue, err = usageError{err}, usageError{err}
	}
	fmt.Fprintf(stderr, "tokend: %s\n", quote.Line(err.Error()))
	if errors.As(err, &ue) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "see `%s --help`\n", cmd.CommandPath())
		return 2
	}
	return 1
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "tokend",
		Short: "Keep Microsoft Entra ID tokens fresh and hand them out locally",
		Long: `tokend keeps your Microsoft Entra ID sign-ins (refresh tokens, in the OS
keychain), refreshes access tokens in the background long before they
expire, and hands them out to ` + "`token`" + ` and to SDKs over a unix socket (a
named pipe on Windows) and a guarded loopback port.

Start here: ` + "`token setup NAME --databricks-host URL`" + ` writes a profile and
starts tokend; ` + "`tokend install`" + ` runs it at logon; ` + "`tokend serve --emulator`" + `
tries it offline, with the built-in Entra ID emulator.

Listeners: the socket, and loopback TCP at 127.0.0.1:18653 (daemon.http), a
fixed port so that the URLs handed to programs (token env, token databricks
configure) outlive restarts; a taken port stops serve with the fix.
Capabilities are kept in the store and survive restarts (not with memory).

Environment: TOKEND_CONFIG (config file), TOKEND_SOCKET (socket path; on
Windows a named pipe, \\.\pipe\NAME), TOKEND_HTTP (TCP address, over
daemon.http), TOKEND_STATE_DIR (state directory), TOKEND_STORE_PASSPHRASE
(file store).`,
		Version:       version.String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
			}
			return usagef("unknown command %q%s", args[0], hint)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("name a command: %s", strings.Join(available(cmd), ", "))
		},
	}
	root.SetVersionTemplate("tokend {{.Version}}\n")
	root.SuggestionsMinimumDistance = 2
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRun = func(*cobra.Command, []string) { a.ran = true }
	for _, c := range commands(a) {
		root.AddCommand(c)
	}
	return root
}

func joinNames(names []string) string { return strings.Join(names, ", ") }

func sortStrings(s []string) { slices.Sort(s) }

func available(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return names
}

// usageError is a command line that does not fit: exit 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// noArgs takes no positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// maxArgs takes at most n positional arguments.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("unexpected argument %q", args[n])
		}
		return nil
	}
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

func newVersionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print tokend's version (the same as token's of the same build)",
		Args:  noArgs,
	}
	out := addOutput(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.check(); err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.stdout, struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			}{"tokend", version.String()})
		}
		_, err := fmt.Fprintln(a.stdout, "tokend", version.String())
		return err
	}
	return cmd
}
