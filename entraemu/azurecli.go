package entraemu

import (
	"net/http"
	"slices"
	"strings"
)

// ADFSPath is the path of the emulator's ADFS-style authority,
// URL()+ADFSPath. The Azure CLI (MSAL Python) checks an unknown authority
// host online at login.microsoftonline.com unless the authority is ADFS
// style, so a custom cloud whose active-directory endpoint is this URL lets
// the CLI run against the emulator offline:
//
//	az cloud register -n emulator \
//	  --endpoint-active-directory https://127.0.0.1:PORT/adfs \
//	  --endpoint-active-directory-resource-id https://management.core.windows.net/ \
//	  --endpoint-active-directory-graph-resource-id https://graph.windows.net/ \
//	  --endpoint-resource-manager https://127.0.0.1:PORT/
//	az cloud set -n emulator
//	REQUESTS_CA_BUNDLE=ca.pem az login --service-principal --allow-no-subscriptions \
//	  -u ConfidentialClientID -p ClientSecret --tenant TenantID
//
// The authority's OpenID configuration sends MSAL on to the tenant's v2
// endpoints; GET /subscriptions (Azure Resource Manager) answers, for a
// token this emulator issued, that there are none.
const ADFSPath = "/adfs"

// azureCLIRoutes registers what the Azure CLI needs beyond Entra ID's own
// endpoints.
func (e *Emulator) azureCLIRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ADFSPath+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("tenant", TenantID)
		e.handleOpenIDConfig(true)(w, r)
	})
	mux.HandleFunc("GET /subscriptions", e.handleSubscriptions)
}

// handleSubscriptions is Azure Resource Manager's subscription list: empty,
// for a caller bearing an access token the emulator issued.
func (e *Emulator) handleSubscriptions(w http.ResponseWriter, r *http.Request) {
	e.count("subscriptions")
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" || !slices.Contains(e.Issued(), tok) {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://`+hostOf(r)+`/`+TenantID+`", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{
			"code":    "InvalidAuthenticationToken",
			"message": "The access token is missing or was not issued by this emulator.",
		}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []any{}})
}
