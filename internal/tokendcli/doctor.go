package tokendcli

import (
	"cmp"
	"context"
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
	"github.com/tokend/tokend/internal/cli"
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
		Args: cli.MaxArgs(1),
	}
	cfgFlag := cmd.Flags().String("config", "", "the config `FILE` (default: $TOKEND_CONFIG, else <user config dir>/tokend/config.toml)")
	cmd.MarkFlagFilename("config", "toml")
	out := cli.AddOutput(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		var name string
		if len(args) == 1 {
			name = args[0]
		}
		return doctor(cmd.Context(), *cfgFlag, name, out.JSON(), a.stdout)
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
		if err := cli.WriteJSON(stdout, struct {
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

// note prints a check that could not be made, which is no failure.
func (d *doctorRun) note(what, detail string) {
	fmt.Fprintf(d.out, "%-18s -     %s\n", what, detail)
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
	claims, err := entra.ReadClaims(tok.AccessToken)
	if err != nil {
		err = fmt.Errorf("%w: tokend serves it, but cannot show its claims", err)
	}
	d.report("token", err, describeClaims(claims, tok, time.Now()))
	if want := audienceOf(tok.Scopes); err == nil && want != "" && claims.Aud != want && claims.Aud != "api://"+want {
		d.report("token audience", fmt.Errorf("aud %q, but the scopes %s name %q", claims.Aud, strings.Join(tok.Scopes, " "), want), "")
	}

	if len(p.AllDatabricksHosts()) > 0 {
		d.checkDatabricks(ctx, c, st, p)
	}
	return !d.failed
}

// checkDatabricks checks each Databricks host of the profile: that tokend's
// metadata service answers for it (as the Databricks SDKs ask, over TCP,
// with a capability minted for the check and revoked after), and that the
// host accepts the token: a workspace's SCIM Me, the account console's SCIM
// Users. A host is an account console by its name (accounts.…), else by its
// host metadata (/.well-known/databricks-config), as the SDKs tell.
func (d *doctorRun) checkDatabricks(ctx context.Context, c *client.Client, st *wire.Status, p *config.Profile) {
	hc, err := entra.HTTPClient(p.CAFile)
	if err != nil {
		d.report("workspace", err, "")
		return
	}
	ms := d.metadataService(ctx, c, st, p)
	defer ms.close()
	dbx, err := c.Token(ctx, client.TokenRequest{Profile: p.Name, Scopes: []string{config.DatabricksScope}})
	if err != nil {
		d.report("workspace token", err, "")
		return
	}
	for _, h := range p.AllDatabricksHosts() {
		ms.check(h)
		meta := hostMetadata(ctx, hc, h)
		if config.IsAccountHost(h) || meta.HostType == "ACCOUNT_HOST" {
			id := cmp.Or(p.DatabricksAccountID, meta.AccountID)
			d.checkAccount(ctx, hc, p, h, id, dbx.AccessToken)
			continue
		}
		d.checkWorkspace(ctx, hc, c, p, h, dbx.AccessToken)
	}
}

// metadataProbe asks tokend's metadata service, over TCP, for each host.
type metadataProbe struct {
	d   *doctorRun
	c   *client.Client
	cp  *wire.Capability
	url string
	hc  *http.Client
	off string // why it cannot be checked
}

func (d *doctorRun) metadataService(ctx context.Context, c *client.Client, st *wire.Status, p *config.Profile) *metadataProbe {
	m := &metadataProbe{d: d, c: c, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}}
	if st.Listeners.TCP == "" {
		m.off = "tokend's TCP listener is off (daemon.http = \"\"): the Databricks SDKs cannot reach it"
		return m
	}
	cp, err := c.CreateCapability(ctx, wire.CapabilityRequest{Profile: p.Name, Kind: wire.CapabilityDatabricks, Label: "tokend doctor", TTLSeconds: 120})
	if err != nil {
		m.off = "cannot mint a capability to check it: " + err.Error()
		d.failed = true
		return m
	}
	m.cp = cp
	m.url, err = client.MetadataServiceURL(st.Listeners.TCP, cp.Token)
	if err != nil {
		m.off = err.Error()
	}
	return m
}

func (m *metadataProbe) check(host string) {
	if m.off != "" {
		m.d.note("metadata service", host+": "+m.off)
		return
	}
	req, err := http.NewRequest(http.MethodGet, m.url, nil)
	if err != nil {
		m.d.report("metadata service", err, "")
		return
	}
	req.Header.Set("X-Databricks-Metadata-Version", "1")
	req.Header.Set("X-Databricks-Host", host)
	resp, err := m.hc.Do(req)
	if err != nil {
		// The URL holds the capability: never print it.
		m.d.report("metadata service", fmt.Errorf("%s: GET %s: %v", host, redactURL(m.url), errors.Unwrap(err)), "")
		return
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   int64  `json:"expires_on"`
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		m.d.report("metadata service", fmt.Errorf("%s: HTTP %d: %s", host, resp.StatusCode, body.Description), "")
		return
	}
	m.d.report("metadata service", nil, fmt.Sprintf("%s: a token until %s, from %s", host, time.Unix(body.ExpiresOn, 0).UTC().Format(time.RFC3339), redactURL(m.url)))
}

func (m *metadataProbe) close() {
	if m.cp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.c.RevokeCapability(ctx, m.cp.ID)
	}
}

// redactURL is a metadata-service URL without its capability.
func redactURL(u string) string {
	if i := strings.Index(u, "/databricks/"); i >= 0 {
		return u[:i] + "/databricks/…"
	}
	return u
}

// hostInfo is what a Databricks host says of itself
// (/.well-known/databricks-config); empty when it does not.
type hostInfo struct {
	HostType  string `json:"host_type"`
	AccountID string `json:"account_id"`
}

func hostMetadata(ctx context.Context, hc *http.Client, host string) hostInfo {
	var hi hostInfo
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+"/.well-known/databricks-config", nil)
	if err != nil {
		return hi
	}
	resp, err := hc.Do(req)
	if err != nil {
		return hi
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&hi)
	}
	return hi
}

