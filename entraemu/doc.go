// Package entraemu is an offline Microsoft Entra ID (v2.0 endpoints) over
// TLS with its own CA, good enough for the real MSAL Go (with instance
// discovery disabled and an HTTP client trusting the CA) to work against it
// unchanged. `tokend emulator` runs it standalone; tokend's tests use it as
// their identity provider.
//
// # Fixture
//
// One tenant, TenantID (domain tokend.test). Public clients PublicClientID
// and AzureCLIClientID; confidential client ConfidentialClientID with
// ClientSecret and a client certificate (Emulator.ClientCertificate, or
// Dir/client.pem). Users Username and SecondUsername, both with Password.
// GET /_emulator/fixture prints it all as JSON.
//
// # Endpoints
//
// {tenant} is TenantID, "common", "organizations", "consumers" or
// "tokend.test"; tokens always carry tid = TenantID. URLs in responses use
// the request's Host, so any port works.
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration  (v1: /{tenant}/.well-known/openid-configuration)
//	GET  /{tenant}/discovery/v2.0/keys                    JWKS (kid = x5t, x5c)
//	GET  /common/discovery/instance                       instance discovery, this host as the only alias
//	GET  /common/UserRealm/{upn}?api-version=1.0          "Managed" for tokend.test users
//	GET  /{tenant}/oauth2/v2.0/authorize                  auto-consent, no UI (see below)
//	POST /{tenant}/oauth2/v2.0/devicecode                 device authorization
//	GET  /devicelogin                                     verification page: type the user code to approve (or deny)
//	POST /{tenant}/oauth2/v2.0/token                      v2 token endpoint
//	POST /{tenant}/oauth2/token                           v1 token endpoint (resource= instead of scope=)
//	GET  /aad/auth                                        an Azure Databricks workspace's sign-in redirect (to
//	                                                      /{TenantID}/oauth2/authorize), for tenant discovery
//	GET  /adfs/.well-known/openid-configuration           an ADFS-style authority for the Azure CLI (see ADFSPath)
//	GET  /subscriptions                                   Azure Resource Manager's subscription list: none
//
// /authorize signs in login_hint if it is a known user, else Username, and
// returns code and state to redirect_uri (which must be http on localhost,
// 127.0.0.1 or [::1]) by query (302), fragment, or form_post (an
// auto-submitting HTML form, as MSAL's AcquireTokenInteractive asks).
// Public clients must send an S256 code_challenge. Codes are single use
// (AADSTS54005) and live 10 minutes.
//
// Token grants: authorization_code, refresh_token, password,
// client_credentials (client_secret, HTTP Basic, or a client_assertion JWT
// signed RS256 or PS256 by a registered certificate named by x5t#S256 or
// x5t, aud = a token endpoint or the issuer, checked against both the real
// and the emulator clock), and device_code (authorization_pending until
// approved, expired_token after 15 minutes). The resource of a scope is
// the part before its last "/" ("<guid>/.default" → "<guid>"); one
// resource per request; openid, profile, email and offline_access are
// OIDC scopes; no resource means Microsoft Graph. Refresh tokens rotate:
// each redemption issues a new one, and a token dies once one of its
// successors has been redeemed; RevokeUser kills a user's tokens
// (AADSTS50173). They expire after 90 days of emulator time.
//
// Access tokens are RS256 JWTs (aud, iss, tid, oid, sub, iat, nbf, exp,
// ver, appid, azp, uti, scp or roles, upn/preferred_username/name and amr
// for users, amr ["pwd", "mfa"] after a second factor) living a uniform
// random whole number of seconds in [MinLifetime, MaxLifetime], 60–90
// minutes by default. Errors are Entra-shaped: {"error",
// "error_description": "AADSTSnnnn: … Trace ID … Correlation ID …
// Timestamp …", "error_codes", "timestamp", "trace_id", "correlation_id",
// "error_uri", and "suberror" where Entra sends one}.
//
// # Sign-in failures
//
// The failures a person meets while signing in, on demand: the sign-in
// page cancelled (NextAuthorize(AuthorizeCancel): the redirect carries
// error=access_denied, error_subcode=cancel, AADSTS65004); an authorization
// code already redeemed (NextAuthorize(AuthorizeReusedCode): AADSTS54005 at
// the token endpoint); a wrong password (invalid_grant AADSTS50126);
// multi-factor authentication required (RequireMFA: the password grant, and
// refresh tokens from sign-ins without a second factor, get
// interaction_required AADSTS50076 with suberror basic_action; browser and
// device code sign-ins do the second factor); consent withdrawn
// (SetConsent: the password grant and refresh tokens get invalid_grant
// AADSTS65001 until an interactive sign-in consents again); a device code
// declined (DenyDeviceCode: authorization_declined) or expired (ShiftClock
// past 15 minutes: expired_token).
//
// # Service identities
//
// Managed identities, as an Azure host offers them to its programs: the App
// Service endpoint GET /msi/token (ManagedIdentityPath; api-version
// 2019-08-01, X-IDENTITY-HEADER = ManagedIdentityHeader; errors
// {"statusCode","message"}) and the Instance Metadata Service shape GET
// /metadata/identity/oauth2/token (IMDSPath; api-version 2018-02-01,
// "Metadata: true"; OAuth errors). A request naming no identity gets the
// system-assigned one (SystemAssignedClientID); client_id, object_id
// (principal_id) or the resource id (mi_res_id, msi_res_id) select the
// user-assigned one (UserAssigned*); another is "not found" (400). Tokens
// are app tokens of that identity (appid, oid, xms_mirid) for resource.
// MSAL finds the App Service endpoint through IDENTITY_ENDPOINT =
// URL()+ManagedIdentityPath and IDENTITY_HEADER; faults apply to these
// endpoints too, counted as "managed_identity".
//
// Workload identity federation: WorkloadClientID trusts tokens of
// FederatedIssuer for FederatedSubject and FederatedAudience
// (FederatedToken mints them, as a cluster projects them into pods;
// AddFederatedCredential adds others). A client assertion that names no
// certificate (no x5t, x5t#S256 or x5c) is checked as such a token:
// AADSTS700211 unknown issuer, 700213 subject, 700212 audience, 700027
// signature, 700024 expired.
//
// App credentials: SetClientSecret rotates a secret (the old one gets
// AADSTS7000215); IssueClientCertificate issues an RSA certificate from the
// emulator's CA; TrustCertificateSubject accepts, for subject name and
// issuer authentication, any certificate of that CA for a subject, when the
// assertion carries the chain (x5c); a certificate past its validity (by
// the emulator's and the real clock) gets AADSTS700027 "The key used is
// expired".
//
// Workspace is a fake Azure Databricks workspace (GET
// /api/2.0/preview/scim/v2/Me) that verifies tokens with the emulator's
// JWKS, as a relying party does, and can require the headers of a service
// principal acting as workspace admin.
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
//	POST /_emulator/user               {"username": "...", "mfa": true}
//	POST /_emulator/consent            {"username": "...", "client_id": "...", "granted": false}
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
// Faults apply, in order, to the next requests of the v2 token, v1 token
// and devicecode endpoints; a fault with only a delay lets the request
// through afterwards; count 0 clears pending faults. Errors are {"error": "..."} with status 400.
package entraemu
