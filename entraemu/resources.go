package entraemu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Resource is an API that tokens can be issued for: a service principal in
// the tenant. A request naming anything else is refused with
// invalid_resource AADSTS500011, as Entra refuses a resource principal it
// cannot find in the tenant.
type Resource struct {
	// AppID is the application (client) id; scopes and resource= may name
	// the resource by it. v2.0 tokens always carry it as aud.
	AppID string `json:"app_id"`
	// IdentifierURIs are the other names of the resource (application ID
	// URIs): "https://management.core.windows.net/", "api://…". They match
	// without regard to case or a trailing slash.
	IdentifierURIs []string `json:"identifier_uris,omitempty"`
	// Name is the display name.
	Name string `json:"name"`
	// Scopes are its delegated permissions (oauth2PermissionScopes). A
	// user token for ".default" gets those the user consented to the
	// client for (all, unless withdrawn with SetScopeConsent); a named
	// scope not among them is refused with invalid_scope.
	Scopes []string `json:"scopes,omitempty"`
	// Roles are the app roles app tokens (client credentials) carry.
	Roles []string `json:"roles,omitempty"`
	// TokenVersion is the access token version the resource accepts
	// (accessTokenAcceptedVersion): 2, or 1 for anything else, as null
	// means 1 in Entra.
	TokenVersion int `json:"token_version,omitempty"`
}

// The resources of the fixture. Their ids are the real, public application
// ids; their access token versions are what Entra issues for them.
const (
	// ManagementResource is Azure Resource Manager (application id
	// ManagementAppID): the audience of the
	// X-Databricks-Azure-SP-Management-Token header.
	ManagementResource = "https://management.core.windows.net/"
	// ManagementAppID is Azure Resource Manager's application id.
	ManagementAppID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
	// GraphResource is Microsoft Graph's application id: the audience of
	// tokens whose scopes name no resource ("User.Read", or only OIDC
	// scopes).
	GraphResource = "00000003-0000-0000-c000-000000000000"
	// TestAPIResource is the fixture's own API, an app registration with
	// accessTokenAcceptedVersion 2 (v2.0 tokens) and the delegated scope
	// "access_as_user": api://tokend-test/access_as_user.
	TestAPIResource = "api://tokend-test"
	// TestAPIAppID is TestAPIResource's application id.
	TestAPIAppID = "7e57a410-aaaa-4bbb-8ccc-000000000004"
)

// knownResources is the fixture's registry. Token versions: Microsoft's
// first-party APIs (Graph, Azure Resource Manager, Azure Databricks, …)
// accept v1.0 tokens, whatever endpoint issued them ("The version of the
// access token depends on the configuration of the API (the resource), not
// the endpoint": https://learn.microsoft.com/entra/identity-platform/access-tokens#token-formats);
// an app registration accepts what its manifest's
// accessTokenAcceptedVersion says, null meaning 1
// (https://learn.microsoft.com/entra/identity-platform/reference-microsoft-graph-app-manifest#accesstokenacceptedversion-attribute).
func knownResources() []Resource {
	return []Resource{
		{AppID: DatabricksResource, Name: "AzureDatabricks", Scopes: []string{"user_impersonation"},
			IdentifierURIs: []string{"api://" + DatabricksResource}},
		{AppID: ManagementAppID, Name: "Windows Azure Service Management API", Scopes: []string{"user_impersonation"},
			IdentifierURIs: []string{ManagementResource, "https://management.azure.com/"}},
		{AppID: GraphResource, Name: "Microsoft Graph",
			IdentifierURIs: []string{"https://graph.microsoft.com/"},
			Scopes:         []string{"User.Read", "Mail.Read", "Mail.Send"}},
		{AppID: "00000002-0000-0000-c000-000000000000", Name: "Windows Azure Active Directory",
			IdentifierURIs: []string{"https://graph.windows.net/"}, Scopes: []string{"User.Read"}},
		{AppID: "499b84ac-1321-427f-aa17-267ca6975798", Name: "Azure DevOps", Scopes: []string{"user_impersonation"},
			IdentifierURIs: []string{"https://app.vssps.visualstudio.com/"}},
		{AppID: "6dae42f8-4368-4678-94ff-3960e28e3630", Name: "Azure Kubernetes Service AAD Server", Scopes: []string{"user.read"}},
		{AppID: "cfa8b339-82a2-471a-a3c9-0fc0be7a4093", Name: "Azure Key Vault", Scopes: []string{"user_impersonation"},
			IdentifierURIs: []string{"https://vault.azure.net/"}},
		{AppID: "e406a681-f3d4-42a8-90b6-c2b029497af1", Name: "Azure Storage", Scopes: []string{"user_impersonation"},
			IdentifierURIs: []string{"https://storage.azure.com/"}},
		{AppID: TestAPIAppID, Name: "tokend emulator test API", IdentifierURIs: []string{TestAPIResource},
			Scopes: []string{"access_as_user"}, Roles: []string{"Emulator.Default"}, TokenVersion: 2},
	}
}

