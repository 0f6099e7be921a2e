package entraemu

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
)

// The fixed fixture. Everything here is public test data: none of it grants
// access to anything outside the emulator.
const (
	// TenantID is the one tenant the emulator knows. Tokens always carry it
	// as tid, whatever tenant segment ("common", "organizations", …) the
	// request used.
	TenantID = "8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f"
	// TenantDomain is the tenant's verified domain: the users' UPN suffix.
	TenantDomain = "tokend.test"

	// PublicClientID is a public client: browser (auth code + PKCE), device
	// code, password and refresh token flows.
	PublicClientID = "a2a6f2b0-5c1e-4d7a-9b3f-1e0d2c4b6a80"
	// AzureCLIClientID is the Azure CLI's well-known client id, registered
	// as a public client so tools impersonating the CLI work too.
	AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	// SPAClientID is a single-page application: the authorization code
	// flow with PKCE only (AADSTS9002325 without), refresh tokens that live
	// 24 hours.
	SPAClientID = "5fa00000-aaaa-4bbb-8ccc-000000000005"
	// ConfidentialClientID authenticates with ClientSecret or with the
	// fixture client certificate (see Emulator.ClientCertificate).
	ConfidentialClientID = "c0ffee00-1234-4abc-9def-0123456789ab"
	// ClientSecret is ConfidentialClientID's secret.
	ClientSecret = "emulator-client-secret-not-a-real-one"

	// Username and Password are the fixture user's credentials.
	Username = "alice@tokend.test"
	Password = "correct-horse-battery-staple"
	// UserObjectID is the fixture user's object id (oid claim, client_info uid).
	UserObjectID = "5e1a9c3d-7b2f-4e8a-a6d4-0c9b8f7e6d5a"

	// SecondUsername is a second user (same Password) for tests that need
	// two accounts, e.g. approving a device code as someone else.
	SecondUsername = "bob@tokend.test"
	// SecondUserObjectID is SecondUsername's object id.
	SecondUserObjectID = "b0b5e7c1-2d3a-4f6b-8c9d-1e2f3a4b5c6d"

	// DatabricksResource is the Azure Databricks resource (application) id.
	DatabricksResource = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"

	// WorkspaceResourceID and WorkspaceID describe the fake Azure
	// Databricks workspace served at the emulator's own address (URL()).
	WorkspaceResourceID = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/tokend/providers/Microsoft.Databricks/workspaces/tokend-emulator"
	WorkspaceID         = "1234567890123456"
)

// Fixture describes the emulator's fixed test data, for printing
// (`tokend emulator`) and for GET /_emulator/fixture.
type Fixture struct {
	TenantID              string `json:"tenant_id"`
	Authority             string `json:"authority"`
	PublicClientID        string `json:"public_client_id"`
	AzureCLIClientID      string `json:"azure_cli_client_id"`
	SPAClientID           string `json:"spa_client_id"`
	ConfidentialClientID  string `json:"confidential_client_id"`
	ClientSecret          string `json:"client_secret"`
	Username              string `json:"username"`
	Password              string `json:"password"`
	UserObjectID          string `json:"user_object_id"`
	CAFile                string `json:"ca_file,omitempty"`
	ClientCertificateFile string `json:"client_certificate_file,omitempty"`
	// WorkspaceURL is the fake Azure Databricks workspace, at the
	// emulator's own address (a databricks_host).
	WorkspaceURL        string `json:"workspace_url,omitempty"`
	WorkspaceResourceID string `json:"workspace_resource_id"`
	TestAPIResource     string `json:"test_api_resource"`

	// Service identities (identities.go).
	ManagedIdentityPath    string `json:"managed_identity_path"`
	ManagedIdentityHeader  string `json:"managed_identity_header"`
	SystemAssignedClientID string `json:"system_assigned_client_id"`
	UserAssignedClientID   string `json:"user_assigned_client_id"`
	UserAssignedObjectID   string `json:"user_assigned_object_id"`
	UserAssignedResourceID string `json:"user_assigned_resource_id"`
	WorkloadClientID       string `json:"workload_client_id"`
	FederatedIssuer        string `json:"federated_issuer"`
	FederatedSubject       string `json:"federated_subject"`
}

