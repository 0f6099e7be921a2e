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
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/cli"
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
	if !cli.IsUsage(err) && !a.ran {
		err = cli.Usage(err)
	}
	fmt.Fprintf(stderr, "tokend: %s\n", quote.Line(err.Error()))
	if cli.IsUsage(err) {
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
		Args:          cli.RootArgs,
		RunE:          cli.NameACommand,
	}
	root.SetVersionTemplate("tokend {{.Version}}\n")
	root.SuggestionsMinimumDistance = 2
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usage(err) })
	root.PersistentPreRun = func(*cobra.Command, []string) { a.ran = true }
	for _, c := range commands(a) {
		root.AddCommand(c)
	}
	return root
}

func newVersionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print tokend's version (the same as token's of the same build)",
		Args:  cli.NoArgs,
	}
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		return cli.PrintVersion(a.stdout, "tokend", out.JSON())
	}
	return cmd
}
