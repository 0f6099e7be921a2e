// Package config reads tokend's TOML configuration: the daemon's listeners and
// store, and the profiles (one Entra identity and scope set each). Decoding is
// strict: an unknown key is an error that names the file, the line and the key.
//
// Secrets never live here: client secrets, certificate keys and refresh tokens
// go to the store.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/quote"
)

// DatabricksScope is the default scope: the Azure Databricks resource. The
// resource (application) id is the same in the public, US Government and
// China clouds.
const DatabricksScope = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"

// AzureCLIClientID is the Azure CLI's public client, the default client_id
// of the user flows: the Azure SDKs' interactive credentials default to it
// too (azidentity's developerSignOnClientID), and signing in with it needs
// no app registration. A tenant's Conditional Access may block it; then
// register an app and set client_id.
const AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// UserTenant is the default tenant of the user flows without tenant,
// authority or databricks_host: the account's home tenant, as `az login`
// signs in.
const UserTenant = "organizations"

// DefaultHTTPPort is the loopback port tokend listens on unless daemon.http
// (or $TOKEND_HTTP) says otherwise. It is fixed, so that the URLs handed to
// programs (`token env`, `token exec`, ~/.databrickscfg) outlive a restart
// of the daemon. 18653 lies below every system's ephemeral range (Linux
// 32768–60999, Windows and macOS 49152–65535), so no outgoing connection
// takes it by chance, and outside the ports of common services and of
// Kubernetes' NodePorts (30000–32767); IANA registers nothing there.
const DefaultHTTPPort = 18653

// DefaultHTTP is the default of daemon.http.
var DefaultHTTP = fmt.Sprintf("127.0.0.1:%d", DefaultHTTPPort)

// HTTPEnv overrides daemon.http, for hermetic runs: tests set it to
// "127.0.0.1:0" so that they never take the fixed port of the user's own
// daemon.
const HTTPEnv = "TOKEND_HTTP"

// Stores are the secret store backends.
var Stores = []string{"keyring", "file", "memory"}

// Defaults of the scope-set bounds: more than any person or program asks
// for (a token per Azure resource it uses), few enough that a program
// asking for thousands of made-up scopes causes a bounded number of
// identity-provider calls and bounded memory.
const (
	DefaultMaxScopeSets           = 256
	DefaultMaxCapabilityScopeSets = 64
	maxScopeSetsLimit             = 100_000
)

// Config is a whole configuration file.
type Config struct {
	Path           string              `toml:"-"` // where it was read from; "" when built in code
	DefaultProfile string              `toml:"default_profile"`
	Daemon         Daemon              `toml:"daemon"`
	Profiles       map[string]*Profile `toml:"profiles"`
}

// Daemon configures the listeners, the store and the daemon's habits.
type Daemon struct {
	Socket    string  `toml:"socket"`    // "" → DefaultSocket()
	HTTP      *string `toml:"http"`      // nil → DefaultHTTP; "" → no TCP listener
	Store     string  `toml:"store"`     // "" → keyring
	KeepAlive string  `toml:"keepalive"` // refresh idle profiles this often; "" → 24h, "0" → never
	Notify    bool    `toml:"notify"`    // desktop notification when a profile needs a login

	// MaxScopeSets bounds the (profile, scopes) pairs a profile keeps
	// fresh, and MaxCapabilityScopeSets the scope sets one capability may
	// ask for in its life (0 → the defaults).
	MaxScopeSets           int `toml:"max_scope_sets_per_profile"`
	MaxCapabilityScopeSets int `toml:"max_scope_sets_per_capability"`

	KeepAliveEvery time.Duration `toml:"-"` // KeepAlive parsed; negative: never
}