// Fixture returns the fixture. Authority is empty until Start; the files are
// set only when Config.Dir was.
func (e *Emulator) Fixture() Fixture {
	f := Fixture{
		TenantID:              TenantID,
		PublicClientID:        PublicClientID,
		AzureCLIClientID:      AzureCLIClientID,
		SPAClientID:           SPAClientID,
		WorkspaceResourceID:   WorkspaceResourceID,
		TestAPIResource:       TestAPIResource,
		ConfidentialClientID:  ConfidentialClientID,
		ClientSecret:          ClientSecret,
		Username:              Username,
		Password:              Password,
		UserObjectID:          UserObjectID,
		CAFile:                e.caFile,
		ClientCertificateFile: e.clientCertFile,

		ManagedIdentityPath:    ManagedIdentityPath,
		ManagedIdentityHeader:  ManagedIdentityHeader,
		SystemAssignedClientID: SystemAssignedClientID,
		UserAssignedClientID:   UserAssignedClientID,
		UserAssignedObjectID:   UserAssignedObjectID,
		UserAssignedResourceID: UserAssignedResourceID,
		WorkloadClientID:       WorkloadClientID,
		FederatedIssuer:        FederatedIssuer,
		FederatedSubject:       FederatedSubject,
	}
	if u := e.URL(); u != "" {
		f.Authority = u + "/" + TenantID
		f.WorkspaceURL = u
	}
	return f
}

// user is a directory user. epoch moves on RevokeUser: refresh tokens
// issued under an older epoch are dead.
type user struct {
	username  string // lower case UPN
	password  string
	oid       string
	name      string
	epoch     int
	revokedAt time.Time
	mfa       bool // sign-ins must do multi-factor authentication (RequireMFA)
}

// client is an app registration.
type client struct {
	id     string
	name   string
	public bool
	secret string // confidential clients only; "" = no secret registered
	certs  []registeredCert
	spOID  string // object id of the service principal: oid/sub of app tokens
	// subjects are certificate subjects (CN) trusted for subject name and
	// issuer authentication (TrustCertificateSubject).
	subjects []string
	// federated are its federated identity credentials.
	federated []federatedCredential
	// spa: a single-page application (redirect URIs of type "spa"): it
	// must use PKCE, and its refresh tokens live 24 hours.
	spa bool
	// family: a member of the family of client ids (FOCI), as the Azure
	// CLI is.
	family bool
	// noPublicFlows: "Allow public client flows" is off (SetPublicClientFlows).
	noPublicFlows bool
}

func newUsers() map[string]*user {
	return map[string]*user{
		Username:       {username: Username, password: Password, oid: UserObjectID, name: "Alice Example"},
		SecondUsername: {username: SecondUsername, password: Password, oid: SecondUserObjectID, name: "Bob Example"},
	}
}

func newClients() map[string]*client {
	cs := map[string]*client{
		PublicClientID:       {id: PublicClientID, name: "tokend emulator public client", public: true},
		AzureCLIClientID:     {id: AzureCLIClientID, name: "Microsoft Azure CLI", public: true, family: true},
		SPAClientID:          {id: SPAClientID, name: "tokend emulator single-page app", public: true, spa: true},
		ConfidentialClientID: {id: ConfidentialClientID, name: "tokend emulator confidential client", secret: ClientSecret},
		WorkloadClientID: {id: WorkloadClientID, name: "tokend emulator workload", federated: []federatedCredential{
			{issuer: FederatedIssuer, subject: FederatedSubject, audience: FederatedAudience},
		}},
	}
	for _, c := range cs {
		c.spOID = derivedGUID("sp", c.id)
	}
	return cs
}

// derivedGUID makes a stable GUID-shaped id from its parts.
func derivedGUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | 0x50 // version 5-ish
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// knownTenant reports whether a tenant path segment names the tenant.
func knownTenant(seg string) bool {
	switch strings.ToLower(seg) {
	case TenantID, "common", "organizations", "consumers", TenantDomain:
		return true
	}
	return false
}
