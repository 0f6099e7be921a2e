// Package tokencli is the `token` command, tokend's thin client: it asks the
// daemon over its unix socket (a named pipe on Windows) and prints. cmd/token
// is its wiring (Main); tests run it in-process (Run), and internal/e2e runs
// the binary's commands through testscript.Main. It links no MSAL, keychain
// or router code (cmd/token's TestThinClientDeps checks).
//
// The command line is spf13/cobra's, as gh and kubectl have it: -h/--help on
// every command prints its help on stdout; a usage error is one line and
// "see `token CMD --help`", exit 2; reporting commands take -o/--output;
// `token completion bash|zsh|fish|powershell` prints a completion script.
//
// Adding a command: write newXCmd(a *app) *cobra.Command in a file of its
// own (version.go is the smallest; get.go a typical one), add it to
// commands below, and test it in x_test.go. Its RunE goes through a.run, so
// that its errors become the documented exit codes (exitCode); arguments
// are checked with the validators in args.go, which make usage errors; an
// output flag comes from addOutput; the daemon from a.client(). The help
// test walks the tree, so the new command's -h is checked by itself.
package tokencli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/quote"
	"github.com/tokend/tokend/internal/version"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitLogin       = 4
	exitUpstream    = 5
)

// commands are token's commands, in the order help lists them.
func commands(a *app) []*cobra.Command {
	return []*cobra.Command{
		newGetCmd(a),
		newStatusCmd(a),
		newWatchCmd(a),
		newSetupCmd(a),
		newLoginCmd(a),
		newLogoutCmd(a),
		newReloadCmd(a),
		newEnvCmd(a),
		newExecCmd(a),
		newKubeCmd(a),
		newGitCredentialCmd(a),
		newDatabricksCmd(a),
		newCapabilitiesCmd(a),
		newVersionCmd(a),
	}
}

// Groups of commands in help.
const (
	groupTokens = "tokens"
	groupSignIn = "signin"
	groupTools  = "tools"
)

// Main runs token with the process's arguments and standard streams, and
// returns its exit code. Ctrl-C (SIGINT) ends a command that waits with
// 130, SIGTERM with 143, as a shell reports a command a signal killed.
func Main() int {
	args := os.Args[1:]
	ctx := context.Background()
	if !quick(args) {
		var stop func()
		ctx, stop = notifySignals(ctx)
		defer stop()
	}
	if len(args) > 0 && args[0] == "get" {
		if code, ok := fastGet(ctx, args[1:], os.Stdin, os.Stdout, os.Stderr); ok {
			return code
		}
	}
	return Run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// quick says whether a command line answers at once: Ctrl-C may end it
// the default way (which a shell reports as 130 too), and it does not
// start the signal handling the others need to wind down (it costs a
// goroutine, and usually a thread, in a process that lives about a
// millisecond).
func quick(args []string) bool {
	if len(args) == 0 {
		return true
	}
	switch args[0] {
	case "get", "version", "--version", "help", "-h", "--help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return true
	}
	return false
}

// signalError is the cause of a context that a signal cancelled.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// code is the exit code of a command a signal ended: 128 + the signal.
func (e signalError) code() int {
	if s, ok := e.sig.(syscall.Signal); ok && e.sig != os.Interrupt {
		return 128 + int(s)
	}
	return 130 // SIGINT; os.Interrupt on Windows
}

// notifySignals returns ctx, cancelled with a signalError by the first
// SIGINT or SIGTERM.
func notifySignals(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(signalError{s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// app is what every command shares: the global flags, the streams, and the
// daemon.
type app struct {
	profile string        // -p/--profile
	timeout time.Duration // --timeout; 0: the command's default
	socket  string        // --socket
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer

	ran bool // a command's RunE started: its errors are not usage errors
	cl  *client.Client
}

// Run runs token with args (the arguments after the program name) and
// returns its exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && !a.ran && !cli.IsUsage(err) {
		err = cli.Usage(err)
	}
	code, msg := exitCode(ctx, err)
	if msg != "" {
		fmt.Fprintf(stderr, "token: %s\n", quote.Line(msg))
	}
	if code == exitUsage {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "see `%s --help`\n", cmd.CommandPath())
	}
	return code
}

// newRoot builds the command tree.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "token",
		Short: "Print fresh Microsoft Entra ID tokens from the tokend daemon",
		Long: `token prints fresh Microsoft Entra ID tokens from tokend, the daemon that
keeps your sign-ins and refreshes access tokens in the background.

token talks only to a tokend of your own: before it sends anything, the
socket and its directory must be yours alone (on Windows: the named pipe
\\.\pipe\tokend-<your SID>) and the process serving it must run as you;
otherwise it exits 3 naming the path and its owner. Where no tokend
answers at the socket it looks for first, it looks where else one of
yours may listen, and says which it used.

Exit codes: 0 ok, 1 error, 2 usage, 3 daemon not reachable, not answering
or not yours, 4 login required, 5 identity provider unavailable, 130
interrupted (Ctrl-C); token exec exits with its command's code (127: not
found, 126: cannot run).`,
		Example: `  token get dbx                      # a token for Azure Databricks
  token setup dbx --databricks-host https://adb-1234567890123456.7.azuredatabricks.net
  token status
  eval "$(token env dbx)"            # variables for the Azure and Databricks SDKs`,
		Version:       version.String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cli.RootArgs,
		RunE:          cli.NameACommand,
	}
	root.SetVersionTemplate("token {{.Version}}\n")
	root.SuggestionsMinimumDistance = 2
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usage(err) })
	root.AddGroup(
		&cobra.Group{ID: groupTokens, Title: "Tokens:"},
		&cobra.Group{ID: groupSignIn, Title: "Profiles and sign-in:"},
		&cobra.Group{ID: groupTools, Title: "For other tools:"},
	)
	root.SetHelpCommandGroupID("")
	root.SetCompletionCommandGroupID("")

	pf := root.PersistentFlags()
	pf.StringVarP(&a.profile, "profile", "p", "", "the `PROFILE` (default: $TOKEND_PROFILE, else the config's default_profile)")
	pf.StringVar(&a.socket, "socket", "", "the daemon's socket, a `PATH` (default: $TOKEND_SOCKET, else the config's daemon.socket, else the default path)")
	pf.DurationVar(&a.timeout, "timeout", 0, "give up when tokend has not answered in this long (default 30s; for login, the sign-in's bound)")
	root.RegisterFlagCompletionFunc("profile", a.completeProfiles)

	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if a.timeout < 0 {
			return cli.Usagef("--timeout must not be negative")
		}
		a.ran = true
		return nil
	}
	for _, c := range commands(a) {
		root.AddCommand(c)
	}
	return root
}

