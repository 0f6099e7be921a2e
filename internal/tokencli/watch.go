package tokencli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
)

func newWatchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch [PROFILE]",
		Short: "Print one JSON line per token rotation or profile state change",
		Long: `Print one JSON line per token rotation or profile state change of PROFILE
(else every profile) until interrupted, so that scripts and editor plugins
need not poll. It starts with each profile's current state (a "state" line
each), then follows the daemon; never a token. Ctrl-C ends it (exit 130).`,
		Example:           `  token watch dbx | jq -r 'select(.state == "login_required") | .profile'`,
		GroupID:           groupTokens,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	out := cli.AddOutput(cmd, "json")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		profile, err := a.profileArg(args, false)
		if err != nil {
			return err
		}
		if a.timeout != 0 {
			return cli.Usagef("it runs until interrupted, so --timeout does not apply (it checks that tokend still answers)")
		}
		what := "every profile"
		if profile != "" {
			what = "profile " + profile
		}
		enc := json.NewEncoder(a.stdout)
		cl := a.client()
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		var opened error
		err = cl.Watch(wctx, client.WatchRequest{
			Profile: profile,
			// Events wait on the connection while the current state is
			// printed: none is lost between the two.
			Opened: func() {
				fmt.Fprintf(a.stderr, "token: watching %s (Ctrl-C to stop)\n", what)
				if opened = writeCurrent(ctx, cl, profile, enc); opened != nil {
					stop()
				}
			},
		}, func(ev wire.Event) error { return enc.Encode(ev) })
		if opened != nil {
			return opened
		}
		return err
	})
	return cmd
}

// writeCurrent prints the current state of profile (else of every
// profile) as "state" events.
func writeCurrent(ctx context.Context, cl *client.Client, profile string, enc *json.Encoder) error {
	ctx, cancel := context.WithTimeout(ctx, defaultTimeout)
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	found := profile == ""
	for _, p := range st.Profiles {
		if profile != "" && p.Name != profile {
			continue
		}
		found = true
		ev := wire.Event{Type: wire.EventState, Profile: p.Name, State: p.State, Scopes: p.Scopes, Account: p.Account,
			ExpiresOn: p.ExpiresOn, NextRefresh: p.NextRefresh, Error: p.LastError, Time: now}
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	if !found {
		return noProfile(st, profile)
	}
	return nil
}
