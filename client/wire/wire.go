// Package wire holds the wire shapes of the daemon API: the daemon encodes
// them and client decodes them. JSON field names are part of the contract
// (docs/contract.md).
package wire

// Token is the answer of GET /v1/token.
type Token struct {
	AccessToken string   `json:"access_token"`
	TokenType   string   `json:"token_type"`
	ExpiresOn   int64    `json:"expires_on"` // unix seconds
	ExpiresIn   int64    `json:"expires_in"` // seconds from the moment it was served
	Profile     string   `json:"profile"`
	Scopes      []string `json:"scopes"`
	Tenant      string   `json:"tenant,omitempty"`
}

// Status is the answer of GET /v1/status.
type Status struct {
	Version   string          `json:"version"`
	PID       int             `json:"pid"`
	Config    string          `json:"config,omitempty"` // the config file it reads (which may not exist yet)
	Listeners Listeners       `json:"listeners"`
	Store     StoreStatus     `json:"store"`
	Profiles  []ProfileStatus `json:"profiles"`
}

// Listeners says where the daemon listens.
type Listeners struct {
	Socket string `json:"socket,omitempty"`
	TCP    string `json:"tcp,omitempty"` // host:port, "" when TCP is off
	// TCPIPv4 is the 127.0.0.1 listener that a daemon whose TCP address is
	// another loopback address (such as [::1]) also opens, on the same
	// port, for clients that accept only 127.0.0.1 or localhost (the
	// Databricks SDKs' metadata-service URL). "" otherwise.
	TCPIPv4 string `json:"tcp_ipv4,omitempty"`
}

// StoreStatus describes the secret store.
type StoreStatus struct {
	Backend string `json:"backend"` // keyring, file or memory
	State   string `json:"state"`   // StoreOK or StoreUnavailable
	Healthy bool   `json:"healthy"`
	Warning string `json:"warning,omitempty"` // e.g. the file store is weaker than a keychain
	Error   string `json:"error,omitempty"`   // why the store is unavailable, with the fix
}

// Store states.
const (
	StoreOK          = "ok"
	StoreUnavailable = "store_unavailable"
)

// Profile states.
const (
	StateReady         = "ready"
	StateRefreshing    = "refreshing"
	StateLoginRequired = "login_required"
	StateError         = "error"
	// StateUnsaved: tokens are served, but the newest refresh token is only
	// in memory because the store failed to write it; tokend retries.
	StateUnsaved = "unsaved"
	// StateRefused (of a scope set, in ProfileStatus.Tokens): the identity
	// provider refused these scopes for good (an unknown resource or scope,
	// no consent for it); tokend does not retry in the background.
	StateRefused = "refused"
)

// ProfileStatus is one profile in Status. Times are unix seconds, 0 when
// unknown.
type ProfileStatus struct {
	Name        string   `json:"name"`
	Flow        string   `json:"flow"`
	State       string   `json:"state"`
	Account     string   `json:"account,omitempty"`
	Scopes      []string `json:"scopes"`
	ExpiresOn   int64    `json:"expires_on,omitempty"`
	NextRefresh int64    `json:"next_refresh,omitempty"`
	LastRefresh int64    `json:"last_refresh,omitempty"`
	LastError   string   `json:"last_error,omitempty"`
	Fix         string   `json:"fix,omitempty"` // login_required: the command that signs in; otherwise what to do
	Counters    Counters `json:"counters"`
	// Tokens lists every scope set of the profile that tokend keeps a
	// token for, or that was refused: the profile's own scopes first.
	Tokens []TokenStatus `json:"tokens,omitempty"`
	// DatabricksHost is the profile's normalized databricks_host, "" when
	// unset; `token env` and `token exec` pass it to the child.
	DatabricksHost string `json:"databricks_host,omitempty"`
	// DatabricksHosts is every Databricks host the profile's metadata
	// service answers: databricks_host first, then databricks_hosts.
	DatabricksHosts []string `json:"databricks_hosts,omitempty"`
	// DatabricksAccountID is the profile's databricks_account_id.
	DatabricksAccountID string `json:"databricks_account_id,omitempty"`
	// AzureWorkspaceResourceID is the profile's azure_workspace_resource_id,
	// "" when unset; `token get --databricks-admin-headers` sends it.
	AzureWorkspaceResourceID string `json:"azure_workspace_resource_id,omitempty"`
}

