package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
)

func cmdGet(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "get")
	var scopes multi
	f.Var(&scopes, "scope", "scope (repeatable)")
	resource := f.String("resource", "", "resource (v1 style), e.g. https://management.core.windows.net/")
	out := f.String("o", "raw", "output: raw, json, header, az, databricks")
	adminHeaders := f.Bool("databricks-admin-headers", false, "print the headers of a service principal acting as Azure Databricks workspace admin")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	profile, err := f.profileArg(pos, false)
	if err != nil {
		return err
	}
	ctx, cancel := e.bounded(ctx)
	defer cancel()
	if len(scopes) > 0 && *resource != "" {
		return usagef("get: give --scope or --resource, not both")
	}
	if *adminHeaders {
		oGiven := false
		f.Visit(func(fl *flag.Flag) { oGiven = oGiven || fl.Name == "o" })
		if len(scopes) > 0 || *resource != "" || oGiven {
			return usagef("get: --databricks-admin-headers takes no --scope, --resource or -o: it prints three header lines")
		}
		return writeAdminHeaders(ctx, e, profile)
	}
	w, ok := tokenWriters[*out]
	if !ok {
		return usagef("get: unknown output %q (want raw, json, header, az, databricks)", *out)
	}
	t, err := e.client().Token(ctx, client.TokenRequest{Profile: profile, Scopes: scopes, Resource: *resource})
	if err != nil {
		return err
	}
	return w(e.stdout, t)
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
	"json": func(w io.Writer, t *wire.Token) error { return writeJSON(w, t) },
	// The shape of `az account get-access-token -o json`.
	"az": func(w io.Writer, t *wire.Token) error {
		return writeJSON(w, struct {
			AccessToken string `json:"accessToken"`
			ExpiresOn   string `json:"expiresOn"`
			ExpiresOnTS int64  `json:"expires_on"`
			Tenant      string `json:"tenant"`
			TokenType   string `json:"tokenType"`
		}{t.AccessToken, time.Unix(t.ExpiresOn, 0).Local().Format("2006-01-02 15:04:05.000000"), t.ExpiresOn, t.Tenant, t.TokenType})
	},
	// The shape of `databricks auth token`.
	"databricks": func(w io.Writer, t *wire.Token) error {
		return writeJSON(w, struct {
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
func writeAdminHeaders(ctx context.Context, e *env, profile string) error {
	c := e.client()
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
		return fmt.Errorf("profile %s has no azure_workspace_resource_id: set it in profiles.%s of the config (/subscriptions/SUBSCRIPTION/resourceGroups/GROUP/providers/Microsoft.Databricks/workspaces/NAME, the workspace's Properties page in the Azure portal), then restart tokend", dbx.Profile, dbx.Profile)
	}
	mgmt, err := c.Token(ctx, client.TokenRequest{Profile: dbx.Profile, Resource: managementResource})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "Authorization: Bearer %s\nX-Databricks-Azure-SP-Management-Token: %s\nX-Databricks-Azure-Workspace-Resource-Id: %s\n",
		dbx.AccessToken, mgmt.AccessToken, wsid)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
