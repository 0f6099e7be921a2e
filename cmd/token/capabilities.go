package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/captable"
)

// cmdCapabilities: token capabilities list [-o table|json] |
// token capabilities revoke ID...
func cmdCapabilities(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("capabilities: want list or revoke")
	}
	sub, args := args[0], args[1:]
	f := newFlags(e, "capabilities "+sub)
	var out *string
	if sub == "list" {
		out = f.String("o", "table", "output: table or json")
	}
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	ctx, cancel := e.bounded(ctx)
	defer cancel()
	cl := e.client()
	switch sub {
	case "list":
		if len(pos) > 0 {
			return usagef("capabilities list: unexpected argument %q", pos[0])
		}
		if *out != "table" && *out != "json" {
			return usagef("capabilities list: unknown output %q (want table or json)", *out)
		}
		l, err := cl.Capabilities(ctx)
		if err != nil {
			return err
		}
		if *out == "json" {
			return writeJSON(e.stdout, l)
		}
		return captable.Write(e.stdout, l, time.Now())
	case "revoke":
		if len(pos) == 0 {
			return usagef("capabilities revoke: name the capabilities (ids from `token capabilities list`)")
		}
		var errs []error
		for _, id := range pos {
			if err := cl.RevokeCapability(ctx, id); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(e.stdout, "revoked %s\n", id)
		}
		return errors.Join(errs...)
	}
	return usagef("capabilities: unknown command %q (want list or revoke)", sub)
}