// TokenStatus is one (profile, scopes) pair. State is ready, refreshing,
// error (retrying a temporary failure) or refused.
type TokenStatus struct {
	Scopes      []string `json:"scopes"`
	State       string   `json:"state"`
	ExpiresOn   int64    `json:"expires_on,omitempty"`
	NextRefresh int64    `json:"next_refresh,omitempty"`
	LastError   string   `json:"last_error,omitempty"`
	Fix         string   `json:"fix,omitempty"`
}

// Counters count what happened to a profile since the daemon started.
type Counters struct {
	Served    int64 `json:"served"`    // tokens handed out
	Waited    int64 `json:"waited"`    // requests that waited on the identity provider
	Refreshes int64 `json:"refreshes"` // successful identity-provider calls
	Failures  int64 `json:"failures"`  // failed identity-provider calls
}

// LoginRequest is the body of POST /v1/login. Only the fields of the
// profile's flow are used.
type LoginRequest struct {
	Profile string `json:"profile"`
	// Flow, if set, is the sign-in method: the profile's flow, or another
	// of its methods (any user flow signs in a profile of a user flow:
	// browser, device-code, password, refresh-token). Empty: the profile's
	// flow.
	Flow         string `json:"flow,omitempty"`
	Username     string `json:"username,omitempty"` // password flow; browser flow: the account to preselect
	Password     string `json:"password,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"` // refresh-token flow: a token obtained elsewhere
	// Certificate is the content of a certificate file, base64 (standard
	// encoding): PEM with the certificate and its private key, or PKCS#12
	// (PFX). CertificatePassword opens a PFX or an encrypted PEM key
	// (client-certificate flow).
	Certificate         string `json:"certificate,omitempty"`
	CertificatePassword string `json:"certificate_password,omitempty"`
	// TimeoutSeconds bounds the whole sign-in; 0 means the daemon's default
	// (10 minutes for the browser, 15 for a device code, 2 otherwise).
	TimeoutSeconds int64 `json:"timeout_seconds,omitempty"`
}

// ReloadResult is the answer of POST /v1/reload: the config file read
// again, and its profiles by what happened to them.
type ReloadResult struct {
	Config  string   `json:"config"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	Kept    []string `json:"kept"`
}

// LoginResult is the answer of POST /v1/login.
type LoginResult struct {
	Profile   string `json:"profile"`
	Account   string `json:"account"`
	ExpiresOn int64  `json:"expires_on"`
}

// LogoutRequest is the body of POST /v1/logout.
type LogoutRequest struct {
	Profile string `json:"profile"`
}

// CapabilityRequest is the body of POST /v1/capabilities.
type CapabilityRequest struct {
	Profile    string   `json:"profile"`
	Scopes     []string `json:"scopes,omitempty"` // empty: any scope of the profile
	TTLSeconds int64    `json:"ttl_seconds,omitempty"`
	// Kind is what the capability is for (CapabilityEnv when empty); it
	// decides which endpoints it opens, who may present it, and whether it
	// must be saved.
	Kind string `json:"kind,omitempty"`
	// Label says where the capability went (a shell, a program, a
	// .databrickscfg profile), for `token capabilities list` and the audit
	// log: at most 128 printable characters, never a secret.
	Label string `json:"label,omitempty"`
	// Hosts narrows the Databricks hosts the capability answers for to
	// some of the profile's (empty: all of them).
	Hosts []string `json:"hosts,omitempty"`
}

// Capability kinds. Every capability is bound to the uid that minted it:
// where the kernel names a TCP peer's owner (Linux, Windows), a process of
// another uid cannot use it.
const (
	// CapabilityEnv (`token env`): every TCP endpoint; saved, so that it
	// outlives a restart of the daemon.
	CapabilityEnv = "env"
	// CapabilityExec (`token exec`): every TCP endpoint; root (SYSTEM) may
	// use it too, as the child may run programs under sudo or in a
	// container; revoked when the child exits; saved when the store can.
	CapabilityExec = "exec"
	// CapabilityDatabricks (`token databricks configure`): the Databricks
	// metadata service only, for the profile's Databricks hosts; saved.
	CapabilityDatabricks = "databricks"
)

// Capability is a bearer secret for the TCP listener, scoped to one profile.
type Capability struct {
	ID        string   `json:"id"`
	Token     string   `json:"token"`
	Profile   string   `json:"profile"`
	Scopes    []string `json:"scopes,omitempty"`
	ExpiresOn int64    `json:"expires_on"`
	Kind      string   `json:"kind,omitempty"`
	Label     string   `json:"label,omitempty"`
	Hosts     []string `json:"hosts,omitempty"`
}

// CapabilityInfo describes a live capability (never its secret): one
// entry of GET /v1/capabilities. Times are unix seconds; LastUsed is 0
// when it was never presented.
type CapabilityInfo struct {
	ID        string   `json:"id"`
	Profile   string   `json:"profile"`
	Kind      string   `json:"kind"`
	Label     string   `json:"label,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	Hosts     []string `json:"hosts,omitempty"`
	UID       *int     `json:"uid,omitempty"` // the owner; absent where unknown
	CreatedOn int64    `json:"created_on"`
	ExpiresOn int64    `json:"expires_on"`
	LastUsed  int64    `json:"last_used,omitempty"`
}