// Profile is one identity and the scopes asked for it.
type Profile struct {
	Name                     string    `toml:"-"`
	Flow                     flow.Name `toml:"flow"`
	Tenant                   string    `toml:"tenant"`
	ClientID                 string    `toml:"client_id"`
	Scopes                   []string  `toml:"scopes"`
	Cloud                    string    `toml:"cloud"`
	Authority                string    `toml:"authority"`
	CAFile                   string    `toml:"ca_file"`
	DatabricksHost           string    `toml:"databricks_host"`
	AzureWorkspaceResourceID string    `toml:"azure_workspace_resource_id"`

	// DatabricksHosts are more Azure Databricks hosts whose metadata
	// service requests the profile answers: other workspaces, and the
	// account console (https://accounts.azuredatabricks.net). The
	// metadata service answers databricks_host and these; tenant
	// discovery and DATABRICKS_HOST use databricks_host alone.
	DatabricksHosts []string `toml:"databricks_hosts"`
	// DatabricksAccountID is the Databricks account id, which the
	// Databricks SDKs and CLI need with an account console host
	// (`token databricks configure` writes it as account_id).
	DatabricksAccountID string `toml:"databricks_account_id"`

	// SendX5C (client-certificate) sends the certificate chain with each
	// assertion, for subject name and issuer authentication.
	SendX5C bool `toml:"send_x5c"`
	// ManagedIdentityResourceID and ManagedIdentityObjectID
	// (managed-identity) pick a user-assigned identity; by client id, set
	// ClientID. None: the system-assigned identity.
	ManagedIdentityResourceID string `toml:"managed_identity_resource_id"`
	ManagedIdentityObjectID   string `toml:"managed_identity_object_id"`
	// FederatedTokenFile (workload-identity) holds the federated token,
	// read at every acquisition; "" means $AZURE_FEDERATED_TOKEN_FILE.
	FederatedTokenFile string `toml:"federated_token_file"`
}

// AuthorityHosts maps a cloud name to its Entra ID host.
var AuthorityHosts = map[string]string{
	"public": "login.microsoftonline.com",
	"usgov":  "login.microsoftonline.us",
	"china":  "login.chinacloudapi.cn",
}

// AuthorityURL is the authority MSAL is given: the override when set (with
// the tenant appended when the override names only a host), else the
// cloud's host and the tenant.
func (p *Profile) AuthorityURL() string {
	if p.Authority != "" {
		a := strings.TrimRight(p.Authority, "/")
		if authorityHasTenant(a) {
			return a
		}
		return a + "/" + p.Tenant
	}
	return "https://" + AuthorityHosts[p.Cloud] + "/" + p.Tenant
}

// AuthorityHost is the host (and port) the profile signs in at.
func (p *Profile) AuthorityHost() string {
	if p.Authority != "" {
		if u, err := url.Parse(p.Authority); err == nil {
			return strings.ToLower(u.Host)
		}
	}
	return AuthorityHosts[p.Cloud]
}

// NeedsTenant reports whether the tenant is still unknown: it is then
// discovered from databricks_host.
func (p *Profile) NeedsTenant() bool {
	return p.Tenant == "" && !authorityHasTenant(strings.TrimRight(p.Authority, "/"))
}

func authorityHasTenant(a string) bool {
	u, err := url.Parse(a)
	return err == nil && strings.Trim(u.Path, "/") != ""
}

// HTTPAddr is the TCP listen address of the config, "" when TCP is off.
func (d Daemon) HTTPAddr() string {
	if d.HTTP == nil {
		return DefaultHTTP
	}
	return *d.HTTP
}

// HTTPAddr is where the daemon listens on TCP: $TOKEND_HTTP, else
// daemon.http, else DefaultHTTP; "" when TCP is off. from names where the
// address came from, for messages.
func (c *Config) HTTPAddr() (addr, from string) {
	if a := os.Getenv(HTTPEnv); a != "" {
		return a, "$" + HTTPEnv
	}
	from = "daemon.http"
	if c.Path != "" {
		from += " in " + c.Path
	}
	if c.Daemon.HTTP == nil {
		from = "the default (daemon.http)"
	}
	return c.Daemon.HTTPAddr(), from
}

