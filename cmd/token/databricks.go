package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/dbxprofile"
)

// cmdDatabricks: token databricks configure [PROFILE] [--section NAME]
// [--host URL] [--account-id ID] [--ttl D] [--file PATH] |
// token databricks remove SECTION [--file PATH]
func cmdDatabricks(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("databricks: want configure or remove")
	}
	sub, args := args[0], args[1:]
	f := newFlags(e, "databricks "+sub)
	file := f.String("file", "", "the Databricks config file (default: $DATABRICKS_CONFIG_FILE, else ~/.databrickscfg)")
	switch sub {
	case "configure":
		section := f.String("section", "", "the profile's name in the file (default: the tokend profile's)")
		host := f.String("host", "", "one of the profile's Databricks hosts (default: its databricks_host)")
		account := f.String("account-id", "", "account_id to write (default: the profile's databricks_account_id, for an account console)")
		ttl := f.Duration("ttl", dbxprofile.DefaultTTL, "lifetime of the capability in the file")
		pos, err := f.parse(args)
		if err != nil {
			return err
		}
		profile, err := f.profileArg(pos, true)
		if err != nil {
			return err
		}
		if *ttl < time.Minute {
			return usagef("databricks configure: --ttl must be at least 1m")
		}
		ctx, cancel := e.bounded(ctx)
		defer cancel()
		r, err := dbxprofile.Configure(ctx, e.client(), dbxprofile.Options{
			Profile: profile, Section: *section, Host: *host, AccountID: *account, TTL: *ttl, Path: *file,
		})
		if err != nil {
			return err
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(e.stderr, "token: warning: %s\n", w)
		}
		what := "wrote"
		if r.Replaced != "" {
			what = "updated"
		}
		fmt.Fprintf(e.stdout, "%s profile [%s] in %s: host %s, capability %s of tokend profile %s, valid until %s\n",
			what, r.Section, r.Path, r.Host, r.Capability.ID, r.Capability.Profile, time.Unix(r.Capability.ExpiresOn, 0).UTC().Format(time.RFC3339))
		fmt.Fprintf(e.stdout, "try: databricks --profile %s current-user me   (`token databricks remove %s` revokes it)\n", r.Section, r.Section)
		return nil
	case "remove":
		pos, err := f.parse(args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("databricks remove: name one profile of the file")
		}
		ctx, cancel := e.bounded(ctx)
		defer cancel()
		r, err := dbxprofile.Remove(ctx, e.client(), pos[0], *file)
		if err != nil {
			return err
		}
		revoked := "capability " + r.Capability + " revoked"
		if r.Capability == "" {
			revoked = "its capability had expired or was revoked already"
		}
		fmt.Fprintf(e.stdout, "removed profile [%s] from %s; %s\n", r.Section, r.Path, revoked)
		return nil
	}
	return usagef("databricks: unknown command %q (want configure or remove)", sub)
}
