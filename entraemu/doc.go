// Package entraemu is an offline Microsoft Entra ID: the v2.0 and v1 token
// endpoints, sign-in, device code, managed identity and workload identity,
// over TLS with its own CA, close enough to Entra that the real MSAL Go,
// MSAL for Python and the Azure CLI work against it unchanged. Where it
// behaves as Entra does, the code names its source (Entra's documentation
// or MSAL's code) next to the behaviour. `tokend emulator` runs it alone;
// tokend's tests use it as their identity provider; your tests can too.
//
// # Quick start
//
// In a test, [NewTest] starts one on a free loopback port and stops it when
// the test ends:
//
//	emu := entraemu.NewTest(t, entraemu.Config{})
//	app, _ := confidential.New(emu.Authority(), entraemu.ConfidentialClientID, cred,
//		confidential.WithHTTPClient(emu.HTTPClient()), // trusts only the emulator's CA (emu.CertPool())
//		confidential.WithInstanceDiscovery(false))    // never ask login.microsoftonline.com
//
// Elsewhere, [New] and [Emulator.Start] (see the Example). Give MSAL the
// [Emulator.Authority] and an HTTP client trusting [Emulator.CertPool]
// ([Emulator.HTTPClient] is one); MSAL for Python and the Azure CLI take
// the CA from REQUESTS_CA_BUNDLE ([Emulator.CAPEM], or Config.Dir/ca.pem).
// Started on port 443, the emulator's URLs leave the port out, as browsers
// and MSAL write them. MSAL for Python asks the user realm on the
// authority's host at port 443 before a username/password sign-in, so that
// flow needs the emulator there (any loopback address: 127.0.0.2:443 …).
//
// # Fixture
//
// One tenant, [TenantID] (domain tokend.test). Public clients
// [PublicClientID], [AzureCLIClientID] (a family-of-client-ids app, as the
// real Azure CLI is) and [SPAClientID] (a single-page app); confidential
// client [ConfidentialClientID] with [ClientSecret] and a client
// certificate ([Emulator.ClientCertificate], or Dir/client.pem). Users
// [Username] and [SecondUsername], both with [Password]. GET
// /_emulator/fixture prints it all as JSON ([Fixture]).
//
// Resources: tokens are issued only for resources the tenant has (a
// service principal): Azure Databricks ([DatabricksResource], delegated
// permission user_impersonation), Azure Resource Manager
// ([ManagementResource], also https://management.azure.com/), Microsoft
// Graph ([GraphResource], https://graph.microsoft.com: User.Read,
// Mail.Read, Mail.Send), Azure AD Graph, Azure DevOps, the AKS AAD server,
// Key Vault, Storage, and the fixture's own API [TestAPIResource]
// (access_as_user, v2.0 tokens). [Emulator.RegisterResource] (or
// Config.Resources, or POST /_emulator/resource) adds more: an app
// registration exposing an API. [Emulator.Resources] lists them.
//
// # What it answers as Entra does
//
//   - Refresh tokens: every redemption returns a new one and the one
//     redeemed stays valid until it expires (90 days; 24 hours for a
//     single-page app's, counted from the first) or the user's sessions are
//     revoked ([Emulator.RevokeUser]: AADSTS50173). Config.StrictRefreshRotation
//     (or [Emulator.SetStrictRotation], POST /_emulator/rotation) instead
//     retires a token once one of its successors has been redeemed
//     (AADSTS70000), to model a provider that rotates one-time.
//   - Access token versions follow the resource's accepted version, not
//     the endpoint: v1.0 (iss https://sts.windows.net/{tenant}/, appid,
//     appidacr, upn, unique_name, given_name, family_name; aud as the
//     request named the resource) for Microsoft's APIs and app
//     registrations by default, v2.0 (iss {authority}/v2.0, azp, azpacr,
//     preferred_username; aud the API's application id) for a resource
//     with TokenVersion 2. ID tokens follow the endpoint. scp lists every
//     permission the user consented to on the resource; app tokens carry
//     the resource's roles.
//   - Refusals: an unknown resource is invalid_resource AADSTS500011 (v2
//     scope and v1 resource= alike, and the managed identity endpoints); a
//     permission the resource does not expose is invalid_scope AADSTS70011
//     at the token endpoint and AADSTS650053 at /authorize; more than one
//     resource, AADSTS28000; client credentials without /.default,
//     AADSTS1002012, and on /common or /organizations (no tenant),
//     AADSTS50059; consent missing (an app or one permission, see
//     [Emulator.SetConsent] and [Emulator.SetScopeConsent]) is invalid_grant
//     AADSTS65001 with suberror consent_required for grants that cannot ask
//     the user; a public client whose "Allow public client flows" is off
//     ([Emulator.SetPublicClientFlows]) is invalid_client AADSTS7000218 for
//     the device code, password and refresh token grants; an unknown user at
//     the password grant, AADSTS50034; a wrong password, AADSTS50126.
//   - ".default" for a user returns the granted delegated permissions in
//     "scope" (for Azure Databricks, 2ff814a6-…/user_impersonation),
//     then ".default" and the OIDC scopes asked for, which MSAL requires.
//   - PKCE (S256) is required of single-page apps only (AADSTS9002325);
//     a challenge sent by any client is checked (AADSTS501481).
//   - The Azure CLI's client id gets "foci":"1" with its refresh tokens,
//     which any family client may redeem.
//   - Paths of Entra's endpoints match without regard to case
//     (/common/userrealm/… as MSAL for Python writes it).
//   - Errors are Entra-shaped: {"error", "error_description": "AADSTSnnnn:
//     … Trace ID … Correlation ID … Timestamp …", "error_codes",
//     "timestamp", "trace_id", "correlation_id", "error_uri", and
//     "suberror" where Entra sends one}.
//
// # Endpoints
//
// {tenant} is TenantID, "common", "organizations", "consumers" or
// "tokend.test"; tokens always carry tid = TenantID. URLs in responses use
// the request's Host, so any port works.
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration  (v1: /{tenant}/.well-known/openid-configuration, v1 issuer)
//	GET  /{tenant}/discovery/v2.0/keys                    JWKS (kid = x5t, x5c)
//	GET  /common/discovery/instance                       instance discovery, this host as the only alias
//	GET  /common/userrealm/{upn}?api-version=1.0          "Managed" for tokend.test users
//	GET  /{tenant}/oauth2/v2.0/authorize                  the sign-in page (below)
//	POST /{tenant}/oauth2/v2.0/devicecode                 device authorization
//	GET  /devicelogin                                     verification page: type the user code to approve (or deny)
//	POST /{tenant}/oauth2/v2.0/token                      v2 token endpoint
//	POST /{tenant}/oauth2/token                           v1 token endpoint (resource= instead of scope=)
//	GET  /adfs/.well-known/openid-configuration           an ADFS-style authority for the Azure CLI (see ADFSPath)
//	GET  /subscriptions                                   Azure Resource Manager's subscription list: none
//	GET  /msi/token, /metadata/identity/oauth2/token      managed identity (below)
//	GET  /api/2.0/preview/scim/v2/Me                      the Azure Databricks workspace (below)
//	GET  /.well-known/databricks-config                   its host metadata
//	GET  /aad/auth                                        its sign-in redirect, for tenant discovery
//
// Token grants: authorization_code, refresh_token, password,
// client_credentials (client_secret, HTTP Basic, or a client_assertion JWT
// signed RS256 or PS256 by a registered certificate named by x5t#S256 or
// x5t, aud = a token endpoint or the issuer, checked against both the real
// and the emulator clock), and device_code (authorization_pending until
// approved, expired_token after 15 minutes). The resource of a scope is
// the part before its last "/" ("<guid>/.default" → "<guid>"); openid,
// profile, email and offline_access are OIDC scopes; no resource means
// Microsoft Graph. Access tokens are RS256 JWTs living a uniform random
// whole number of seconds in [MinLifetime, MaxLifetime], 60–90 minutes by
// default.
//
// # Sign-in page
//
// /authorize shows a page a person understands: "Sign in" with username
// (prefilled from login_hint) and password, or, with prompt=select_account
// and accounts signed in to this browser, an account picker; and Cancel. A
// wrong password or an unknown user is said on the page (AADSTS50126,
// AADSTS50034); Cancel redirects with error=access_denied,
// error_subcode=cancel (AADSTS65004). The browser session is a cookie
// (ESTSAUTH): without prompt, a browser with one signed-in account (or the
// one login_hint names) is signed in at once; prompt=login always asks;
// prompt=none never shows a page and redirects with login_required
// (AADSTS50058) when nobody is signed in. The code goes back to the
// redirect URI (http on localhost, 127.0.0.1 or [::1]) by query (302),
// fragment, or form_post (an auto-submitting page, as MSAL's
// AcquireTokenInteractive asks). Codes are single use (AADSTS54005) and
// live 10 minutes. Signing in consents to what the app asked for.
//
// The page's form posts to the authorize endpoint with the request's
// parameters plus username, password and emu_action (signin, cancel, pick,
// other), so a test can drive it with an HTTP client as a person would.
// Config.InstantSignIn (or [Emulator.SetInstantSignIn], POST
// /_emulator/signin) skips the page: the sign-in is at once, as login_hint
// if that is a known user, else [Username].
//
// # Sign-in failures
//
// The failures a person meets while signing in, on demand: the sign-in
// page cancelled ([Emulator.NextAuthorize](AuthorizeCancel), or Cancel on
// the page); an authorization code already redeemed (AuthorizeReusedCode:
// AADSTS54005 at the token endpoint); a wrong password; multi-factor
// authentication required ([Emulator.RequireMFA]: the password grant, and
// refresh tokens from sign-ins without a second factor, get
// interaction_required AADSTS50076 with suberror basic_action; browser and
// device code sign-ins do the second factor); consent withdrawn; a device
// code declined ([Emulator.DenyDeviceCode]: authorization_declined) or
// expired ([Emulator.ShiftClock] past 15 minutes: expired_token).
//
// # Service identities
//
// Managed identities, as an Azure host offers them to its programs: the App
// Service endpoint GET /msi/token ([ManagedIdentityPath]; api-version
// 2019-08-01, X-IDENTITY-HEADER = [ManagedIdentityHeader]; errors
// {"statusCode","message"}) and the Instance Metadata Service shape GET
// /metadata/identity/oauth2/token ([IMDSPath]; api-version 2018-02-01,
// "Metadata: true"; OAuth errors). A request naming no identity gets the
// system-assigned one ([SystemAssignedClientID]); client_id, object_id
// (principal_id) or the resource id (mi_res_id, msi_res_id) select the
// user-assigned one (UserAssigned*); another is "not found" (400). Tokens
// are app tokens of that identity (appid, oid, xms_mirid) for resource, in
// the resource's version. MSAL finds the App Service endpoint through
// IDENTITY_ENDPOINT = URL()+ManagedIdentityPath and IDENTITY_HEADER;
// faults apply to these endpoints too, counted as "managed_identity".
//
// Workload identity federation: [WorkloadClientID] trusts tokens of
// [FederatedIssuer] for [FederatedSubject] and [FederatedAudience]
// ([Emulator.FederatedToken] mints them, as a cluster projects them into
// pods; [Emulator.AddFederatedCredential] adds others). A client assertion
// that names no certificate (no x5t, x5t#S256 or x5c) is checked as such a
// token: AADSTS700211 unknown issuer, 700213 subject, 700212 audience,
// 700027 signature, 700024 expired.
//
// App credentials: [Emulator.SetClientSecret] rotates a secret (the old one
// gets AADSTS7000215); [Emulator.IssueClientCertificate] issues an RSA
// certificate from the emulator's CA; [Emulator.TrustCertificateSubject]
// accepts, for subject name and issuer authentication, any certificate of
// that CA for a subject, when the assertion carries the chain (x5c); a
// certificate past its validity (by the emulator's and the real clock) gets
// AADSTS700027 "The key used is expired".
//
// # Azure Databricks workspace
//
// The emulator's own address ([Emulator.URL], [Fixture].WorkspaceURL) is
// also a fake Azure Databricks workspace (package
// [github.com/tokend/tokend/entraemu/workspace]; resource id
// [WorkspaceResourceID], workspace id [WorkspaceID]): use it as a
// databricks_host. SCIM Me answers who a token is for once it has passed a
// relying party's checks against the emulator's JWKS; the host metadata
// (/.well-known/databricks-config) is what the Databricks SDKs and CLI
// read first; /aad/auth redirects to the tenant's authorize endpoint.
//
// # Admin API
//
// Test controls, also available as methods, take and return JSON under
// /_emulator/ (unauthenticated: bind the emulator to loopback):
//
//	POST /_emulator/devicecode/approve {"user_code": "...", "username": "..."}  username defaults to Username
//	POST /_emulator/devicecode/deny    {"user_code": "..."}
//	GET  /_emulator/devicecodes        → [{"user_code": ..., "client_id": ..., "expires_on": ...}] pending, oldest first
//	POST /_emulator/authorize/next     {"outcome": "cancel" | "reused_code"}
//	POST /_emulator/signin             {"instant": true}  sign in at once at /authorize, no page
//	POST /_emulator/rotation           {"strict": true}   retire refresh tokens once their successor is used
//	POST /_emulator/user               {"username": "...", "mfa": true}
//	POST /_emulator/consent            {"username": "...", "client_id": "...", "granted": false}
//	                                   with "scope": "https://graph.microsoft.com/Mail.Read": that permission only
//	POST /_emulator/client             {"client_id": "...", "public_client_flows": false}
//	POST /_emulator/resource           Resource: {"app_id", "identifier_uris", "name", "scopes", "roles", "token_version"}
//	GET  /_emulator/resources          → [Resource]
//	POST /_emulator/revoke             {"username": "..."}
//	POST /_emulator/fail               {"count": 2, "status": 503, "retry_after_seconds": 5, "delay_ms": 0, "error": ""}
//	POST /_emulator/lifetime           {"min_seconds": 60, "max_seconds": 120}
//	POST /_emulator/clock/shift        {"seconds": 3600}  → {"now": ..., "offset_seconds": ...}
//	GET  /_emulator/clock              → {"now": ..., "offset_seconds": ...}
//	GET  /_emulator/counts             → {"password": 1, "v1:refresh_token": 2, "devicecode": 1, "faulted": 1, ...}
//	POST /_emulator/counts/reset
//	GET  /_emulator/fixture            → Fixture
//	POST /_emulator/client/secret      {"client_id": "...", "secret": "..."}  rotate a client secret
//	POST /_emulator/certificate        {"client_id": "...", "common_name": "...", "lifetime_seconds": 3600, "register": "thumbprint" | "subject" | "none"}
//	                                   → {"pem": certificate and PKCS#8 key}; lifetime may be negative (expired);
//	                                   {"client_id": "...", "certificate": "PEM"} registers a certificate instead
//	POST /_emulator/federated/token    {"subject": "...", "audience": "...", "lifetime_seconds": 3600} → {"token": "..."}
//
// Faults apply, in order, to the next requests of the v2 token, v1 token,
// devicecode and managed identity endpoints; a fault with only a delay lets
// the request through afterwards; count 0 clears pending faults. Errors
// are {"error": "..."} with status 400.
package entraemu