// Path returns the config file to read: flag, else $TOKEND_CONFIG, else
// <user config dir>/tokend/config.toml.
func Path(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv("TOKEND_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "tokend", "config.toml")
}

// Load reads and validates the file at path. A file that does not exist
// yields an empty, valid configuration unless mustExist is set.
func Load(path string, mustExist bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		c := &Config{Path: path}
		return c, c.normalize()
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{Path: name}
	dec := toml.NewDecoder(strings.NewReader(string(data))).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(name, err)
	}
	if err := c.normalize(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		const show = 20
		msgs := make([]string, 0, show+1)
		for i, e := range strict.Errors {
			if i == show {
				msgs = append(msgs, fmt.Sprintf("%s: and %d more unknown keys", name, len(strict.Errors)-show))
				break
			}
			line, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %s", name, line, quote.String(strings.Join(e.Key(), "."))))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := quote.Line(strings.TrimPrefix(de.Error(), "toml: "))
		if k := de.Key(); len(k) > 0 {
			return fmt.Errorf("%s:%d: key %s: %s", name, line, quote.String(strings.Join(k, ".")), msg)
		}
		return fmt.Errorf("%s:%d: %s", name, line, msg)
	}
	return fmt.Errorf("%s: %s", name, quote.Line(err.Error()))
}

// profileName and workspaceResourceID compile on first use: every `token`
// process links this package, and most never validate a profile.
var profileName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// keyName is a profile's name as errors show it: quoted unless it is a
// valid name (it may hold anything a TOML key can).
func keyName(name string) string {
	if profileName().MatchString(name) {
		return name
	}
	return quote.String(name)
}

// normalize fills defaults and checks every value.
func (c *Config) normalize() error {
	if c.Profiles == nil {
		c.Profiles = map[string]*Profile{}
	}
	if c.Daemon.Store == "" {
		c.Daemon.Store = "keyring"
	}
	if !slices.Contains(Stores, c.Daemon.Store) {
		return fmt.Errorf("daemon.store %s: want one of %s", quote.String(c.Daemon.Store), strings.Join(Stores, ", "))
	}
	if err := CheckLoopback(c.Daemon.HTTPAddr()); err != nil {
		return fmt.Errorf("daemon.http: %w", err)
	}
	switch c.Daemon.KeepAlive {
	case "":
		c.Daemon.KeepAliveEvery = 24 * time.Hour
	case "0":
		c.Daemon.KeepAliveEvery = -1
	default:
		d, err := time.ParseDuration(c.Daemon.KeepAlive)
		if err != nil || d < time.Hour {
			return fmt.Errorf("daemon.keepalive %s: want a duration of at least 1h, like \"24h\", or \"0\" for never", quote.String(c.Daemon.KeepAlive))
		}
		c.Daemon.KeepAliveEvery = d
	}
	for _, b := range []struct {
		key  string
		v    *int
		dflt int
	}{
		{"daemon.max_scope_sets_per_profile", &c.Daemon.MaxScopeSets, DefaultMaxScopeSets},
		{"daemon.max_scope_sets_per_capability", &c.Daemon.MaxCapabilityScopeSets, DefaultMaxCapabilityScopeSets},
	} {
		switch {
		case *b.v == 0:
			*b.v = b.dflt
		case *b.v < 0 || *b.v > maxScopeSetsLimit:
			return fmt.Errorf("%s = %d: want 1 to %d (default %d)", b.key, *b.v, maxScopeSetsLimit, b.dflt)
		}
	}
	for name, p := range c.Profiles {
		if p == nil {
			return fmt.Errorf("profiles.%s: empty profile", keyName(name))
		}
		p.Name = name
		if err := p.normalize(); err != nil {
			return fmt.Errorf("profiles.%s: %w", keyName(name), err)
		}
	}
	if c.DefaultProfile != "" && c.Profiles[c.DefaultProfile] == nil {
		return fmt.Errorf("default_profile %s: no such profile", quote.String(c.DefaultProfile))
	}
	return nil
}

func (p *Profile) normalize() error {
	if !profileName().MatchString(p.Name) {
		return errors.New("profile names are 1–64 letters, digits, '.', '_' or '-'")
	}
	if p.Flow == "" {
		return fmt.Errorf("flow is required: one of %s", strings.Join(flow.Names(), ", "))
	}
	f, ok := flow.Lookup(p.Flow)
	if !ok {
		return fmt.Errorf("flow %s: want one of %s", quote.String(string(p.Flow)), strings.Join(flow.Names(), ", "))
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{DatabricksScope}
	}
	resources := map[string]bool{}
	for _, s := range p.Scopes {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("scope %s: scopes are single words", quote.String(s))
		}
		if r := ScopeResource(s); r != "" {
			resources[r] = true
		}
	}
	if len(resources) > 1 {
		return fmt.Errorf("scopes %s name %d resources: Entra issues a token for one resource at a time, so make one profile per resource (or ask with `token get --resource`)", quote.Strings(p.Scopes), len(resources))
	}
	if p.DatabricksHost != "" {
		h, err := NormalizeHost(p.DatabricksHost)
		if err != nil {
			return fmt.Errorf("databricks_host: %w", err)
		}
		p.DatabricksHost = h
	}
	if err := p.normalizeDatabricksHosts(); err != nil {
		return err
	}
	if err := p.normalizeCloud(); err != nil {
		return err
	}
	if p.Authority != "" {
		u, err := url.Parse(p.Authority)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("authority %s: want https://HOST/TENANT (or https://HOST with tenant or databricks_host)", quote.String(p.Authority))
		}
	}
	if err := p.normalizeServiceKeys(); err != nil {
		return err
	}
	if f.User && p.ClientID == "" {
		p.ClientID = AzureCLIClientID
	}
	if f.User && p.NeedsTenant() && p.DatabricksHost == "" {
		p.Tenant = UserTenant
	}
	if f.App && p.ClientID == "" {
		return fmt.Errorf("flow %s needs client_id: the application (client) id of the app registration in Entra ID", p.Flow)
	}
	if f.App && p.NeedsTenant() && p.DatabricksHost == "" {
		return errors.New("set tenant (or authority, or databricks_host to discover it)")
	}
	return nil
}