// resourceKey is how a resource name is looked up: lower case, without a
// trailing slash.
func resourceKey(name string) string { return strings.TrimSuffix(strings.ToLower(name), "/") }

// RegisterResource adds (or replaces, by AppID) a resource, as creating an
// app registration that exposes an API does. AppID is derived from the
// first identifier URI when empty; Scopes default to
// ["user_impersonation"] and Roles to ["Emulator.Default"]. Every user
// consents to every client for its scopes at first (see SetScopeConsent).
func (e *Emulator) RegisterResource(r Resource) error {
	if r.AppID == "" {
		if len(r.IdentifierURIs) == 0 {
			return errors.New("emulator: a resource needs an app id or an identifier URI")
		}
		r.AppID = derivedGUID("resource", resourceKey(r.IdentifierURIs[0]))
	}
	r.AppID = strings.ToLower(r.AppID)
	for _, n := range append([]string{r.AppID}, r.IdentifierURIs...) {
		if !validResource(resourceKey(n)) || strings.ContainsAny(n, " \t\r\n") {
			return fmt.Errorf("emulator: %q is not a resource name", n)
		}
	}
	if len(r.Roles) == 0 {
		r.Roles = []string{"Emulator.Default"}
	}
	if len(r.Scopes) == 0 {
		r.Scopes = []string{"user_impersonation"}
	}
	if r.Name == "" {
		r.Name = r.AppID
	}
	r.IdentifierURIs = slices.Clone(r.IdentifierURIs)
	r.Scopes = slices.Clone(r.Scopes)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.registerResourceLocked(r)
	return nil
}

func (e *Emulator) registerResourceLocked(r Resource) {
	if old := e.resourcesByID[r.AppID]; old != nil {
		for _, n := range old.IdentifierURIs {
			delete(e.resourceNames, resourceKey(n))
		}
	}
	rp := &r
	e.resourcesByID[r.AppID] = rp
	e.resourceNames[resourceKey(r.AppID)] = rp
	for _, n := range r.IdentifierURIs {
		e.resourceNames[resourceKey(n)] = rp
	}
}

// Resources lists the registered resources.
func (e *Emulator) Resources() []Resource {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Resource, 0, len(e.resourcesByID))
	for _, r := range e.resourcesByID {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// lookupResource finds a resource by app id or identifier URI.
func (e *Emulator) lookupResource(name string) *Resource {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.resourcesByID[e.resourceIDLocked(name)]
}

func (e *Emulator) resourceIDLocked(name string) string {
	if r := e.resourceNames[resourceKey(name)]; r != nil {
		return r.AppID
	}
	return ""
}

// errUnknownResource is Entra's answer for a resource that is not in the
// tenant, at both token endpoints (the v2 scope and the v1 resource
// parameter alike): HTTP 400 invalid_resource AADSTS500011
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes,
// "InvalidResourceServicePrincipalNotFound"; the wording as Entra sends it,
// e.g. github.com/rootinc/laravel-azure-middleware/issues/51).
func errUnknownResource(name string) *oauthError {
	return newError(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", sanitize(name), TenantDomain)
}

// errUnknownScope is the token endpoint's answer for a delegated
// permission the resource does not expose: invalid_scope AADSTS70011
// ("InvalidScope - The scope requested is invalid",
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
func errUnknownScope(scope string) *oauthError {
	return errInvalidScope(70011, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope '%s' does not exist.", sanitize(scope))
}

// errScopeNotOnResource is the authorization endpoint's answer for the same
// mistake: AADSTS650053 ("The application '…' asked for scope '…' that
// doesn't exist on the resource '…'. Contact the app vendor.", sent as
// invalid_client; e.g. github.com/MicrosoftDocs/azure-docs/issues/67211).
func errScopeNotOnResource(c *client, perm, resourceID string) *oauthError {
	return errInvalidClient(650053, "The application '%s' asked for scope '%s' that doesn't exist on the resource '%s'. Contact the app vendor.", c.name, sanitize(perm), resourceID)
}

// resolveScopes checks a parsed request against the registry: the resource
// must exist, and (for user tokens) each named permission must be one of
// its delegated scopes. It fills in ss.res.
func (e *Emulator) resolveScopes(ss *scopeSet, user bool, authorize bool, c *client) *oauthError {
	if ss.resource == "" {
		return nil
	}
	r := e.lookupResource(ss.resource)
	if r == nil {
		return errUnknownResource(ss.resource)
	}
	ss.res = r
	if !user {
		return nil
	}
	for i, p := range ss.perms {
		if p == ".default" || containsFold(r.Scopes, p) {
			continue
		}
		if authorize {
			return errScopeNotOnResource(c, p, r.AppID)
		}
		name := joinScope(ss.resource, p)
		if i < len(ss.raw) {
			name = ss.raw[i]
		}
		return errUnknownScope(name)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

// joinScope writes a scope back the way it was asked: bare permissions of
// Microsoft Graph stay bare.
func joinScope(resource, perm string) string {
	if resource == GraphResource {
		return perm
	}
	return resource + "/" + perm
}
