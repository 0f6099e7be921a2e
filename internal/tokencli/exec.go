package tokencli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
)

// execTTL bounds the capability of `token exec`, which is revoked when the
// child exits; the bound only matters if `token` itself is killed.
const execTTL = 7 * 24 * time.Hour

func newExecCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec PROFILE -- CMD [ARGS...]",
		Short: "Run a command with the variables of token env; revoked when it exits",
		Long: `Run CMD with the variables of ` + "`token env PROFILE`" + ` (and without
MSI_ENDPOINT, MSI_SECRET and IDENTITY_SERVER_THUMBPRINT, which would send
SDKs elsewhere). The capability is revoked when CMD exits, and token exits
with CMD's exit code (127: not found, 126: cannot run). Signals reach CMD.`,
		Example: `  token exec dbx -- python train.py
  token exec dbx -- databricks clusters list`,
		GroupID:           groupTools,
		ValidArgsFunction: a.completeProfileArg,
		Args: func(cmd *cobra.Command, args []string) error {
			at := cmd.ArgsLenAtDash()
			if at < 0 || at == len(args) {
				return cli.Usagef("give the command after --: token exec PROFILE -- CMD [ARGS...]")
			}
			if at > 1 {
				return cli.Usagef("unexpected argument %q", args[1])
			}
			return nil
		},
	}
	ttl := cmd.Flags().Duration("ttl", execTTL, "how long the capability lives if token is killed before CMD exits (at most 720h)")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		at := cmd.ArgsLenAtDash()
		profile, err := a.profileArg(args[:at], true)
		if err != nil {
			return err
		}
		if err := checkTTL(*ttl); err != nil {
			return err
		}
		return runChild(ctx, a, profile, *ttl, args[at:])
	})
	return cmd
}

// runChild runs argv with profile's variables and revokes their
// capability when it exits.
func runChild(ctx context.Context, a *app, profile string, ttl time.Duration, argv []string) error {
	cl := a.client()
	// The setup is bounded; the child runs as long as it runs.
	sctx, cancel := a.bounded(ctx)
	vars, c, err := childEnv(sctx, cl, profile, ttl, wire.CapabilityExec, client.CapabilityLabel("token exec "+filepath.Base(argv[0])))
	cancel()
	if err != nil {
		return err
	}
	// The child's signals are forwarded, so ctx (cancelled by SIGINT) must
	// not stop the revocation.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := cl.RevokeCapability(rctx, c.ID); err != nil {
			fmt.Fprintf(a.stderr, "token: revoke capability %s: %v\n", c.ID, err)
		}
	}()

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = mergeEnv(os.Environ(), vars, client.ChildEnvUnset())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	sigs := catchSignals()
	defer sigs.stop()
	if err := cmd.Start(); err != nil {
		return startError(argv[0], err)
	}
	sigs.to(cmd.Process)
	return waitChild(cmd)
}

// mergeEnv is environ without the variables in unset and those set by vars,
// then vars.
func mergeEnv(environ []string, vars []client.EnvVar, unset []string) []string {
	drop := map[string]bool{}
	for _, n := range unset {
		drop[envKey(n)] = true
	}
	for _, v := range vars {
		drop[envKey(v.Name)] = true
	}
	out := make([]string, 0, len(environ)+len(vars))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[envKey(name)] {
			out = append(out, kv)
		}
	}
	for _, v := range vars {
		out = append(out, v.Name+"="+v.Value)
	}
	return out
}

// startError is the shell's answer to a command that cannot run: 127 when
// it is not found, 126 when it cannot be executed.
func startError(name string, err error) error {
	code := 126
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		code = 127
	}
	return exitWith{code: code, err: fmt.Errorf("exec %s: %w", name, err)}
}

// exitWith makes token exit with code: the child's, or the shell's for a
// command that cannot run. err, if set, is printed.
type exitWith struct {
	code int
	err  error
}

func (e exitWith) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e exitWith) Unwrap() error { return e.err }
