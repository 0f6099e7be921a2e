// Command tokend is the tokend daemon: it owns Entra ID refresh tokens, keeps
// access tokens fresh and serves them to `token` and to SDKs. This file is
// wiring only; the work is in package daemon.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokend/tokend/internal/quote"
	"github.com/tokend/tokend/internal/version"
)

const usage = `tokend — keeps Microsoft Entra ID tokens fresh and hands them out locally.

Usage:
  tokend serve [--config FILE] [--store keyring|file|memory] [--emulator]
               [--log-format text|json] [--log-level debug|info|warn|error]
               [--log-file FILE]   run the daemon in the foreground
  tokend emulator [--addr 127.0.0.1:8443] [--dir DIR]
                                   run the offline Entra ID emulator alone
  tokend install [--config FILE] [--print] [--no-start]
                                   run tokend as a user service (systemd user
                                   unit on Linux, launchd agent on macOS, a
                                   logon task of Task Scheduler on Windows)
  tokend uninstall                 stop and remove the user service
  tokend config check [FILE]       validate a config file
  tokend doctor [--config FILE] PROFILE
                                   check a profile end to end: config, daemon and
                                   store, identity provider, a token's claims (never
                                   the token), and each Databricks host (workspaces,
                                   the account console) through the metadata service
  tokend version                   print the version

serve --emulator starts the built-in Entra ID emulator in-process and adds the
ready profiles "demo" (client secret; its databricks_host is the fake Azure
Databricks workspace the emulator serves at its own address) and "demo-user"
(username/password, already signed in): then run ` + "`token get demo`" + ` or
` + "`token exec demo -- env`" + `. The emulator (alone: tokend emulator) shows a
sign-in page at its authorize endpoint; its test controls are under
/_emulator/ (see the entraemu package documentation).

Stores: keyring (default; the OS keychain holds the key that seals the
secrets in the state directory), file (headless machines: the key is a file
next to them, or derived from $TOKEND_STORE_PASSPHRASE), memory (nothing kept).

Listeners: the socket, and loopback TCP at 127.0.0.1:18653 (daemon.http), a
fixed port so that the URLs handed to programs (token env, token databricks
configure) outlive restarts; a taken port stops serve with the fix.
Capabilities are kept in the store and survive restarts (not with memory).

Environment: TOKEND_CONFIG (config file), TOKEND_SOCKET (socket path; on
Windows a named pipe, \\.\pipe\NAME), TOKEND_HTTP (TCP address, over
daemon.http), TOKEND_STATE_DIR (state directory), TOKEND_STORE_PASSPHRASE
(file store).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "tokend: %s\n\n%s", quote.Line(err.Error()), usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "tokend: %s\n", quote.Line(err.Error()))
		os.Exit(1)
	}
}

type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("no command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args, stderr)
	case "emulator":
		return runEmulator(ctx, args, stdout, stderr)
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return usagef("want `tokend config check [FILE]`")
		}
		return configCheck(args[1:], stdout)
	case "doctor":
		return doctor(ctx, args, stdout)
	case "version", "--version":
		fmt.Fprintln(stdout, "tokend", version.String())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "install":
		return install(args, stdout, stderr)
	case "uninstall":
		return uninstall(args, stderr)
	}
	return usagef("unknown command %q", cmd)
}

// newFlags returns a flag set whose errors are usage errors.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
