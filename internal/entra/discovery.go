package entra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/idp"
)

// discoveryTimeout bounds the one request tenant discovery makes.
const discoveryTimeout = 15 * time.Second

// DiscoverTenant asks an Azure Databricks workspace which Entra ID tenant it
// signs in with. GET <workspace>/aad/auth answers with a redirect to
// https://<authority host>/<tenant>/oauth2/authorize?…; the redirect is not
// followed. It returns the authority host (lowercase, with any port) and the
// tenant. Transport failures are temporary *idp.Error values.
func DiscoverTenant(ctx context.Context, hc *http.Client, workspace string) (host, tenant string, err error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	u := strings.TrimRight(workspace, "/") + "/aad/auth"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", "", fmt.Errorf("tenant discovery: %w", err)
	}
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Do(req)
	if err != nil {
		return "", "", &idp.Error{Temporary: true, Err: fmt.Errorf("tenant discovery from %s: %s", workspace, netSummary(err))}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", "", &idp.Error{Temporary: true, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
			Err: fmt.Errorf("tenant discovery: %s answered HTTP %d", u, resp.StatusCode)}
	case resp.StatusCode/100 != 3:
		return "", "", fmt.Errorf("tenant discovery: %s answered HTTP %d, not a redirect to Entra ID (is databricks_host an Azure Databricks workspace?)", u, resp.StatusCode)
	}
	host, tenant, err = ParseAuthRedirect(resp.Header.Get("Location"))
	if err != nil {
		return "", "", fmt.Errorf("tenant discovery from %s: %w", workspace, err)
	}
	return host, tenant, nil
}

// tenantSyntax is a tenant id (GUID) or a verified domain name.
var tenantSyntax = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$`)

// ParseAuthRedirect takes the authority host and tenant out of the
// Location of a workspace's /aad/auth answer:
// https://login.microsoftonline.com/<tenant>/oauth2/authorize?…
func ParseAuthRedirect(location string) (host, tenant string, err error) {
	if location == "" {
		return "", "", errors.New("no Location in the redirect")
	}
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "", "", fmt.Errorf("redirect to %s: not an https URL", quoteShort(location))
	}
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	if !strings.HasPrefix(rest, "oauth2/") {
		return "", "", fmt.Errorf("redirect to %s: not an Entra ID authorize URL", quoteShort(location))
	}
	switch strings.ToLower(tenant) {
	case "common", "organizations", "consumers":
		return "", "", fmt.Errorf("redirect names no tenant (%q)", tenant)
	}
	if !tenantSyntax.MatchString(tenant) {
		return "", "", fmt.Errorf("redirect names no tenant (%s)", quoteShort(tenant))
	}
	return strings.ToLower(u.Host), strings.ToLower(tenant), nil
}

// quoteShort quotes untrusted text for an error message, cut to a
// readable length.
func quoteShort(s string) string {
	q := strconv.Quote(s)
	if len(q) > 100 {
		return q[:100] + "…"
	}
	return q
}

// discoveringFlow stands for the flow of a profile whose tenant comes from
// its databricks_host: on first use it discovers the tenant, writes it into
// the Source's own copy of the profile, then builds the real flow. A failed
// discovery is tried again on the next use. Its lock (flows of credentials
// run in parallel) orders the tenant's one write before every use of it.
type discoveringFlow struct {
	s     *Source
	build func(*Source) (provider, error)

	mu    sync.Mutex
	inner provider
}

// ready returns the real flow, discovering the tenant first if need be.
func (f *discoveringFlow) ready(ctx context.Context) (provider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inner != nil {
		return f.inner, nil
	}
	p := f.s.profile
	host, tenant, err := DiscoverTenant(ctx, f.s.opts.HTTPClient, p.DatabricksHost)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w (or set tenant in the config)", p.Name, err)
	}
	if want := p.AuthorityHost(); host != want {
		fix := "set authority"
		for cloud, h := range config.AuthorityHosts {
			if h == host && p.Authority == "" {
				fix = fmt.Sprintf("set cloud = %q", cloud)
			}
		}
		return nil, fmt.Errorf("profile %s: workspace %s signs in at %s, but the profile at %s: %s", p.Name, p.DatabricksHost, host, want, fix)
	}
	p.Tenant = tenant
	inner, err := f.build(f.s)
	if err != nil {
		p.Tenant = ""
		return nil, err
	}
	f.inner = inner
	f.s.opts.Logger.Info("tenant discovered", "profile", p.Name, "workspace", p.DatabricksHost, "tenant", tenant)
	return inner, nil
}

func (f *discoveringFlow) login(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	in, err := f.ready(ctx)
	if err != nil {
		return idp.Token{}, err
	}
	return in.login(ctx, req)
}

func (f *discoveringFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	in, err := f.ready(ctx)
	if err != nil {
		return idp.Token{}, err
	}
	return in.token(ctx, scopes)
}

func (f *discoveringFlow) forget() {
	f.mu.Lock()
	in := f.inner
	f.mu.Unlock()
	if in != nil {
		in.forget()
	}
}
