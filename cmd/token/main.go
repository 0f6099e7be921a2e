// Command token is tokend's thin client: it asks the daemon over its unix
// socket and prints. It links no MSAL, keychain or router code (a test checks).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/quote"
	"github.com/tokend/tokend/internal/version"
)

const usage = `token — prints fresh Microsoft Entra ID tokens from the tokend daemon.

Usage:
  token get [PROFILE] [--scope S]... [--resource R] [-o raw|json|header|az|databricks]
  token get [PROFILE] --databricks-admin-headers
                                        the headers of a service principal acting as
                                        Azure Databricks workspace admin
  token login PROFILE --browser [--no-browser] [--username U]
  token login PROFILE --device-code
  token login PROFILE --username U --password-stdin | --refresh-token-stdin | --client-secret-stdin
  token login PROFILE --certificate FILE  PEM, or PFX with its password on stdin
  token login PROFILE                   azure-cli, managed-identity, workload-identity:
                                        check that a token comes (after ` + "`az login`" + `)
  token logout PROFILE
  token status [-o table|json]
  token watch [PROFILE]                 one JSON line per token rotation or state change
  token env PROFILE [--shell sh|fish|powershell] [--ttl D]
                                        variables that let Azure and Databricks SDKs get tokens
                                        (a capability of 12 h by default, which survives restarts of tokend)
  token exec PROFILE -- CMD [ARGS...]   run CMD with those variables; revoked when CMD exits
  token databricks configure PROFILE [--section NAME] [--host URL] [--account-id ID] [--ttl D] [--file F]
                                        write profile NAME (default: PROFILE) into ~/.databrickscfg
                                        (or $DATABRICKS_CONFIG_FILE): the Databricks SDKs and CLI then get
                                        tokens from tokend with no wrapper, across restarts (default --ttl 90 days)
  token databricks remove NAME [--file F]
                                        revoke its capability and remove the profile from the file
  token capabilities list [-o table|json]
                                        the capabilities handed out (env, exec, databricks), last use
  token capabilities revoke ID...
  token kube [PROFILE] [--server-id ID] kubectl exec-credential plugin (ExecCredential)
  token git-credential [-p PROFILE] [--host H]... get|store|erase
                                        git credential helper for Azure DevOps
  token version

Global flags: -p/--profile NAME (else $TOKEND_PROFILE, else the config's
default_profile), --socket PATH (else $TOKEND_SOCKET, else the daemon's),
--timeout D (give up when tokend has not answered in D; default 30s; for
login, the sign-in's bound: by default the daemon's, and a browser or
device-code sign-in waits on you, checking that tokend still answers).

token talks only to a tokend of your own: before it sends anything, the
socket and its directory must be yours alone (on Windows: the named pipe
\\.\pipe\tokend-<your SID>) and the process serving it must run as you;
otherwise it exits 3 naming the path and its owner.

Exit codes: 0 ok, 1 error, 2 usage, 3 daemon not reachable, 4 login required,
5 identity provider unavailable; token exec exits with CMD's code (127: not
found, 126: cannot run).
`

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitLogin       = 4
	exitUpstream    = 5
)

