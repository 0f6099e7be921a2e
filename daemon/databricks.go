package daemon

import (
	"net/http"
	"slices"
	"strings"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/quote"
)

// databricksPrefix is where the Databricks metadata service lives; the rest
// of the path is the capability (checked by tcpGuard).
const databricksPrefix = "/databricks/"

// dbxToken is the Databricks metadata-service answer. expires_on is a JSON
// number of unix seconds.
type dbxToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresOn   int64  `json:"expires_on"`
}

// handleDatabricks serves the Databricks metadata service (version 1), which
// the Databricks SDKs and CLI call with DATABRICKS_AUTH_TYPE=metadata-service
// (or a .databrickscfg profile's metadata_service_url): GET
// /databricks/<capability> with X-Databricks-Metadata-Version: 1 and
// X-Databricks-Host naming the host the SDK talks to, which must be one of
// the profile's Databricks hosts (databricks_host, databricks_hosts: its
// workspaces and the account console), and of those the capability was
// narrowed to, if it was.
// The token is for the Azure Databricks resource, which every workspace and
// the account console accept.
func (s *Server) handleDatabricks(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r.Context()).cap
	if c == nil {
		return newError(wire.CodeForbidden, "the Databricks metadata service is served on tokend's TCP listener: run the program under `token exec PROFILE -- …`")
	}
	if r.Method != http.MethodGet {
		return errorf(http.StatusMethodNotAllowed, wire.CodeInvalidRequest, "the metadata service answers GET only")
	}
	if v := r.Header.Get("X-Databricks-Metadata-Version"); v != "1" {
		return newError(wire.CodeInvalidRequest, "X-Databricks-Metadata-Version %s is not supported: tokend speaks version 1", quote.String(v))
	}
	host := r.Header.Get("X-Databricks-Host")
	if host == "" {
		return newError(wire.CodeInvalidRequest, "X-Databricks-Host is required")
	}
	p, err := s.profileFor(r, "")
	if err != nil {
		return err
	}
	hosts := p.cfg.AllDatabricksHosts()
	if len(hosts) == 0 {
		return newError(wire.CodeInvalidRequest, "profile %s has no databricks_host: set it in the config", p.cfg.Name)
	}
	h, err := config.NormalizeHost(host)
	switch {
	case err != nil || !slices.Contains(hosts, h):
		return newError(wire.CodeForbidden, "X-Databricks-Host %s is not a Databricks host of profile %s (%s): add it to databricks_hosts in the config", quote.String(host), p.cfg.Name, strings.Join(hosts, ", "))
	case len(c.hosts) > 0 && !slices.Contains(c.hosts, h):
		return newError(wire.CodeForbidden, "X-Databricks-Host %s: this capability was minted for %s; mint another (`token databricks configure`, `token env`)", quote.String(host), hostsOrNone(c.hosts))
	}
	scopes := []string{config.DatabricksScope}
	if !c.allows(scopes) {
		return newError(wire.CodeForbidden, "this capability does not cover Azure Databricks")
	}
	if err := c.admit(scopes, s.cfg.MaxCapabilityScopeSets); err != nil {
		return err
	}
	t, err := s.token(r.Context(), p, scopes)
	if err != nil {
		return err
	}
	s.audit(r, p, scopes, t.ExpiresOn)
	writeJSON(w, http.StatusOK, dbxToken{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresOn: t.ExpiresOn.Unix()})
	return nil
}

func hostsOrNone(hosts []string) string {
	if len(hosts) == 0 {
		return "no Databricks host"
	}
	return strings.Join(hosts, ", ")
}
