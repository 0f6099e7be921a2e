package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/tokend/tokend/internal/config"
)

// HTTPClient is the client tokend uses for a profile: the system's roots
// plus the profile's ca_file.
func HTTPClient(caFile string) (*http.Client, error) { return httpClient(caFile) }

// Probe checks, without getting a token, that what a profile signs in with
// answers, and says what it found in one line: the authority's OpenID
// configuration for the flows that talk to Entra ID (and the workspace's
// tenant for a profile that discovers it), `az` on the PATH for azure-cli,
// the managed identity endpoint MSAL would use, and the federated token
// file. It looks at this process's environment, which may not be the
// daemon's.
func Probe(ctx context.Context, p *config.Profile, hc *http.Client) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	switch p.Flow {
	case "azure-cli":
		path, err := exec.LookPath("az")
		if err != nil {
			return "", errors.New("`az` is not on the PATH: install the Azure CLI (https://aka.ms/azure-cli); tokend runs it from its own PATH")
		}
		return "Azure CLI at " + path + " (tokend runs it from its own PATH)", nil
	case "managed-identity":
		src, err := managedidentity.GetSource()
		if err != nil {
			return "", fmt.Errorf("managed identity: %w", err)
		}
		where := map[managedidentity.Source]string{
			managedidentity.AppService:    "IDENTITY_ENDPOINT " + os.Getenv("IDENTITY_ENDPOINT"),
			managedidentity.ServiceFabric: "IDENTITY_ENDPOINT " + os.Getenv("IDENTITY_ENDPOINT"),
			managedidentity.CloudShell:    "MSI_ENDPOINT " + os.Getenv("MSI_ENDPOINT"),
			managedidentity.AzureML:       "MSI_ENDPOINT " + os.Getenv("MSI_ENDPOINT"),
			managedidentity.AzureArc:      "the Azure Arc agent",
			managedidentity.DefaultToIMDS: "the Instance Metadata Service at 169.254.169.254",
		}[src]
		return fmt.Sprintf("managed identity source %s: %s (as this shell's environment says; tokend uses its own)", src, where), nil
	}
	var note string
	if p.Flow == "workload-identity" {
		file, from := p.FederatedTokenFile, "federated_token_file"
		if file == "" {
			file, from = os.Getenv("AZURE_FEDERATED_TOKEN_FILE"), "$AZURE_FEDERATED_TOKEN_FILE"
		}
		if file == "" {
			return "", errors.New("no federated token file: set federated_token_file, or AZURE_FEDERATED_TOKEN_FILE in tokend's environment")
		}
		if _, err := os.Stat(file); err != nil {
			return "", fmt.Errorf("federated token file %s (%s): %s", file, from, errorText(err))
		}
		note = "; federated token file " + file + " (" + from + ")"
	}
	authority := p.AuthorityURL()
	if p.NeedsTenant() && p.DatabricksHost != "" {
		host, tenant, err := DiscoverTenant(ctx, hc, p.DatabricksHost)
		if err != nil {
			return "", err
		}
		authority = "https://" + host + "/" + tenant
		if p.Authority != "" {
			authority = strings.TrimRight(p.Authority, "/") + "/" + tenant
		}
		note += "; tenant " + tenant + " from " + p.DatabricksHost
	}
	u := strings.TrimRight(authority, "/") + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: %s", u, netSummary(err))
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &doc) != nil || doc.TokenEndpoint == "" {
		return "", fmt.Errorf("%s answered HTTP %d, not an OpenID configuration", u, resp.StatusCode)
	}
	return "OpenID configuration of " + authority + " (issuer " + doc.Issuer + ")" + note, nil
}
