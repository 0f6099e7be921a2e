package compattest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
)

// childReport is what a child program prints: the capability it was given
// (to check its revocation afterwards) and the tokens it got.
type childReport struct {
	Capability string        `json:"capability"`
	Results    []childResult `json:"results"`
}

type childResult struct {
	Resource  string `json:"resource"`
	Token     string `json:"token"`
	ExpiresOn int64  `json:"expires_on"`
}

// childResources are the two resources every managed-identity child asks
// for.
var childResources = []string{mgmtResource, databricksResource}

// runChild is the test binary run by `token exec` as an unmodified client
// program: it gets tokens the way mode's SDK does, from the environment
// token exec set, and prints a childReport.
func runChild(mode string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := childReport{Capability: os.Getenv("IDENTITY_HEADER")}
	var err error
	switch mode {
	case "azidentity-mi":
		var cred azcore.TokenCredential
		if cred, err = azidentity.NewManagedIdentityCredential(nil); err == nil {
			rep.Results, err = azureTokens(ctx, cred)
		}
	case "azidentity-dac":
		var cred azcore.TokenCredential
		if cred, err = azidentity.NewDefaultAzureCredential(nil); err == nil {
			rep.Results, err = azureTokens(ctx, cred)
		}
	case "msal-mi":
		rep.Results, err = msalTokens(ctx)
	case "databricks":
		var r childResult
		if r, err = databricksToken(ctx); err == nil {
			rep.Results = []childResult{r}
		}
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 1
	}
	return 0
}

// azureTokens asks an Azure SDK credential for each resource, as an Azure
// SDK client would (scope = resource + "/.default").
func azureTokens(ctx context.Context, cred azcore.TokenCredential) ([]childResult, error) {
	var out []childResult
	for _, r := range childResources {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{r + "/.default"}})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		out = append(out, childResult{Resource: r, Token: tok.Token, ExpiresOn: tok.ExpiresOn.Unix()})
	}
	return out, nil
}

// msalTokens uses MSAL Go's managed-identity client, which detects App
// Service from IDENTITY_ENDPOINT and IDENTITY_HEADER.
func msalTokens(ctx context.Context) ([]childResult, error) {
	if src, err := managedidentity.GetSource(); err != nil || src != managedidentity.AppService {
		return nil, fmt.Errorf("MSAL sees managed-identity source %q (%v), want AppService", src, err)
	}
	mi, err := managedidentity.New(managedidentity.SystemAssigned())
	if err != nil {
		return nil, err
	}
	var out []childResult
	for _, r := range childResources {
		ar, err := mi.AcquireToken(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		out = append(out, childResult{Resource: r, Token: ar.AccessToken, ExpiresOn: ar.ExpiresOn.Unix()})
	}
	return out, nil
}

// databricksToken is a Databricks metadata-service client written from the
// protocol in docs/contract.md, as the Databricks SDKs implement it (the SDK is
// not reachable here): DATABRICKS_AUTH_TYPE=metadata-service, a URL on
// localhost or 127.0.0.1 only, the version and host headers, expires_on a
// JSON number.
func databricksToken(ctx context.Context) (childResult, error) {
	if v := os.Getenv("DATABRICKS_AUTH_TYPE"); v != "metadata-service" {
		return childResult{}, fmt.Errorf("DATABRICKS_AUTH_TYPE = %q", v)
	}
	host, msURL := os.Getenv("DATABRICKS_HOST"), os.Getenv("DATABRICKS_METADATA_SERVICE_URL")
	if host == "" || msURL == "" {
		return childResult{}, errors.New("DATABRICKS_HOST or DATABRICKS_METADATA_SERVICE_URL unset")
	}
	return metadataServiceToken(ctx, msURL, host)
}

// metadataServiceToken asks the metadata service at msURL for a token for
// host, as the Databricks SDKs do (config/auth_metadata_service.go).
func metadataServiceToken(ctx context.Context, msURL, host string) (childResult, error) {
	u, err := url.Parse(msURL)
	if err != nil {
		return childResult{}, err
	}
	if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
		return childResult{}, fmt.Errorf("invalid Databricks Metadata Service URL host %q", h)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, msURL, nil)
	if err != nil {
		return childResult{}, err
	}
	req.Header.Set("X-Databricks-Metadata-Version", "1")
	req.Header.Set("X-Databricks-Host", host)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return childResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return childResult{}, fmt.Errorf("metadata service: %s", resp.Status)
	}
	var body struct {
		AccessToken string      `json:"access_token"`
		TokenType   string      `json:"token_type"`
		ExpiresOn   json.Number `json:"expires_on"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return childResult{}, err
	}
	exp, err := body.ExpiresOn.Int64()
	if err != nil {
		return childResult{}, fmt.Errorf("expires_on %q: %w", body.ExpiresOn, err)
	}
	if body.TokenType != "Bearer" || body.AccessToken == "" || !time.Unix(exp, 0).After(time.Now()) {
		return childResult{}, fmt.Errorf("unusable answer: type %q, expires %v", body.TokenType, time.Unix(exp, 0))
	}
	return childResult{Resource: databricksResource, Token: body.AccessToken, ExpiresOn: exp}, nil
}
