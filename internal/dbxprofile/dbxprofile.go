// Package dbxprofile writes and removes the Databricks profiles that let the
// Databricks SDKs, CLI and tools get tokens from tokend with no wrapper:
// a section of ~/.databrickscfg (or $DATABRICKS_CONFIG_FILE) holding
//
//	[dbx]
//	; tokend: capability 0123456789abcdef of profile dbx, until 2027-03-01; `token databricks remove dbx` revokes it
//	host = https://adb-1234567890123456.7.azuredatabricks.net
//	auth_type = metadata-service
//	metadata_service_url = http://127.0.0.1:18653/databricks/tkd1.0123456789abcdef.SECRET
//	account_id = …                  (an account console host only)
//
// The URL holds a capability of kind databricks: it buys Azure Databricks
// tokens for the tokend profile's Databricks hosts only, from this user's
// daemon only (its uid, where the kernel names a TCP peer's owner), until it
// expires or is revoked. It survives daemon restarts (tokend keeps its hash
// in the store, and listens on a fixed port). This is the trade of a file
// that needs no wrapper: whoever of this uid reads the file can get those
// tokens as long as the capability lives.
//
// The file itself is edited by internal/databrickscfg: every other profile
// and comment stays byte for byte; the file is replaced atomically, mode
// 0600, never through a link, never another user's.
package dbxprofile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/databrickscfg"
)

// DefaultTTL is how long a configured profile's capability lives.
const DefaultTTL = 90 * 24 * time.Hour

// Daemon is what the package needs from tokend (a *client.Client).
type Daemon interface {
	Status(ctx context.Context) (*wire.Status, error)
	CreateCapability(ctx context.Context, req wire.CapabilityRequest) (*wire.Capability, error)
	RevokeCapability(ctx context.Context, id string) error
}

var _ Daemon = (*client.Client)(nil)

// Options say what to configure.
type Options struct {
	Profile   string        // the tokend profile
	Section   string        // the .databrickscfg profile; "": Profile
	Host      string        // one of the profile's Databricks hosts; "": its databricks_host (else its first)
	AccountID string        // account_id to write; "": the profile's databricks_account_id, for an account host
	TTL       time.Duration // 0: DefaultTTL
	Path      string        // the file; "": databrickscfg.Path()
}

// Result says what Configure did.
type Result struct {
	Path       string
	Section    string
	Host       string
	AccountID  string
	Capability *wire.Capability
	Replaced   string      // the id of the capability the section held before, revoked
	Warnings   []string    // what the user should know (a revocation that failed, a mode tightened, the memory store)
	OldMode    fs.FileMode // of the file before, when broader than 0600
}

// foreignAuth are keys of other ways to authenticate: a section holding
// any of them is someone else's.
var foreignAuth = []string{"token", "username", "password", "client_id", "client_secret",
	"azure_client_id", "azure_client_secret", "azure_tenant_id", "azure_use_msi", "azure_workspace_resource_id",
	"google_service_account", "google_credentials", "databricks_cli_path", "actions_id_token_request_url"}

// Configure writes (or updates) the section for a tokend profile: it mints
// a databricks capability, writes the section, then revokes the capability
// the section held before. Nothing is written when any step before fails,
// and the new capability is revoked when the write fails.
func Configure(ctx context.Context, d Daemon, o Options) (*Result, error) {
	st, err := d.Status(ctx)
	if err != nil {
		return nil, err
	}
	ps := findProfile(st, o.Profile)
	if ps == nil {
		return nil, fmt.Errorf("no profile %q in tokend's config (`token status` lists them)", o.Profile)
	}
	if len(ps.DatabricksHosts) == 0 {
		return nil, fmt.Errorf("profile %s has no Databricks host: set databricks_host (and databricks_hosts, for more workspaces or the account console) in tokend's config, then `systemctl --user reload tokend` (or restart it)", ps.Name)
	}
	host := ps.DatabricksHosts[0]
	if o.Host != "" {
		h, err := config.NormalizeHost(o.Host)
		if err != nil || !contains(ps.DatabricksHosts, h) {
			return nil, fmt.Errorf("%s is not one of profile %s's Databricks hosts (%s): add it to databricks_hosts in tokend's config and reload tokend", o.Host, ps.Name, strings.Join(ps.DatabricksHosts, ", "))
		}
		host = h
	}
	account := o.AccountID
	if account == "" && config.IsAccountHost(host) {
		account = ps.DatabricksAccountID
	}
	if account == "" && config.IsAccountHost(host) {
		return nil, fmt.Errorf("%s is an account console: the Databricks SDKs need its account id there; set databricks_account_id in profile %s of tokend's config, or pass --account-id", host, ps.Name)
	}
	if _, err := client.MetadataServiceURL(st.Listeners.TCP, "x"); err != nil {
		return nil, err
	}
	section := o.Section
	if section == "" {
		section = ps.Name
	}
	l, err := load(o.Path)
	if err != nil {
		return nil, err
	}
	path := l.Path
	old, err := ownSection(l, section)
	if err != nil {
		return nil, err
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	label := client.CapabilityLabel(fmt.Sprintf("databricks [%s] in %s", section, path))
	c, err := d.CreateCapability(ctx, wire.CapabilityRequest{Profile: ps.Name, Kind: wire.CapabilityDatabricks, Label: label, TTLSeconds: int64(ttl / time.Second)})
	if err != nil {
		return nil, err
	}
	msURL, _ := client.MetadataServiceURL(st.Listeners.TCP, c.Token)
	keys := []databrickscfg.KV{{Key: "host", Value: host}, {Key: "auth_type", Value: "metadata-service"}, {Key: "metadata_service_url", Value: msURL}}
	if account != "" {
		keys = append(keys, databrickscfg.KV{Key: "account_id", Value: account})
	}
	comment := fmt.Sprintf("; tokend: capability %s of profile %s, until %s; `token databricks remove %s` revokes it",
		c.ID, ps.Name, time.Unix(c.ExpiresOn, 0).UTC().Format("2006-01-02"), section)
	nf, err := l.File.Set(section, keys, comment)
	if err == nil {
		err = l.Write(nf)
	}
	if err != nil {
		if rerr := d.RevokeCapability(context.WithoutCancel(ctx), c.ID); rerr != nil {
			err = fmt.Errorf("%w (and revoking the capability minted for it failed: %v; `token capabilities revoke %s`)", err, rerr, c.ID)
		}
		return nil, err
	}
	r := &Result{Path: path, Section: section, Host: host, AccountID: account, Capability: c}
	if l.Exists && l.Mode.Perm()&0o077 != 0 {
		r.OldMode = l.Mode.Perm()
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s was mode %04o; it is 0600 now, as it holds a capability", path, l.Mode.Perm()))
	}
	if st.Store.Backend == "memory" {
		r.Warnings = append(r.Warnings, "tokend keeps capabilities in memory (store memory): this profile stops working when tokend stops")
	}
	if old != "" && old != c.ID {
		r.Replaced = old
		if err := d.RevokeCapability(ctx, old); err != nil && !notFound(err) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the capability the profile held before (%s) could not be revoked: %v; `token capabilities revoke %s`", old, err, old))
		}
	}
	return r, nil
}

