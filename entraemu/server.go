package entraemu

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxFormBytes bounds request bodies.
const maxFormBytes = 1 << 20

// routes builds the emulator's HTTP API. Entra's own paths are matched
// without regard to case, as Entra matches them (MSAL for Python asks for
// /common/userrealm/…, MSAL Go for /common/UserRealm/…); the emulator's
// controls, the managed identity endpoints and the workspace are not.
func (e *Emulator) routes() http.Handler {
	entra := http.NewServeMux() // patterns in lower case

	// Discovery.
	entra.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", e.handleOpenIDConfig(true))
	entra.HandleFunc("GET /{tenant}/.well-known/openid-configuration", e.handleOpenIDConfig(false))
	entra.HandleFunc("GET /{tenant}/discovery/v2.0/keys", e.handleJWKS)
	entra.HandleFunc("GET /{tenant}/discovery/keys", e.handleJWKS)
	entra.HandleFunc("GET /common/discovery/instance", e.handleInstanceDiscovery)
	entra.HandleFunc("GET /common/userrealm/{upn}", e.handleUserRealm)

	// Protocol.
	entra.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", e.handleAuthorize)
	entra.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", e.handleAuthorize)
	entra.HandleFunc("POST /{tenant}/oauth2/v2.0/token", e.handleToken(false))
	entra.HandleFunc("POST /{tenant}/oauth2/token", e.handleToken(true))
	entra.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", e.handleDeviceCode)
	entra.HandleFunc("GET /devicelogin", e.handleDeviceLoginPage)
	entra.HandleFunc("POST /devicelogin", e.handleDeviceLoginSubmit)

	// The Azure CLI's custom-cloud view of the emulator (azurecli.go).
	e.azureCLIRoutes(entra)

	mux := http.NewServeMux()
	// Managed identity endpoints, workload identity and credential
	// controls (identities.go).
	e.identityRoutes(mux)
	// Test controls.
	e.adminRoutes(mux)
	// The Azure Databricks workspace (entraemu/workspace): /aad/auth,
	// /.well-known/databricks-config, SCIM Me.
	mux.Handle("/", e.workspace)

	return e.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr := r
		if lower := strings.ToLower(r.URL.Path); lower != r.URL.Path {
			lr = r.Clone(r.Context())
			lr.URL.Path, lr.URL.RawPath = lower, ""
		}
		if _, pattern := entra.Handler(lr); pattern != "" {
			entra.ServeHTTP(w, lr)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// statusWriter records the status and lets handlers add log attributes.
type statusWriter struct {
	http.ResponseWriter
	status int
	attrs  []slog.Attr
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// annotate adds attributes to the request's log line. Never pass secrets.
func annotate(w http.ResponseWriter, attrs ...slog.Attr) {
	if s, ok := w.(*statusWriter); ok {
		s.attrs = append(s.attrs, attrs...)
	}
}

// logRequests logs one line per request: method, path (never the query),
// status, duration and whatever the handler annotated.
func (e *Emulator) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		attrs := append([]slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)),
		}, sw.attrs...)
		e.log.LogAttrs(r.Context(), slog.LevelInfo, "emulator request", attrs...)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
}

// parsePostForm parses an application/x-www-form-urlencoded body; only body
// parameters count, as at Entra's token endpoint.
func parsePostForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return url.Values{}, errMalformed()
	}
	return r.PostForm, nil
}

// applyFault consumes the next pending Fault, if any, and reports whether
// the request should go on to its handler.
func (e *Emulator) applyFault(w http.ResponseWriter, r *http.Request) bool {
	e.mu.Lock()
	f, ok := e.takeFaultLocked()
	if ok {
		e.counts["faulted"]++
	}
	e.mu.Unlock()
	if !ok {
		return true
	}
	annotate(w, slog.Bool("faulted", true))
	if f.Delay > 0 && !sleep(r.Context(), f.Delay) {
		return false
	}
	if f.Status == 0 {
		return true
	}
	status := f.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	o := newError(status, "server_error", 50000, "There was an error issuing a token or an issue with our sign-in service. Please try again.")
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		o = newError(status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
	}
	if f.Error != "" {
		o.err = f.Error
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(f.RetryAfter.Seconds())), 10))
	}
	e.writeError(w, r, o)
	return false
}

// tenantOK answers unknown tenant path segments with Entra's error.
func (e *Emulator) tenantOK(w http.ResponseWriter, r *http.Request) bool {
	if t := r.PathValue("tenant"); !knownTenant(t) {
		e.writeError(w, r, errUnknownTenant(sanitize(t)))
		return false
	}
	return true
}

func issuer(host string) string { return "https://" + host + "/" + TenantID + "/v2.0" }

// handleOpenIDConfig serves the OpenID configuration MSAL resolves the
// authority with: it needs authorization_endpoint, token_endpoint and an
// issuer on the authority's host. Endpoints keep the request's tenant
// segment; the issuer always names TenantID.
func (e *Emulator) handleOpenIDConfig(v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !e.tenantOK(w, r) {
			return
		}
		host := hostOf(r)
		base := "https://" + host + "/" + strings.ToLower(r.PathValue("tenant"))
		doc := map[string]any{
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"grant_types_supported":                 []string{"authorization_code", "refresh_token", "password", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"},
			"code_challenge_methods_supported":      []string{"S256"},
			"request_uri_parameter_supported":       false,
			"http_logout_supported":                 true,
			"frontchannel_logout_supported":         true,
			"tenant_region_scope":                   "NA",
			"cloud_instance_name":                   host,
			"cloud_graph_host_name":                 host,
			"msgraph_host":                          host,
			"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "name", "preferred_username", "nonce", "ver"},
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
			"jwks_uri":                              base + "/discovery/v2.0/keys",
			"issuer":                                issuer(host),
		}
		if !v2 {
			// The v1 metadata names the v1 issuer, as Entra's does.
			doc["token_endpoint"] = base + "/oauth2/token"
			doc["jwks_uri"] = base + "/discovery/keys"
			doc["issuer"] = stsIssuer()
		}
		writeJSON(w, http.StatusOK, doc)
	}
}

func (e *Emulator) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !e.tenantOK(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, e.pki.jwks(issuer(hostOf(r))))
}

// handleInstanceDiscovery answers like Entra's instance discovery with this
// host as the only alias. MSAL only calls it with instance discovery on,
// and then at login.microsoftonline.com, so it is mostly for other clients.
func (e *Emulator) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r)
	tenant := "common"
	if u, err := url.Parse(r.URL.Query().Get("authorization_endpoint")); err == nil {
		if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) > 0 && knownTenant(parts[0]) {
			tenant = strings.ToLower(parts[0])
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// handleUserRealm is what MSAL asks before a password grant: it requires
// account_type, domain_name, cloud_instance_name and cloud_audience_urn,
// and takes the password grant only for "Managed".
func (e *Emulator) handleUserRealm(w http.ResponseWriter, r *http.Request) {
	e.count("userrealm")
	upn := r.PathValue("upn")
	_, domain, _ := strings.Cut(upn, "@")
	if !strings.EqualFold(domain, TenantDomain) {
		writeJSON(w, http.StatusOK, map[string]any{
			"ver":                 "1.0",
			"account_type":        "Unknown",
			"cloud_instance_name": "microsoftonline.com",
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ver":                 "1.0",
		"account_type":        "Managed",
		"domain_name":         TenantDomain,
		"cloud_instance_name": "microsoftonline.com",
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}