func main() {
	ctx := context.Background()
	if len(os.Args) < 2 || !quick[os.Args[1]] {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// quick commands answer at once: Ctrl-C may end them the default way, and
// they do not start the signal handling the others need to wind down (it
// costs a goroutine, and usually a thread, in a process that lives about a
// millisecond).
var quick = map[string]bool{"get": true, "version": true, "--version": true, "help": true, "-h": true, "--help": true}

type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// env is what every command gets.
type env struct {
	profile string        // from -p, $TOKEND_PROFILE or a positional argument
	timeout time.Duration // --timeout; 0: the command's default
	socket  string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

func (e *env) client() *client.Client { return client.New(resolveSocket(e.socket)) }

// defaultTimeout bounds a command that waits on nobody. tokend answers a
// token request within 20 s even while the identity provider hangs, so a
// daemon that has not answered in 30 s is stopped, hung or overloaded.
const defaultTimeout = 30 * time.Second

// bounded is ctx with the command's deadline: --timeout, else
// defaultTimeout.
func (e *env) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, cmp.Or(e.timeout, defaultTimeout))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	err := dispatch(ctx, e, args)
	code, msg := exitCode(err)
	if msg != "" {
		fmt.Fprintf(stderr, "token: %s\n", quote.Line(msg))
	}
	if code == exitUsage {
		fmt.Fprintf(stderr, "\n%s", usage)
	}
	return code
}

func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("no command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "get":
		return cmdGet(ctx, e, args)
	case "login":
		return cmdLogin(ctx, e, args)
	case "logout":
		return cmdLogout(ctx, e, args)
	case "status":
		return cmdStatus(ctx, e, args)
	case "watch":
		return cmdWatch(ctx, e, args)
	case "env":
		return cmdEnv(ctx, e, args)
	case "exec":
		return cmdExec(ctx, e, args)
	case "kube":
		return cmdKube(ctx, e, args)
	case "git-credential":
		return cmdGitCredential(ctx, e, args)
	case "databricks":
		return cmdDatabricks(ctx, e, args)
	case "capabilities":
		return cmdCapabilities(ctx, e, args)
	case "version", "--version":
		fmt.Fprintln(e.stdout, "token", version.String())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	return usagef("unknown command %q", cmd)
}

// exitCode maps an error to the documented exit code and a one-line message
// that says what to do next.
func exitCode(err error) (int, string) {
	if err == nil {
		return exitOK, ""
	}
	var ue usageError
	var ce *client.Error
	var ew exitWith
	var na *client.NotAnsweringError
	switch {
	case errors.As(err, &ue):
		return exitUsage, err.Error()
	case errors.As(err, &ew): // token exec: the child's code
		if ew.err == nil {
			return ew.code, ""
		}
		return ew.code, ew.err.Error()
	case errors.Is(err, client.ErrUntrusted): // names the path and its owner
		return exitUnreachable, err.Error()
	case errors.As(err, &na):
		return exitUnreachable, fmt.Sprintf("%v: it may be stopped (`kill -CONT %d`) or overloaded; --timeout waits longer", na, na.PID)
	case errors.Is(err, client.ErrUnreachable):
		return exitUnreachable, err.Error() + "\nstart the daemon with `tokend serve` (or `tokend serve --emulator` to try it offline)"
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

// flags is a flag set that accepts flags before and after positional
// arguments, as `token get dbx -o json` needs.
type flags struct {
	*flag.FlagSet
	e *env
}

func newFlags(e *env, name string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.profile, "p", "", "profile")
	fs.StringVar(&e.profile, "profile", "", "profile")
	fs.StringVar(&e.socket, "socket", "", "daemon socket")
	fs.DurationVar(&e.timeout, "timeout", 0, "give up when tokend has not answered in this long")
	return &flags{FlagSet: fs, e: e}
}

// parse returns the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, usagef("%s: %v", f.Name(), err)
		}
		if f.e.timeout < 0 {
			return nil, usagef("%s: --timeout must not be negative", f.Name())
		}
		args = f.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// profileArg takes the profile from a positional argument, -p, or
// $TOKEND_PROFILE; required says whether "" (daemon default) is allowed.
func (f *flags) profileArg(pos []string, required bool) (string, error) {
	switch {
	case len(pos) > 1:
		return "", usagef("%s: unexpected argument %q", f.Name(), pos[1])
	case len(pos) == 1 && f.e.profile != "" && pos[0] != f.e.profile:
		return "", usagef("%s: profile given twice (%q and %q)", f.Name(), pos[0], f.e.profile)
	case len(pos) == 1:
		return pos[0], nil
	case f.e.profile != "":
		return f.e.profile, nil
	case os.Getenv("TOKEND_PROFILE") != "":
		return os.Getenv("TOKEND_PROFILE"), nil
	case required:
		return "", usagef("%s: name a profile", f.Name())
	}
	return "", nil
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
