package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/tokend/tokend/client"
)

func cmdGet(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "get")
	var scopes multi
	f.Var(&scopes, "scope", "scope (repeatable)")
	resource := f.String("resource", "", "resource (v1 style), e.g. https://management.core.windows.net/")
	out := f.String("o", "raw", "output: raw, json, header, az, databricks")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	profile, err := f.profileArg(pos, false)
	if err != nil {
		return err
	}
	if len(scopes) > 0 && *resource != "" {
		return usagef("get: give --scope or --resource, not both")
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
var tokenWriters = map[string]func(io.Writer, *client.Token) error{
	"raw": func(w io.Writer, t *client.Token) error {
		_, err := fmt.Fprintln(w, t.AccessToken)
		return err
	},
	"header": func(w io.Writer, t *client.Token) error {
		_, err := fmt.Fprintf(w, "Authorization: Bearer %s\n", t.AccessToken)
		return err
	},
	"json": func(w io.Writer, t *client.Token) error { return writeJSON(w, t) },
	// The shape of `az account get-access-token -o json`.
	"az": func(w io.Writer, t *client.Token) error {
		return writeJSON(w, struct {
			AccessToken string `json:"accessToken"`
			ExpiresOn   string `json:"expiresOn"`
			ExpiresOnTS int64  `json:"expires_on"`
			Tenant      string `json:"tenant"`
			TokenType   string `json:"tokenType"`
		}{t.AccessToken, time.Unix(t.ExpiresOn, 0).Local().Format("2006-01-02 15:04:05.000000"), t.ExpiresOn, t.Tenant, t.TokenType})
	},
	// The shape of `databricks auth token`.
	"databricks": func(w io.Writer, t *client.Token) error {
		return writeJSON(w, struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			Expiry      string `json:"expiry"`
		}{t.AccessToken, t.TokenType, time.Unix(t.ExpiresOn, 0).Format(time.RFC3339)})
	},
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