// checkAccount calls the account console's SCIM Users with the Azure
// Databricks token: 200 or 403 (not an account admin) say it accepts the
// token; 401 that it does not.
func (d *doctorRun) checkAccount(ctx context.Context, hc *http.Client, p *config.Profile, host, accountID, token string) {
	if accountID == "" {
		d.report("account", fmt.Errorf("%s is an account console: set databricks_account_id in profiles.%s of the config (the SDKs need it too)", host, p.Name), "")
		return
	}
	url := host + "/api/2.0/accounts/" + accountID + "/scim/v2/Users?count=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		d.report("account", err, "")
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		d.report("account", fmt.Errorf("GET %s: %v", url, err), "")
		return
	}
	defer resp.Body.Close()
	var body struct {
		Detail  string `json:"detail"`
		Message string `json:"message"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(data, &body)
	switch resp.StatusCode {
	case http.StatusOK:
		d.report("account", nil, fmt.Sprintf("%s (account %s) accepts the token as %s", host, accountID, p.Name))
	case http.StatusForbidden:
		d.report("account", nil, fmt.Sprintf("%s (account %s) accepts the token as %s, which is not an account admin (account APIs answer 403)", host, accountID, p.Name))
	default:
		why := cmp.Or(strings.TrimSpace(body.Detail+body.Message), http.StatusText(resp.StatusCode))
		d.report("account", fmt.Errorf("GET %s as %s: HTTP %d: %s (is the identity a user of account %s?)", url, p.Name, resp.StatusCode, truncate(why, 300), accountID), "")
	}
}

// checkWorkspace calls a workspace's SCIM Me endpoint with the profile's
// Azure Databricks token (and, for databricks_host with
// azure_workspace_resource_id, the headers of a service principal acting as
// workspace admin).
func (d *doctorRun) checkWorkspace(ctx context.Context, hc *http.Client, c *client.Client, p *config.Profile, host, token string) {
	url := host + "/api/2.0/preview/scim/v2/Me"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		d.report("workspace", err, "")
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	how := "as " + p.Name
	if p.AzureWorkspaceResourceID != "" && host == p.DatabricksHost {
		mgmt, err := c.Token(ctx, client.TokenRequest{Profile: p.Name, Resource: "https://management.core.windows.net/"})
		if err != nil {
			d.report("management token", err, "")
			return
		}
		mc, _ := entra.ReadClaims(mgmt.AccessToken)
		d.report("management token", nil, "aud "+mc.Aud+", for the SP-admin headers")
		req.Header.Set("X-Databricks-Azure-SP-Management-Token", mgmt.AccessToken)
		req.Header.Set("X-Databricks-Azure-Workspace-Resource-Id", p.AzureWorkspaceResourceID)
		how += " with the SP-admin headers"
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
		if p.AzureWorkspaceResourceID == "" && host == p.DatabricksHost {
			fix += " A service principal with a role on the workspace resource gets in as admin: set azure_workspace_resource_id"
		}
		d.report("workspace", fmt.Errorf("GET %s %s: HTTP %d: %s (%s)", url, how, resp.StatusCode, truncate(why, 300), fix), "")
		return
	}
	d.report("workspace", nil, fmt.Sprintf("%s accepts the token %s: userName %q", host, how, body.UserName))
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
	if hosts := p.AllDatabricksHosts(); len(hosts) > 0 {
		parts = append(parts, "Databricks "+strings.Join(hosts, " "))
	}
	return strings.Join(parts, ", ")
}

func describeClaims(c entra.Claims, t *wire.Token, now time.Time) string {
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
