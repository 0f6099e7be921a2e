package tokendcli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/entra"
	"github.com/tokend/tokend/internal/flow"
)

func newDoctorCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor [PROFILE]",
		Short: "Check a profile end to end and say what to fix",
		Long: `Check PROFILE (else the config's default_profile) step by step and say what
works and what to do about what does not: the config file, the profile,
its identity provider, the daemon and its store, a token (its claims,
never the token) and, for a profile with databricks_host, whether the
workspace accepts it (its SCIM Me endpoint). Exit 1 if a check fails.`,
		Example: `  tokend doctor dbx
  tokend doctor dbx -o json | jq '.checks[] | select(.ok | not)'`,
		Args: maxArgs(1),
	}
	cfgFlag := cmd.Flags().String("config", "", "the config `FILE` (default: $TOKEND_CONFIG, else <user config dir>/tokend/config.toml)")
	cmd.MarkFlagFilename("config", "toml")
	out := addOutput(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.check(); err != nil {
			return err
		}
		var name string
		if len(args) == 1 {
			name = args[0]
		}
		return doctor(cmd.Context(), *cfgFlag, name, out.json(), a.stdout)
	}
	return cmd
}

// doctor checks one profile from end to end and says, step by step, what
// works and what to do about what does not: the config, the daemon and its
// store, the identity provider, a token (its claims, never the token) and,
// for a profile with databricks_host, whether the workspace accepts it.
func doctor(ctx context.Context, cfgFlag, name string, asJSON bool, stdout io.Writer) error {
	d := &doctorRun{out: stdout}
	if asJSON {
		d.out = nil
	}
	ok := d.run(ctx, config.Path(cfgFlag), name)
	if asJSON {
		if err := writeJSON(stdout, struct {
			OK     bool          `json:"ok"`
			Checks []doctorCheck `json:"checks"`
		}{ok, d.checks}); err != nil {
			return err
		}
	}
	if !ok {
		return errors.New("doctor: some checks failed (see above)")
	}
	return nil
}

// doctorCheck is one step of doctor.
type doctorCheck struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

type doctorRun struct {
	out    io.Writer // nil: JSON at the end
	checks []doctorCheck
	failed bool
}

// report prints one check: what, ok or FAIL, and the detail (or the fix).
func (d *doctorRun) report(what string, err error, detail string) bool {
	c := doctorCheck{Check: what, OK: err == nil, Detail: detail}
	if err != nil {
		d.failed = true
		c.Error, c.Detail = err.Error(), ""
	}
	d.checks = append(d.checks, c)
	if d.out != nil {
		if err != nil {
			fmt.Fprintf(d.out, "%-18s FAIL  %v\n", what, err)
		} else {
			fmt.Fprintf(d.out, "%-18s ok    %s\n", what, detail)
		}
	}
	return err == nil
}

func (d *doctorRun) run(ctx context.Context, path string, name string) bool {
	if !config.Exists(path) {
		d.report("config", fmt.Errorf("%s is missing: `token setup NAME --databricks-host URL` writes it with a profile", path), "")
		return false
	}
	cfg, err := config.Load(path, true)
	if !d.report("config", err, path) {
		return false
	}
	p, found := cfg.Profile(name)
	if !found {
		var names []string
		for n := range cfg.Profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		err := fmt.Errorf("no profile %q in %s (profiles: %s)", name, path, strings.Join(names, ", "))
		if name == "" {
			err = fmt.Errorf("name a profile (`tokend doctor PROFILE`) or set default_profile in %s", path)
		}
		d.report("profile", err, "")
		return false
	}
	d.report("profile", nil, describeProfile(p))

	if hc, err := entra.HTTPClient(p.CAFile); err != nil {
		d.report("identity provider", err, "")
	} else {
		what, err := entra.Probe(ctx, p, hc)
		d.report("identity provider", err, what)
	}

	// The daemon of this config: at its socket (or $TOKEND_SOCKET), else
	// wherever the user's daemon is found.
	c := client.New(cfg.SocketPath())
	if first := cfg.SocketPath(); os.Getenv("TOKEND_SOCKET") == "" && cfg.Daemon.Socket == "" {
		c = client.NewSearching(first, func() []string { return config.SocketCandidates(first) }, nil)
	}
	st, err := c.Status(ctx)
	if err != nil {
		d.report("daemon", fmt.Errorf("%w: start it with `tokend serve` (or `tokend install`)", err), "")
		return false
	}
	d.report("daemon", nil, fmt.Sprintf("tokend %s (pid %d) at %s", st.Version, st.PID, c.Socket()))
	if st.Store.State != wire.StoreOK {
		d.report("store", errors.New(st.Store.Error), "")
	} else {
		detail := st.Store.Backend
		if st.Store.Warning != "" {
			detail += " (" + st.Store.Warning + ")"
		}
		d.report("store", nil, detail)
	}
	for _, ps := range st.Profiles {
		if ps.Name == p.Name && ps.State != wire.StateReady && ps.State != wire.StateRefreshing {
			msg := fmt.Sprintf("state %s: %s", ps.State, ps.LastError)
			if ps.Fix != "" {
				msg += "; fix: " + ps.Fix
			}
			d.report("profile state", errors.New(msg), "")
		}
	}

	tok, err := c.Token(ctx, client.TokenRequest{Profile: p.Name})
	if err != nil {
		d.report("token", err, "")
		return false
	}
	claims, err := decodeClaims(tok.AccessToken)
	d.report("token", err, describeClaims(claims, tok, time.Now()))
	if want := audienceOf(tok.Scopes); err == nil && want != "" && claims.Aud != want && claims.Aud != "api://"+want {
		d.report("token audience", fmt.Errorf("aud %q, but the scopes %s name %q", claims.Aud, strings.Join(tok.Scopes, " "), want), "")
	}

	if p.DatabricksHost != "" {
		d.checkWorkspace(ctx, c, p)
	}
	return !d.failed
}

