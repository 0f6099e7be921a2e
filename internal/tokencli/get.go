package tokencli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/config"
)

func newGetCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get [PROFILE]",
		Short: "Print a fresh access token",
		Long: `Print a fresh access token of PROFILE (else -p, $TOKEND_PROFILE, or the
config's default_profile) for its scopes, or for --scope or --resource.

Output formats: raw (the token and a newline), header (Authorization:
Bearer …), json (the daemon's answer), az (the shape of
` + "`az account get-access-token -o json`" + `), databricks (the shape of
` + "`databricks auth token`" + `).`,
		Example: `  token get dbx
  curl -H "$(token get dbx -o header)" https://adb-1234567890123456.7.azuredatabricks.net/api/2.0/clusters/list
  token get dbx --resource https://management.core.windows.net/
  curl -H @<(token get sp --databricks-admin-headers) https://adb-…/api/2.0/preview/scim/v2/Me`,
		GroupID:           groupTokens,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	f := cmd.Flags()
	scopes := f.StringArray("scope", nil, "a `SCOPE` to ask for, e.g. https://storage.azure.com/.default (repeatable; default: the profile's)")
	resource := f.String("resource", "", "a `RESOURCE` to ask for (v1 style), e.g. https://management.core.windows.net/")
	adminHeaders := f.Bool("databricks-admin-headers", false, "print the three headers of a service principal acting as Azure Databricks workspace admin")
	out := cli.AddOutput(cmd, "raw", "json", "header", "az", "databricks")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		profile, err := a.profileArg(args, false)
		if err != nil {
			return err
		}
		if len(*scopes) > 0 && *resource != "" {
			return cli.Usagef("give --scope or --resource, not both")
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		if *adminHeaders {
			if len(*scopes) > 0 || *resource != "" || cmd.Flags().Changed("output") {
				return cli.Usagef("--databricks-admin-headers takes no --scope, --resource or -o: it prints three header lines")
			}
			return writeAdminHeaders(ctx, a, profile)
		}
		if err := out.Check(); err != nil {
			return err
		}
		return a.get(ctx, client.TokenRequest{Profile: profile, Scopes: *scopes, Resource: *resource}, out.Value())
	})
	return cmd
}

// get prints a token in format (one of tokenWriters).
func (a *app) get(ctx context.Context, req client.TokenRequest, format string) error {
	t, err := a.client().Token(ctx, req)
	if err != nil {
		return err
	}
	return tokenWriters[format](a.stdout, t)
}

// tokenWriters print a token in each -o format.
var tokenWriters = map[string]func(io.Writer, *wire.Token) error{
	"raw": func(w io.Writer, t *wire.Token) error {
		_, err := fmt.Fprintln(w, t.AccessToken)
		return err
	},
	"header": func(w io.Writer, t *wire.Token) error {
		_, err := fmt.Fprintf(w, "Authorization: Bearer %s\n", t.AccessToken)
		return err
	},
	"json": func(w io.Writer, t *wire.Token) error { return cli.WriteJSON(w, t) },
	// The shape of `az account get-access-token -o json`.
	"az": func(w io.Writer, t *wire.Token) error {
		return cli.WriteJSON(w, struct {
			AccessToken string `json:"accessToken"`
			ExpiresOn   string `json:"expiresOn"`
			ExpiresOnTS int64  `json:"expires_on"`
			Tenant      string `json:"tenant"`
			TokenType   string `json:"tokenType"`
		}{t.AccessToken, time.Unix(t.ExpiresOn, 0).Local().Format("2006-01-02 15:04:05.000000"), t.ExpiresOn, t.Tenant, t.TokenType})
	},
	// The shape of `databricks auth token`.
	"databricks": func(w io.Writer, t *wire.Token) error {
		return cli.WriteJSON(w, struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			Expiry      string `json:"expiry"`
		}{t.AccessToken, t.TokenType, time.Unix(t.ExpiresOn, 0).Format(time.RFC3339)})
	},
}

// managementResource is the Azure Resource Manager resource, whose token
// proves a service principal's role on the workspace resource.
const managementResource = "https://management.core.windows.net/"

// writeAdminHeaders prints the headers with which a service principal acts
// on an Azure Databricks workspace as a workspace admin (and is added to
// the workspace on first use) through its Azure role on the workspace
// resource: its Azure Databricks token, its Azure management token and the
// workspace's resource id (the profile's azure_workspace_resource_id).
func writeAdminHeaders(ctx context.Context, a *app, profile string) error {
	c := a.client()
	dbx, err := c.Token(ctx, client.TokenRequest{Profile: profile, Scopes: []string{config.DatabricksScope}})
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	var wsid string
	for _, p := range st.Profiles {
		if p.Name == dbx.Profile {
			wsid = p.AzureWorkspaceResourceID
		}
	}
	if wsid == "" {
		return fmt.Errorf("profile %s has no azure_workspace_resource_id: set it in profiles.%s of the config (/subscriptions/SUBSCRIPTION/resourceGroups/GROUP/providers/Microsoft.Databricks/workspaces/NAME, the workspace's Properties page in the Azure portal), then reload tokend (`systemctl --user reload tokend`, or restart it)", dbx.Profile, dbx.Profile)
	}
	mgmt, err := c.Token(ctx, client.TokenRequest{Profile: dbx.Profile, Resource: managementResource})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "Authorization: Bearer %s\nX-Databricks-Azure-SP-Management-Token: %s\nX-Databricks-Azure-Workspace-Resource-Id: %s\n",
		dbx.AccessToken, mgmt.AccessToken, wsid)
	return err
}