// CapabilityList is the answer of GET /v1/capabilities.
type CapabilityList struct {
	Capabilities []CapabilityInfo `json:"capabilities"`
	// Store is the backend that keeps them; Warning what the user should
	// know (the memory store keeps them for the daemon's life; a damaged
	// capability file was set aside).
	Store   string `json:"store"`
	Warning string `json:"warning,omitempty"`
}

// ErrorBody is the body of every non-2xx answer.
type ErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Error codes.
const (
	CodeInvalidRequest      = "invalid_request"
	CodeUnauthorized        = "unauthorized"
	CodeForbidden           = "forbidden"
	CodeUnknownProfile      = "unknown_profile"
	CodeLoginRequired       = "login_required"
	CodeUpstreamUnavailable = "upstream_unavailable"
	CodeStoreUnavailable    = "store_unavailable" // the keychain is locked or not answering
	CodeInternal            = "internal"
)

// RefreshRequest is the body of POST /v1/refresh: replace a token now, for
// example after a server rejected it. The answer is a Token.
type RefreshRequest struct {
	Profile  string   `json:"profile,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Resource string   `json:"resource,omitempty"`
	// RejectedSHA256 is the hex SHA-256 of the token that was rejected. When
	// the daemon's current token is already another one, that one is served
	// and the identity provider is not asked again.
	RejectedSHA256 string `json:"rejected_sha256,omitempty"`
}

// Event types of GET /v1/watch.
const (
	EventRotated = "rotated" // a new token for (profile, scopes); state is ready
	EventState   = "state"   // the profile's state changed (error, login_required, ready)
)

// Event is the data of one server-sent event of GET /v1/watch; the SSE event
// name is its Type. It never carries a token: fetch that with GET /v1/token.
// Times are unix seconds of the daemon's clock.
type Event struct {
	Type        string   `json:"type"`
	Profile     string   `json:"profile"`
	State       string   `json:"state"`
	Scopes      []string `json:"scopes,omitempty"`
	Account     string   `json:"account,omitempty"`
	ExpiresOn   int64    `json:"expires_on,omitempty"`
	NextRefresh int64    `json:"next_refresh,omitempty"`
	Error       string   `json:"error,omitempty"`
	Time        int64    `json:"time"`
}

// ContentTypeNDJSON is the media type of a stream of JSON lines, one value a
// line: the answer to POST /v1/login for interactive flows.
const ContentTypeNDJSON = "application/x-ndjson"

// Login event kinds.
const (
	EventOpenURL    = "open_url"    // open URL in the user's browser
	EventDeviceCode = "device_code" // show Message to the user
	EventSignedIn   = "signed_in"   // done: Result
	EventError      = "error"       // done: Error, Description
)

// LoginEvent is one line of the answer to POST /v1/login for an
// interactive flow (browser, device code), sent when the request says
// Accept: application/x-ndjson. The stream says first what the user must
// do (open_url, device_code), then how it ended (signed_in or error). The
// sign-in lasts as long as the request: closing it cancels the sign-in.
type LoginEvent struct {
	Event string `json:"event"`
	// open_url: the sign-in page.
	URL string `json:"url,omitempty"`
	// device_code: the identity provider's instructions, verbatim, and the
	// code and page they name; ExpiresOn (unix seconds) ends the code.
	Message         string `json:"message,omitempty"`
	UserCode        string `json:"user_code,omitempty"`
	VerificationURI string `json:"verification_uri,omitempty"`
	ExpiresOn       int64  `json:"expires_on,omitempty"`
	// signed_in.
	Result *LoginResult `json:"result,omitempty"`
	// error: as in ErrorBody.
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
}