// checkWorkspace calls the workspace's SCIM Me endpoint with the profile's
// Azure Databricks token (and, with azure_workspace_resource_id, the
// headers of a service principal acting as workspace admin).
func (d *doctorRun) checkWorkspace(ctx context.Context, c *client.Client, p *config.Profile) {
	dbx, err := c.Token(ctx, client.TokenRequest{Profile: p.Name, Scopes: []string{config.DatabricksScope}})
	if err != nil {
		d.report("workspace token", err, "")
		return
	}
	url := p.DatabricksHost + "/api/2.0/preview/scim/v2/Me"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		d.report("workspace", err, "")
		return
	}
	req.Header.Set("Authorization", "Bearer "+dbx.AccessToken)
	how := "as " + p.Name
	if p.AzureWorkspaceResourceID != "" {
		mgmt, err := c.Token(ctx, client.TokenRequest{Profile: p.Name, Resource: "https://management.core.windows.net/"})
		if err != nil {
			d.report("management token", err, "")
			return
		}
		mc, _ := decodeClaims(mgmt.AccessToken)
		d.report("management token", nil, "aud "+mc.Aud+", for the SP-admin headers")
		req.Header.Set("X-Databricks-Azure-SP-Management-Token", mgmt.AccessToken)
		req.Header.Set("X-Databricks-Azure-Workspace-Resource-Id", p.AzureWorkspaceResourceID)
		how += " with the SP-admin headers"
	}
	hc, err := entra.HTTPClient(p.CAFile)
	if err != nil {
		d.report("workspace", err, "")
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		d.report("workspace", fmt.Errorf("GET %s: %v", url, err), "")
		return
	}
	defer resp.Body.Close()
	var body struct {
		UserName    string `json:"userName"`
		DisplayName string `json:"displayName"`
		Detail      string `json:"detail"`
		Message     string `json:"message"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(data, &body)
	if resp.StatusCode != http.StatusOK {
		why := strings.TrimSpace(body.Detail + body.Message)
		if why == "" {
			why = http.StatusText(resp.StatusCode)
		}
		fix := "is the identity a member of the workspace?"
		if p.AzureWorkspaceResourceID == "" {
			fix += " A service principal with a role on the workspace resource gets in as admin: set azure_workspace_resource_id"
		}
		d.report("workspace", fmt.Errorf("GET %s %s: HTTP %d: %s (%s)", url, how, resp.StatusCode, truncate(why, 300), fix), "")
		return
	}
	d.report("workspace", nil, fmt.Sprintf("%s accepts the token %s: userName %q", p.DatabricksHost, how, body.UserName))
}

func describeProfile(p *config.Profile) string {
	parts := []string{p.Name, "flow " + string(p.Flow)}
	if p.ClientID != "" {
		parts = append(parts, "client "+p.ClientID)
	}
	switch p.Flow {
	case flow.AzureCLI, flow.ManagedIdentity:
	default:
		if p.NeedsTenant() {
			parts = append(parts, "tenant from "+p.DatabricksHost)
		} else {
			parts = append(parts, "authority "+p.AuthorityURL())
		}
	}
	parts = append(parts, "scopes "+strings.Join(p.Scopes, " "))
	if p.DatabricksHost != "" {
		parts = append(parts, "workspace "+p.DatabricksHost)
	}
	return strings.Join(parts, ", ")
}

// tokenClaims are the claims doctor shows. The token itself is never shown.
type tokenClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	TID   string   `json:"tid"`
	OID   string   `json:"oid"`
	AppID string   `json:"appid"`
	AZP   string   `json:"azp"`
	UPN   string   `json:"upn"`
	SCP   string   `json:"scp"`
	Roles []string `json:"roles"`
	Exp   int64    `json:"exp"`
}

// decodeClaims reads a JWT's payload without verifying it (the identity
// provider's signature is for the resource to check).
func decodeClaims(jwt string) (tokenClaims, error) {
	var c tokenClaims
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return c, errors.New("the access token is not a JWT: tokend serves it, but cannot show its claims")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, fmt.Errorf("the access token's payload is not base64url: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("the access token's payload is not JSON claims: %w", err)
	}
	return c, nil
}

func describeClaims(c tokenClaims, t *wire.Token, now time.Time) string {
	parts := []string{"aud " + c.Aud, "tid " + c.TID}
	if c.UPN != "" {
		parts = append(parts, "upn "+c.UPN)
	}
	if c.OID != "" {
		parts = append(parts, "oid "+c.OID)
	}
	app := c.AppID
	if app == "" {
		app = c.AZP
	}
	if app != "" {
		parts = append(parts, "appid "+app)
	}
	if c.SCP != "" {
		parts = append(parts, "scp "+c.SCP)
	}
	if len(c.Roles) > 0 {
		parts = append(parts, "roles "+strings.Join(c.Roles, " "))
	}
	exp := time.Unix(c.Exp, 0)
	if c.Exp == 0 {
		exp = time.Unix(t.ExpiresOn, 0)
	}
	parts = append(parts, fmt.Sprintf("exp %s (in %s)", exp.UTC().Format(time.RFC3339), exp.Sub(now).Round(time.Second)))
	return strings.Join(parts, ", ")
}

// audienceOf is the resource of a single "R/.default" scope, else "".
func audienceOf(scopes []string) string {
	if len(scopes) == 1 && strings.HasSuffix(scopes[0], "/.default") {
		return strings.TrimSuffix(scopes[0], "/.default")
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
