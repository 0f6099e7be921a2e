package tokencli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/dbxprofile"
)

func newDatabricksCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "databricks",
		Short: "Give the Databricks SDKs and CLI a ~/.databrickscfg profile that gets tokens from tokend",
		Long: `Write or remove a profile of ~/.databrickscfg (or $DATABRICKS_CONFIG_FILE)
whose metadata_service_url is tokend's: the Databricks SDKs, the CLI and the
tools built on them then get PROFILE's tokens from tokend with no wrapper,
across restarts of tokend.

The file holds a capability that works only through your own tokend, for the
profile's Databricks hosts, until it expires (--ttl) or is revoked
(` + "`token databricks remove`" + `, ` + "`token capabilities revoke`" + `).`,
		GroupID: groupTools,
		Args:    cli.NoArgs,
		RunE:    cli.NameACommand,
	}
	cmd.AddCommand(newDatabricksConfigureCmd(a), newDatabricksRemoveCmd(a))
	return cmd
}

func newDatabricksConfigureCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "configure PROFILE",
		Short: "Write (or update) a ~/.databrickscfg profile that gets PROFILE's tokens from tokend",
		Long: `Write (or update) the profile SECTION (default: PROFILE) of ~/.databrickscfg
(or $DATABRICKS_CONFIG_FILE, or --file) with host, auth_type =
metadata-service, metadata_service_url (a capability of tokend for the
Databricks metadata service only) and, for the account console, account_id.
Every other profile and comment stays byte for byte; the file is replaced
atomically with mode 0600, never through a link, never another user's, and
never over a profile that signs in another way. Running it again updates
the profile and revokes its old capability.`,
		Example: `  token databricks configure dbx
  databricks --profile dbx current-user me
  token databricks configure dbx --section dbx-account --host https://accounts.azuredatabricks.net`,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	file := cmd.Flags().String("file", "", "the Databricks config file (default: $DATABRICKS_CONFIG_FILE, else ~/.databrickscfg)")
	section := cmd.Flags().String("section", "", "the profile's name in the file (default: the tokend profile's)")
	host := cmd.Flags().String("host", "", "one of the profile's Databricks hosts (default: its databricks_host)")
	account := cmd.Flags().String("account-id", "", "account_id to write (default: the profile's databricks_account_id, for an account console)")
	ttl := cmd.Flags().Duration("ttl", dbxprofile.DefaultTTL, "how long the capability in the file lives (at most 8784h, 366 days)")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		profile, err := a.profileArg(args, true)
		if err != nil {
			return err
		}
		if *ttl < time.Minute {
			return cli.Usagef("--ttl %v: the capability in the file lives at least 1m", *ttl)
		}
		if err := checkTTL(*ttl); err != nil {
			return err
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		r, err := dbxprofile.Configure(ctx, a.client(), dbxprofile.Options{
			Profile: profile, Section: *section, Host: *host, AccountID: *account, TTL: *ttl, Path: *file,
		})
		if err != nil {
			return err
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(a.stderr, "token: warning: %s\n", w)
		}
		what := "wrote"
		if r.Replaced != "" {
			what = "updated"
		}
		fmt.Fprintf(a.stdout, "%s profile [%s] in %s: host %s, capability %s of tokend profile %s, valid until %s\n",
			what, r.Section, r.Path, r.Host, r.Capability.ID, r.Capability.Profile, time.Unix(r.Capability.ExpiresOn, 0).UTC().Format(time.RFC3339))
		fmt.Fprintf(a.stdout, "try: databricks --profile %s current-user me   (`token databricks remove %s` revokes it)\n", r.Section, r.Section)
		return nil
	})
	return cmd
}

func newDatabricksRemoveCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a profile token databricks configure wrote, and revoke its capability",
		Long: `Revoke the capability of the ~/.databrickscfg profile NAME (or of
$DATABRICKS_CONFIG_FILE, or --file) and remove the profile from the file,
keeping everything else byte for byte. Only a profile that gets its tokens
from tokend is removed.`,
		Example: `  token databricks remove dbx`,
	}
	file := cmd.Flags().String("file", "", "the Databricks config file (default: $DATABRICKS_CONFIG_FILE, else ~/.databrickscfg)")
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return cli.Usagef("name one profile of the file")
		}
		return nil
	}
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		r, err := dbxprofile.Remove(ctx, a.client(), args[0], *file)
		if err != nil {
			return err
		}
		revoked := "capability " + r.Capability + " revoked"
		if r.Capability == "" {
			revoked = "its capability had expired or was revoked already"
		}
		fmt.Fprintf(a.stdout, "removed profile [%s] from %s; %s\n", r.Section, r.Path, revoked)
		return nil
	})
	return cmd
}
