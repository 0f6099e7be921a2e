package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

// envTTL is how long the capability of `token env` lives: nothing revokes
// it when the shell goes away.
const envTTL = 12 * time.Hour

func cmdEnv(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "env")
	shell := f.String("shell", defaultShell(), "syntax: sh, fish or powershell")
	ttl := f.Duration("ttl", envTTL, "lifetime of the capability")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	profile, err := f.profileArg(pos, true)
	if err != nil {
		return err
	}
	ctx, cancel := e.bounded(ctx)
	defer cancel()
	q, ok := quoters[*shell]
	if !ok {
		return usagef("env: unknown shell %q (want sh, fish or powershell)", *shell)
	}
	if *ttl < time.Second {
		return usagef("env: --ttl must be at least 1s")
	}
	cl := e.client()
	label := fmt.Sprintf("token env, parent pid %d", os.Getppid())
	vars, c, err := childEnv(ctx, cl, profile, *ttl, wire.CapabilityEnv, label)
	if err != nil {
		return err
	}
	return writeEnv(e.stdout, q, vars, c)
}

// childEnv mints a capability of kind for profile and returns the child's
// variables with it.
func childEnv(ctx context.Context, cl *client.Client, profile string, ttl time.Duration, kind, label string) ([]client.EnvVar, *wire.Capability, error) {
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ps *wire.ProfileStatus
	for i := range st.Profiles {
		if st.Profiles[i].Name == profile {
			ps = &st.Profiles[i]
		}
	}
	if ps == nil {
		return nil, nil, fmt.Errorf("no profile %q in tokend's config (`token status` lists them)", profile)
	}
	if _, err := client.ChildEnv(st.Listeners.TCP, "", ""); err != nil {
		return nil, nil, err
	}
	c, err := cl.CreateCapability(ctx, wire.CapabilityRequest{Profile: profile, TTLSeconds: int64(ttl / time.Second), Kind: kind, Label: label})
	if err != nil {
		return nil, nil, err
	}
	vars, err := client.ChildEnv(st.Listeners.TCP, c.Token, ps.DatabricksHost)
	return vars, c, err
}

// writeEnv prints the commands that set vars (and unset the variables that
// would send SDKs elsewhere) in one shell's syntax.
func writeEnv(w io.Writer, q quoter, vars []client.EnvVar, c *wire.Capability) error {
	fmt.Fprintf(w, "# tokend capability %s for profile %s, valid until %s\n", c.ID, c.Profile,
		time.Unix(c.ExpiresOn, 0).UTC().Format(time.RFC3339))
	for _, v := range vars {
		fmt.Fprintln(w, q.set(v.Name, v.Value))
	}
	for _, name := range client.ChildEnvUnset() {
		fmt.Fprintln(w, q.unset(name))
	}
	return nil
}

// quoter writes variable assignments in one shell's syntax.
type quoter struct {
	set   func(name, value string) string
	unset func(name string) string
}

var quoters = map[string]quoter{
	"sh": {
		set:   func(n, v string) string { return "export " + n + "=" + shQuote(v) },
		unset: func(n string) string { return "unset " + n },
	},
	"fish": {
		set:   func(n, v string) string { return "set -gx " + n + " " + fishQuote(v) + ";" },
		unset: func(n string) string { return "set -e " + n + ";" },
	},
	"powershell": {
		set:   func(n, v string) string { return "$env:" + n + " = " + psQuote(v) },
		unset: func(n string) string { return "Remove-Item Env:" + n + " -ErrorAction SilentlyContinue" },
	},
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// defaultShell guesses the syntax the user's shell reads.
func defaultShell() string {
	if runtime.GOOS == "windows" {
		return "powershell"
	}
	if filepath.Base(os.Getenv("SHELL")) == "fish" {
		return "fish"
	}
	return "sh"
}
