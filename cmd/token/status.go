package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokend/tokend/client/wire"
)

func cmdStatus(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "status")
	out := f.String("o", "table", "output: table or json")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("status: unexpected argument %q", pos[0])
	}
	if *out != "table" && *out != "json" {
		return usagef("status: unknown output %q (want table or json)", *out)
	}
	ctx, cancel := e.bounded(ctx)
	defer cancel()
	st, err := e.client().Status(ctx)
	if err != nil {
		return err
	}
	if *out == "json" {
		return writeJSON(e.stdout, st)
	}
	return writeStatusTable(e.stdout, st, time.Now())
}

func writeStatusTable(w io.Writer, st *wire.Status, now time.Time) error {
	fmt.Fprintf(w, "tokend %s (pid %d), socket %s", st.Version, st.PID, st.Listeners.Socket)
	if st.Listeners.TCP != "" {
		fmt.Fprintf(w, ", http %s", st.Listeners.TCP)
	}
	fmt.Fprintf(w, ", store %s\n", st.Store.Backend)
	if st.Store.Warning != "" {
		fmt.Fprintf(w, "warning: %s\n", st.Store.Warning)
	}
	if !st.Store.Healthy {
		fmt.Fprintf(w, "store unavailable: %s\n", st.Store.Error)
	}
	if len(st.Profiles) == 0 {
		fmt.Fprintln(w, "no profiles: add one to the config (see configs/config.example.toml)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPROFILE\tFLOW\tSTATE\tACCOUNT\tEXPIRES IN\tNEXT REFRESH\tLAST ERROR")
	for _, p := range st.Profiles {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Flow, p.State, dash(p.Account),
			until(p.ExpiresOn, now), until(p.NextRefresh, now), dash(p.LastError))
		// Other scope sets than the profile's own, one line each.
		for _, ts := range p.Tokens {
			if slices.Equal(slices.Sorted(slices.Values(ts.Scopes)), slices.Sorted(slices.Values(p.Scopes))) {
				continue
			}
			fmt.Fprintf(tw, "  %s\t\t%s\t\t%s\t%s\t%s\n", strings.Join(ts.Scopes, " "), ts.State,
				until(ts.ExpiresOn, now), until(ts.NextRefresh, now), dash(ts.LastError))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range st.Profiles {
		switch {
		case p.Fix == "":
		case p.State == wire.StateLoginRequired: // the fix is a command
			fmt.Fprintf(w, "%s: run `%s`\n", p.Name, p.Fix)
		default:
			fmt.Fprintf(w, "%s: %s\n", p.Name, p.Fix)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func until(unix int64, now time.Time) string {
	if unix == 0 {
		return "-"
	}
	d := time.Unix(unix, 0).Sub(now).Round(time.Second)
	if d < 0 {
		return "expired"
	}
	return d.String()
}
