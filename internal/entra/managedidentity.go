package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/tokend/tokend/internal/idp"
)

// managedIdentityFlow is the managed identity of the Azure host tokend runs
// on, through MSAL Go's managed identity client: system-assigned, or
// user-assigned named by client_id, managed_identity_resource_id or
// managed_identity_object_id. MSAL finds the host's endpoint the way every
// Azure SDK does, from the daemon's environment: IDENTITY_ENDPOINT and
// IDENTITY_HEADER (App Service, Functions, Container Apps; with
// IDENTITY_SERVER_THUMBPRINT, Service Fabric), MSI_ENDPOINT (Cloud Shell,
// Azure ML), Azure Arc, else the Instance Metadata Service at
// 169.254.169.254 (VMs, AKS nodes). A managed identity gets tokens for one
// resource at a time ("R/.default"). Nothing is stored; login just gets a
// token.
type managedIdentityFlow struct {
	s      *Source
	hc     *http.Client
	app    managedidentity.Client
	source managedidentity.Source
}

// noCache makes MSAL ask the endpoint. MSAL's managed identity client keeps
// a process-wide cache of access tokens that cannot be turned off, and
// skips it when claims are given; in MSAL Go (v1.10) the claims of a
// managed identity request are not sent anywhere. The daemon decides when
// to refresh (TestManagedIdentityFlow checks that every call reaches the
// endpoint and that no claims are sent).
const noCache = "tokend-refresh"

func newManagedIdentityFlow(s *Source) (*managedIdentityFlow, error) {
	p := s.profile
	id := managedidentity.SystemAssigned()
	switch {
	case p.ClientID != "":
		id = managedidentity.UserAssignedClientID(p.ClientID)
	case p.ManagedIdentityResourceID != "":
		id = managedidentity.UserAssignedResourceID(p.ManagedIdentityResourceID)
	case p.ManagedIdentityObjectID != "":
		id = managedidentity.UserAssignedObjectID(p.ManagedIdentityObjectID)
	}
	source, err := managedidentity.GetSource()
	if err != nil {
		return nil, fmt.Errorf("managed identity: %w", err)
	}
	hc := direct(s.opts.HTTPClient)
	// The daemon retries with backoff and Retry-After; MSAL's own retries
	// (three, a second apart) would only hold up a refresh.
	app, err := managedidentity.New(id, managedidentity.WithHTTPClient(hc), managedidentity.WithRetryPolicyDisabled())
	if err != nil {
		return nil, fmt.Errorf("managed identity (%s): %w", source, err)
	}
	return &managedIdentityFlow{s: s, hc: hc, app: app, source: source}, nil
}

// direct is hc without a proxy: managed identity endpoints are on the host
// itself (loopback, or the link-local 169.254.169.254, which
// ProxyFromEnvironment would send through a proxy).
func direct(hc *http.Client) *http.Client {
	tr, ok := hc.Transport.(*http.Transport)
	if !ok || tr.Proxy == nil {
		return hc
	}
	c := *hc
	tr = tr.Clone()
	tr.Proxy = nil
	c.Transport = tr
	return &c
}

func (f *managedIdentityFlow) login(ctx context.Context, _ idp.LoginRequest) (idp.Token, error) {
	return f.token(ctx, f.s.profile.Scopes)
}

func (f *managedIdentityFlow) forget() {}

func (f *managedIdentityFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") {
		return idp.Token{}, fmt.Errorf("a managed identity gets tokens for one resource: ask for a single scope RESOURCE/.default (or --resource), not %q", strings.Join(scopes, " "))
	}
	r, err := f.app.AcquireToken(ctx, scopes[0], managedidentity.WithClaims(noCache))
	if err != nil {
		return idp.Token{}, f.explain(err)
	}
	account, tenant := accountOf(r.AccessToken)
	if account == "" {
		account = f.s.profile.ClientID
	}
	return idp.Token{AccessToken: r.AccessToken, ExpiresOn: r.ExpiresOn, Account: account, TenantID: tenant}, nil
}

// explain turns a failure of the managed identity endpoint into an
// *idp.Error: 5xx, 429 and unreachable endpoints are temporary, other
// answers permanent. Both protocols' error bodies are read (App Service's
// {"statusCode","message"}, IMDS's OAuth {"error","error_description"}),
// from MSAL's message, since MSAL has consumed the body.
func (f *managedIdentityFlow) explain(err error) error {
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		e := &idp.Error{Status: ce.Resp.StatusCode, RetryAfter: retryAfter(ce.Resp.Header.Get("Retry-After"))}
		e.Temporary = e.Status == http.StatusTooManyRequests || e.Status >= 500
		if _, body, ok := strings.Cut(ce.Err.Error(), "\n"); ok {
			var b struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
				Message     string `json:"message"`
			}
			if json.Unmarshal([]byte(body), &b) == nil {
				e.Code = truncate(b.Error, 64)
				e.Description = truncate(firstLine(b.Description+b.Message), 300)
			}
		}
		if e.Code == "" {
			e.Code = "managed_identity"
		}
		if e.Description == "" {
			e.Description = fmt.Sprintf("the %s endpoint answered HTTP %d", f.source, e.Status)
		}
		return e
	}
	var netErr net.Error
	if errors.As(err, &netErr) && !errors.Is(err, context.Canceled) {
		where := "the managed identity endpoint"
		if f.source == managedidentity.DefaultToIMDS {
			where = "the Azure Instance Metadata Service (169.254.169.254; is tokend on an Azure VM with a managed identity, or IDENTITY_ENDPOINT unset where it is needed?)"
		}
		return &idp.Error{Temporary: true, Err: fmt.Errorf("%s did not answer: %s", where, netSummary(err))}
	}
	return err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}
