package tokencli

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/cli"
)

// azureDevOpsScope is the scope of Azure DevOps (Azure Repos).
const azureDevOpsScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"

// defaultGitHosts are the Azure DevOps hosts the helper answers for.
var defaultGitHosts = []string{"dev.azure.com", "*.visualstudio.com"}

// Limits of the git credential format: a line may not exceed 65535 bytes
// (git-credential(1)); the whole description is small.
const (
	maxGitLine  = 65535
	maxGitInput = 1 << 20
)

// newGitCredentialCmd is a git credential helper (gitcredentials(7)):
//
//	git config --global credential.https://dev.azure.com.helper '!token git-credential -p ado'
//
// "get" answers with a token for the profile: as a Bearer credential when
// git offers capability[]=authtype (git 2.46+) and the server accepts
// Bearer, else as a password. "erase" (git sends it after the server
// rejected the credential) makes tokend fetch a new token. "store" and
// unknown operations are ignored. Hosts other than --host (default
// dev.azure.com and *.visualstudio.com) and non-HTTPS URLs get no answer,
// so that git asks its other helpers.
func newGitCredentialCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "git-credential get|store|erase",
		Short: "git credential helper for Azure DevOps",
		Long: `A git credential helper (gitcredentials(7)) for Azure DevOps: "get" answers
with a token of the profile (-p) as a Bearer credential where git offers
one (git 2.46+) and the server accepts it, else as a password; "erase" (git
sends it when the server refused the credential) makes tokend fetch a new
token; "store" is ignored. Other hosts (--host) and non-HTTPS URLs get no
answer, so that git asks its other helpers.`,
		Example:   `  git config --global credential.https://dev.azure.com.helper '!token git-credential -p ado'`,
		GroupID:   groupTools,
		ValidArgs: []string{"get", "store", "erase"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want one operation: get, store or erase")
			}
			return nil
		},
	}
	hosts := cmd.Flags().StringArray("host", nil, "host[:port] to answer for, or *.domain (repeatable; default dev.azure.com, *.visualstudio.com)")
	scopes := cmd.Flags().StringArray("scope", nil, "scope of the token (repeatable; default Azure DevOps)")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		op := args[0]
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		profile, err := a.profileArg(nil, false)
		if err != nil {
			return err
		}
		hs, ss := *hosts, *scopes
		if len(hs) == 0 {
			hs = defaultGitHosts
		}
		if len(ss) == 0 {
			ss = []string{azureDevOpsScope}
		}
		cred, err := parseGitCredential(a.stdin)
		if err != nil {
			return err
		}
		if op != "get" && op != "erase" {
			return nil // store, and operations of future gits
		}
		if cred.get("protocol") != "https" || !hostMatches(cred.get("host"), hs) {
			return nil
		}
		cl := a.client()
		if op == "erase" {
			req := wire.RefreshRequest{Profile: profile, Scopes: ss}
			if rejected := cmp.Or(cred.get("credential"), cred.get("password")); rejected != "" {
				sum := sha256.Sum256([]byte(rejected))
				req.RejectedSHA256 = hex.EncodeToString(sum[:])
			}
			_, err := cl.Refresh(ctx, req)
			return err
		}
		t, err := cl.Token(ctx, client.TokenRequest{Profile: profile, Scopes: ss})
		if err != nil {
			return err
		}
		return writeGitAnswer(a.stdout, cred, t)
	})
	return cmd
}

// writeGitAnswer prints the answer to "get".
func writeGitAnswer(w io.Writer, cred *gitCredential, t *wire.Token) error {
	if strings.ContainsAny(t.AccessToken, "\n\x00") {
		return errors.New("git-credential: the token contains a newline or NUL")
	}
	expiry := strconv.FormatInt(t.ExpiresOn, 10)
	var lines []string
	if cred.wantsBearer() {
		lines = []string{
			"capability[]=authtype",
			"authtype=Bearer",
			"credential=" + t.AccessToken,
			"ephemeral=1",
			"password_expiry_utc=" + expiry,
		}
	} else {
		user := cred.get("username")
		if user == "" || strings.ContainsAny(user, "\n\x00") {
			user = "tokend" // Azure DevOps ignores the user name of a token
		}
		lines = []string{"username=" + user, "password=" + t.AccessToken, "password_expiry_utc=" + expiry}
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// gitCredential is a credential description read from git: one key=value
// per line; keys ending in [] may repeat.
type gitCredential struct {
	keys   []string // in order, each once
	values map[string][]string
}

func (c *gitCredential) get(key string) string {
	v := c.values[key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// wantsBearer reports whether git can take a Bearer credential
// (capability[]=authtype) and the server, if it said, accepts one.
func (c *gitCredential) wantsBearer() bool {
	if !slices.Contains(c.values["capability[]"], "authtype") {
		return false
	}
	challenges := c.values["wwwauth[]"]
	if len(challenges) == 0 {
		return true
	}
	for _, ch := range challenges {
		scheme, _, _ := strings.Cut(strings.TrimSpace(ch), " ")
		if strings.EqualFold(scheme, "bearer") {
			return true
		}
	}
	return false
}

// parseGitCredential reads a description up to a blank line or EOF, as git
// does, refusing what git would never send.
func parseGitCredential(r io.Reader) (*gitCredential, error) {
	c := &gitCredential{values: map[string][]string{}}
	br := bufio.NewReader(io.LimitReader(r, maxGitInput+1))
	total := 0
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		total += len(line)
		if total > maxGitInput {
			return nil, errors.New("git-credential: input too large")
		}
		if len(line) > maxGitLine {
			return nil, errors.New("git-credential: line longer than 65535 bytes")
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("git-credential: read input: %w", err)
		}
		text := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if text == "" {
			return c, nil // blank line or EOF ends the description
		}
		key, value, ok := strings.Cut(text, "=")
		switch {
		case !ok || key == "":
			return nil, fmt.Errorf("git-credential: input line %d is not key=value", n)
		case strings.ContainsRune(text, 0):
			return nil, errors.New("git-credential: NUL in input")
		case strings.ContainsRune(text, '\r'):
			return nil, fmt.Errorf("git-credential: carriage return inside input line %d", n)
		}
		if _, seen := c.values[key]; !seen {
			c.keys = append(c.keys, key)
		}
		if strings.HasSuffix(key, "[]") {
			if value == "" {
				c.values[key] = nil // an empty value resets a list
				continue
			}
			c.values[key] = append(c.values[key], value)
		} else {
			c.values[key] = []string{value}
		}
		if err == io.EOF {
			return c, nil
		}
	}
}

// hostMatches reports whether host (host[:port] from git) is one of
// patterns: an exact host[:port], or *.domain for any subdomain of domain.
func hostMatches(host string, patterns []string) bool {
	host = strings.ToLower(host)
	if host == "" {
		return false
	}
	for _, p := range patterns {
		p = strings.ToLower(p)
		if suffix, ok := strings.CutPrefix(p, "*"); ok && strings.HasPrefix(suffix, ".") {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) && !strings.Contains(host, ":") {
				return true
			}
			continue
		}
		if host == p {
			return true
		}
	}
	return false
}

// encode writes c in git's format, each list value on its own line.
func (c *gitCredential) encode() string {
	var b strings.Builder
	for _, k := range c.keys {
		vs := c.values[k]
		if len(vs) == 0 {
			b.WriteString(k + "=\n")
		}
		for _, v := range vs {
			b.WriteString(k + "=" + v + "\n")
		}
	}
	return b.String()
}
