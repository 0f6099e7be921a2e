package daemon

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/quote"
)

// msiPrefix is where the App Service managed-identity endpoint lives.
const msiPrefix = "/msi/"

// msiAPIVersion is the version of the App Service managed-identity protocol
// that tokend speaks, the one the Azure SDKs and MSAL send.
const msiAPIVersion = "2019-08-01"

// msiToken is the App Service managed-identity answer. Times are integer
// strings, as App Service sends them.
type msiToken struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	ExpiresIn   string `json:"expires_in"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

// msiError is the App Service managed-identity error body. Clients retry
// 408, 429 and 5xx, so permanent failures are 4xx.
type msiError struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// handleMSIToken serves GET /msi/token?api-version=2019-08-01&resource=R
// to the holder of the capability in X-IDENTITY-HEADER (checked by
// tcpGuard). The capability decides the identity: client_id, mi_res_id,
// object_id and principal_id select among a machine's identities on Azure,
// and are accepted and ignored here (DefaultAzureCredential sends
// AZURE_CLIENT_ID as client_id).
func (s *Server) handleMSIToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r.Context()).cap
	if c == nil {
		return newError(wire.CodeForbidden, "the managed-identity endpoint is served on tokend's TCP listener: run the program under `token exec PROFILE -- …`")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return newError(wire.CodeInvalidRequest, "malformed query: %v", err)
	}
	for _, k := range []string{"api-version", "resource", "client_id", "mi_res_id", "object_id", "principal_id"} {
		if len(q[k]) > 1 {
			return newError(wire.CodeInvalidRequest, "%s given %d times", k, len(q[k]))
		}
	}
	if v := q.Get("api-version"); v != msiAPIVersion {
		return newError(wire.CodeInvalidRequest, "api-version %s is not supported: tokend speaks %s", quote.String(v), msiAPIVersion)
	}
	resource := q.Get("resource")
	if resource == "" {
		return newError(wire.CodeInvalidRequest, "resource is required")
	}
	p, err := s.profileFor(r, "")
	if err != nil {
		return err
	}
	scopes, err := requestedScopes(nil, resource, nil)
	if err != nil {
		return err
	}
	if !c.allows(scopes) {
		return newError(wire.CodeForbidden, "this capability does not cover resource %s", quote.String(resource))
	}
	if err := c.admit(scopes, s.cfg.MaxCapabilityScopeSets); err != nil {
		return err
	}
	t, err := s.token(r.Context(), p, scopes)
	if err != nil {
		return err
	}
	s.audit(r, p, scopes, t.ExpiresOn)
	in := int64(t.ExpiresOn.Sub(s.clock.Now()) / time.Second)
	writeJSON(w, http.StatusOK, msiToken{
		AccessToken: t.AccessToken,
		ExpiresOn:   strconv.FormatInt(t.ExpiresOn.Unix(), 10),
		ExpiresIn:   strconv.FormatInt(in, 10),
		Resource:    resource,
		TokenType:   "Bearer",
		ClientID:    p.cfg.ClientID,
	})
	return nil
}
