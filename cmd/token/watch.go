package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

// cmdWatch prints one JSON line per token rotation or profile state change
// until interrupted, so that scripts and editor plugins need not poll.
func cmdWatch(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "watch")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	profile, err := f.profileArg(pos, false)
	if err != nil {
		return err
	}
	if e.timeout != 0 {
		return usagef("watch: it runs until interrupted, so --timeout does not apply (it checks that tokend still answers)")
	}
	what := "every profile"
	if profile != "" {
		what = "profile " + profile
	}
	enc := json.NewEncoder(e.stdout)
	err = e.client().Watch(ctx, client.WatchRequest{
		Profile: profile,
		Opened:  func() { fmt.Fprintf(e.stderr, "token: watching %s (Ctrl-C to stop)\n", what) },
	}, func(ev wire.Event) error { return enc.Encode(ev) })
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: the normal way to stop
	}
	return err
}