// client is the daemon: the one at --socket or $TOKEND_SOCKET alone, else
// the one FindSocket names or, where none answers there, the first of the
// other places a daemon of the user's may listen (a note on stderr says
// which).
func (a *app) client() *client.Client {
	if a.cl != nil {
		return a.cl
	}
	first, explicit := config.FindSocket(a.socket)
	if explicit {
		a.cl = client.New(first)
		return a.cl
	}
	a.cl = client.NewSearching(first, func() []string { return config.SocketCandidates(first) }, func(path string) {
		fmt.Fprintf(a.stderr, "token: no tokend at %s; using the one at %s\n", first, path)
	})
	return a.cl
}

// defaultTimeout bounds a command that waits on nobody. tokend answers a
// token request within 20 s even while the identity provider hangs, so a
// daemon that has not answered in 30 s is stopped, hung or overloaded.
const defaultTimeout = 30 * time.Second

// bounded is ctx with the command's deadline: --timeout, else
// defaultTimeout.
func (a *app) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	d := a.timeout
	if d == 0 {
		d = defaultTimeout
	}
	return context.WithTimeout(ctx, d)
}

// exitCode maps an error to the documented exit code and a one-line message
// that says what to do next. ctx is the command's: a signal that
// cancelled it gives the signal's code.
func exitCode(ctx context.Context, err error) (int, string) {
	if err == nil {
		return exitOK, ""
	}
	var ce *client.Error
	var ew exitWith
	var na *client.NotAnsweringError
	var sig signalError
	switch {
	case cli.IsUsage(err):
		return exitUsage, err.Error()
	case errors.As(err, &ew): // token exec: the child's code
		if ew.err == nil {
			return ew.code, ""
		}
		return ew.code, ew.err.Error()
	case errors.As(context.Cause(ctx), &sig):
		if errors.Is(err, context.Canceled) { // the usual way to stop
			return sig.code(), ""
		}
		return sig.code(), err.Error()
	case errors.Is(err, client.ErrUntrusted): // names the path and its owner
		return exitUnreachable, err.Error()
	case errors.As(err, &na):
		return exitUnreachable, fmt.Sprintf("%v: it may be stopped (`kill -CONT %d`) or overloaded; --timeout waits longer", na, na.PID)
	case errors.Is(err, client.ErrUnreachable):
		return exitUnreachable, err.Error() + "\nstart the daemon with `tokend serve` (or `tokend serve --emulator` to try it offline), or set one up with `token setup NAME --databricks-host URL`"
	case errors.As(err, &ce):
		switch ce.Code {
		case wire.CodeLoginRequired:
			return exitLogin, ce.Description
		case wire.CodeUpstreamUnavailable:
			return exitUpstream, ce.Description
		}
		return exitError, ce.Description
	case errors.Is(err, context.Canceled):
		return exitError, "interrupted"
	}
	return exitError, err.Error()
}

// run wraps a command's work: from here on its errors are its own, not
// usage errors (unless it says so).
func (a *app) run(fn func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return fn(cmd.Context(), cmd, args)
	}
}

// profileArg takes the profile from a positional argument, -p, or
// $TOKEND_PROFILE; required says whether "" (the daemon's default) is
// allowed.
func (a *app) profileArg(pos []string, required bool) (string, error) {
	switch {
	case len(pos) > 1:
		return "", cli.Usagef("unexpected argument %q", pos[1])
	case len(pos) == 1 && a.profile != "" && pos[0] != a.profile:
		return "", cli.Usagef("profile given twice (%q and %q)", pos[0], a.profile)
	case len(pos) == 1:
		return pos[0], nil
	case a.profile != "":
		return a.profile, nil
	case os.Getenv("TOKEND_PROFILE") != "":
		return os.Getenv("TOKEND_PROFILE"), nil
	case required:
		return "", cli.Usagef("name a profile")
	}
	return "", nil
}

// completeProfiles completes a profile name from the running daemon's
// profiles (nothing when none answers within a second).
func (a *app) completeProfiles(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Second)
	defer cancel()
	st, err := a.client().Status(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, p := range st.Profiles {
		if strings.HasPrefix(p.Name, toComplete) {
			names = append(names, p.Name+"\t"+p.Flow)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeProfileArg completes the profile argument of a command that
// takes one.
func (a *app) completeProfileArg(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.completeProfiles(cmd, args, toComplete)
}

// noProfile is the error of a profile the daemon does not have.
func noProfile(st *wire.Status, name string) error {
	where := "tokend's config"
	if st.Config != "" {
		where += " " + st.Config
	}
	return fmt.Errorf("no profile %q in %s (`token status` lists them; `token setup %s` adds one)", name, where, name)
}