// databricksAccountID is the shape of a Databricks account id (a UUID).
var databricksAccountID = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
})

// normalizeDatabricksHosts normalizes databricks_hosts (dropping those
// equal to databricks_host or to each other) and checks the account id.
func (p *Profile) normalizeDatabricksHosts() error {
	var hosts []string
	for _, h := range p.DatabricksHosts {
		n, err := NormalizeHost(h)
		if err != nil {
			return fmt.Errorf("databricks_hosts: %w", err)
		}
		if n != p.DatabricksHost && !slices.Contains(hosts, n) {
			hosts = append(hosts, n)
		}
	}
	p.DatabricksHosts = hosts
	if id := p.DatabricksAccountID; id != "" && !databricksAccountID().MatchString(id) {
		return fmt.Errorf("databricks_account_id %s: want the account's id, a UUID (the account console shows it)", quote.String(id))
	}
	return nil
}

// AllDatabricksHosts is every Databricks host the profile answers for:
// databricks_host first, then databricks_hosts.
func (p *Profile) AllDatabricksHosts() []string {
	var hosts []string
	if p.DatabricksHost != "" {
		hosts = append(hosts, p.DatabricksHost)
	}
	return append(hosts, p.DatabricksHosts...)
}

// IsAccountHost reports whether a Databricks host is an account console
// (https://accounts.azuredatabricks.net and its kin in other clouds), as
// the Databricks SDKs tell it from a workspace: by the "accounts." or
// "accounts-dod." prefix.
func IsAccountHost(host string) bool {
	h, err := NormalizeHost(host)
	return err == nil && (strings.HasPrefix(h, "https://accounts.") || strings.HasPrefix(h, "https://accounts-dod."))
}