// Removed says what Remove did.
type Removed struct {
	Path, Section string
	Capability    string // the id revoked ("" if the daemon no longer had it)
}

// Remove revokes the capability of a section Configure wrote, then removes
// the section. A section of someone else's, or one missing, is an error; so
// is a daemon that cannot be asked (the file then stays as it was).
func Remove(ctx context.Context, d Daemon, section, path string) (*Removed, error) {
	l, err := load(path)
	if err != nil {
		return nil, err
	}
	path = l.Path
	if _, ok := l.File.Section(section); !ok {
		return nil, fmt.Errorf("no profile [%s] in %s", section, path)
	}
	id, err := ownSection(l, section)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("profile [%s] in %s holds no tokend capability (no metadata_service_url of tokend's): it was not written by `token databricks configure`; edit the file yourself", section, path)
	}
	r := &Removed{Path: path, Section: section, Capability: id}
	if err := d.RevokeCapability(ctx, id); notFound(err) {
		r.Capability = ""
	} else if err != nil {
		return nil, fmt.Errorf("revoke capability %s of [%s]: %w; %s was not changed", id, section, err, path)
	}
	nf, _, err := l.File.Remove(section)
	if err != nil {
		return nil, err
	}
	if err := l.Write(nf); err != nil {
		return nil, err
	}
	return r, nil
}

// capabilityURL matches the metadata-service URL of a tokend capability.
var capabilityURL = regexp.MustCompile(`^/databricks/tkd1\.([0-9a-f]{16})\.[A-Za-z0-9_-]+$`)

// CapabilityID returns the id of the tokend capability in a
// metadata_service_url, or "" when it is not one of tokend's.
func CapabilityID(msURL string) string {
	u, err := url.Parse(msURL)
	if err != nil || u.Scheme != "http" || u.RawQuery != "" {
		return ""
	}
	switch u.Hostname() {
	case "127.0.0.1", "localhost", "::1":
	default:
		return ""
	}
	m := capabilityURL.FindStringSubmatch(u.Path)
	if m == nil {
		return ""
	}
	return m[1]
}

// load reads the file at path, or at databrickscfg.Path() when path is "".
func load(path string) (*databrickscfg.Loaded, error) {
	if path == "" {
		var err error
		if path, err = databrickscfg.Path(); err != nil {
			return nil, err
		}
	}
	return databrickscfg.Load(path)
}

// ownSection returns the capability id of the section Configure wrote
// (or "" when there is no such section): a section holding anything of
// another way to authenticate, or a metadata_service_url that is not
// tokend's, is someone else's, and an error.
func ownSection(l *databrickscfg.Loaded, section string) (string, error) {
	kv, ok := l.File.Section(section)
	if !ok {
		return "", nil
	}
	var theirs []string
	for _, k := range foreignAuth {
		if _, ok := kv[k]; ok {
			theirs = append(theirs, k)
		}
	}
	id := ""
	if u, ok := kv["metadata_service_url"]; ok {
		if id = CapabilityID(u); id == "" {
			theirs = append(theirs, "metadata_service_url (not tokend's)")
		}
	}
	if a, ok := kv["auth_type"]; ok && a != "metadata-service" {
		theirs = append(theirs, "auth_type = "+a)
	}
	if len(theirs) > 0 {
		return "", fmt.Errorf("profile [%s] in %s signs in another way (%s): tokend leaves it alone; name another profile (--section), or remove it yourself", section, l.Path, strings.Join(theirs, ", "))
	}
	// A profile with settings only (host, cluster_id …) gets tokend's keys
	// added, its own kept.
	return id, nil
}

func findProfile(st *wire.Status, name string) *wire.ProfileStatus {
	for i := range st.Profiles {
		if st.Profiles[i].Name == name {
			return &st.Profiles[i]
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// notFound reports whether the daemon answered that a capability is
// unknown (expired, revoked already).
func notFound(err error) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Status == http.StatusNotFound
}