// workspaceResourceID is the shape of an Azure Databricks workspace's
// resource id.
var workspaceResourceID = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Databricks/workspaces/[^/]+$`)
})

// normalizeServiceKeys checks the keys that belong to one flow each, and
// the workspace resource id.
func (p *Profile) normalizeServiceKeys() error {
	only := func(key string, set bool, f flow.Name) error {
		if set && p.Flow != f {
			return fmt.Errorf("%s applies to flow %s only (this profile's flow is %s)", key, f, p.Flow)
		}
		return nil
	}
	if err := errors.Join(
		only("send_x5c", p.SendX5C, flow.ClientCertificate),
		only("managed_identity_resource_id", p.ManagedIdentityResourceID != "", flow.ManagedIdentity),
		only("managed_identity_object_id", p.ManagedIdentityObjectID != "", flow.ManagedIdentity),
		only("federated_token_file", p.FederatedTokenFile != "", flow.WorkloadIdentity),
	); err != nil {
		return err
	}
	if p.Flow == flow.ManagedIdentity {
		n := 0
		for _, v := range []string{p.ClientID, p.ManagedIdentityResourceID, p.ManagedIdentityObjectID} {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			return errors.New("name the user-assigned identity once: client_id, managed_identity_resource_id or managed_identity_object_id (none: the system-assigned identity)")
		}
	}
	if id := p.AzureWorkspaceResourceID; id != "" && !workspaceResourceID().MatchString(id) {
		return fmt.Errorf("azure_workspace_resource_id %s: want /subscriptions/SUBSCRIPTION/resourceGroups/GROUP/providers/Microsoft.Databricks/workspaces/NAME", quote.String(id))
	}
	return nil
}

// normalizeCloud defaults the cloud to the workspace's (from the DNS zone of
// databricks_host), else public. A cloud set explicitly wins.
func (p *Profile) normalizeCloud() error {
	if p.Cloud == "" {
		p.Cloud = WorkspaceCloud(p.DatabricksHost)
	}
	if _, ok := AuthorityHosts[p.Cloud]; !ok {
		return fmt.Errorf("cloud %s: want public, usgov or china", quote.String(p.Cloud))
	}
	return nil
}

// WorkspaceCloud is the cloud of an Azure Databricks workspace URL, from its
// DNS zone (as the Databricks SDKs tell them apart); "public" when unknown.
func WorkspaceCloud(host string) string {
	if u, err := url.Parse(host); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	switch host = strings.ToLower(host); {
	case strings.HasSuffix(host, ".databricks.azure.us"):
		return "usgov"
	case strings.HasSuffix(host, ".databricks.azure.cn"):
		return "china"
	}
	return "public"
}

// ScopeResource returns the resource a scope is for ("https://x.y/" for
// "https://x.y//.default", a GUID for "GUID/.default"), or "" for the OpenID
// scopes and other bare words.
func ScopeResource(scope string) string {
	i := strings.LastIndex(scope, "/")
	if i <= 0 {
		return ""
	}
	return scope[:i]
}

// NormalizeHost turns a workspace URL into "https://host[:port]" (lowercase,
// no path, no trailing slash), the form compared against X-Databricks-Host.
func NormalizeHost(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%s is not a URL", quote.String(s))
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// CheckLoopback accepts "" (off) or HOST:PORT where HOST is a loopback IP or
// "localhost". Anything else would expose tokens to the network.
func CheckLoopback(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("%s: want HOST:PORT (%s)", quote.String(addr), ae.Err)
		}
		return fmt.Errorf("%s: want HOST:PORT", quote.String(addr))
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: tokend only listens on 127.0.0.1 or ::1", quote.String(addr))
	}
	return nil
}

// Profile looks a profile up by name, falling back to default_profile.
func (c *Config) Profile(name string) (*Profile, bool) {
	if name == "" {
		name = c.DefaultProfile
	}
	p, ok := c.Profiles[name]
	return p, ok
}

// SocketPath is where the daemon listens: $TOKEND_SOCKET, else daemon.socket,
// else DefaultSocket().
func (c *Config) SocketPath() string {
	if s := os.Getenv("TOKEND_SOCKET"); s != "" {
		return s
	}
	if c.Daemon.Socket != "" {
		return c.Daemon.Socket
	}
	return DefaultSocket()
}

// DefaultSocket is $XDG_RUNTIME_DIR/tokend/tokend.sock, or, where there is
// no runtime dir (macOS; a session without one), tokend/tokend.sock in the
// user cache dir ($XDG_CACHE_HOME, else ~/.cache; ~/Library/Caches on
// macOS), taking the home directory from the user database when $HOME is
// unset. Those places are the user's own: nobody else can create them
// first. Only a user without a home directory gets
// $TMPDIR/tokend-<uid>/tokend.sock, which another user could create
// first: then the daemon refuses to start there and clients refuse to talk
// there (see internal/safesocket), naming its owner. On Windows it is the
// named pipe \\.\pipe\tokend-<user SID> (config_windows.go).
func DefaultSocket() string {
	if p := defaultPipe(); p != "" {
		return p
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "tokend", "tokend.sock")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tokend", "tokend.sock")
	}
	if u, err := user.Current(); err == nil && filepath.IsAbs(u.HomeDir) && u.HomeDir != "/" {
		cache := filepath.Join(u.HomeDir, ".cache")
		if runtime.GOOS == "darwin" {
			cache = filepath.Join(u.HomeDir, "Library", "Caches")
		}
		return filepath.Join(cache, "tokend", "tokend.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("tokend-%d", os.Getuid()), "tokend.sock")
}

// StateDir is where the daemon keeps state: $TOKEND_STATE_DIR, else
// <user config dir>/tokend/state (on Windows %LOCALAPPDATA%\tokend\state:
// state belongs to the machine, not to a roaming profile).
func StateDir() (string, error) {
	if d := os.Getenv("TOKEND_STATE_DIR"); d != "" {
		return d, nil
	}
	d, err := stateBase()
	if err != nil {
		return "", fmt.Errorf("find state dir (set TOKEND_STATE_DIR): %w", err)
	}
	return filepath.Join(d, "tokend", "state"), nil
}
