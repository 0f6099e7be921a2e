package entra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/idp"
)

// azureCLIFlow gets tokens from the Azure CLI: the daemon runs
// `az account get-access-token -o json` (with --resource R for a
// "R/.default" scope, else --scope, and --tenant when the profile names
// one) as the user it runs as, and reads accessToken and expires_on (or,
// from CLI versions before 2.54, expiresOn in local time) from its output.
// The CLI keeps its own sign-in (`az login`, user or service principal) and
// its own token cache: it hands back the access token it holds until about
// five minutes before that expires, so a refresh at half-life may return
// the same token. Nothing is stored by tokend; login just runs it once.
type azureCLIFlow struct{ s *Source }

// maxAzureCLIOutput bounds what is read from az.
const maxAzureCLIOutput = 1 << 20

func (f *azureCLIFlow) login(ctx context.Context, _ idp.LoginRequest) (idp.Token, error) {
	return f.token(ctx, f.s.profile.Scopes)
}

func (f *azureCLIFlow) forget() {}

func (f *azureCLIFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	args := azureCLIArgs(scopes, f.s.profile.Tenant)
	path, err := exec.LookPath("az")
	if err != nil {
		return idp.Token{}, idp.Setupf("profile %s gets its tokens from the Azure CLI, but `az` is not on tokend's PATH: install the Azure CLI (https://aka.ms/azure-cli), or start tokend with a PATH that has it", f.s.profile.Name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_SURVEY_MESSAGE=false")
	cmd.Stdin = nil
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxAzureCLIOutput, 64<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return idp.Token{}, ctx.Err()
	case ctx.Err() != nil:
		return idp.Token{}, &idp.Error{Temporary: true, Err: errors.New("az account get-access-token did not answer in time")}
	case err != nil:
		return idp.Token{}, azureCLIError(stderr.Bytes(), err)
	}
	t, err := parseAzureCLIToken(stdout.Bytes(), time.Local)
	if err != nil {
		return idp.Token{}, fmt.Errorf("az account get-access-token: %w", err)
	}
	if t.TenantID == "" {
		t.TenantID = f.s.profile.Tenant
	}
	return t, nil
}

// azureCLIArgs are the arguments of `az` for scopes.
func azureCLIArgs(scopes []string, tenant string) []string {
	args := []string{"account", "get-access-token", "--output", "json"}
	if len(scopes) == 1 && strings.HasSuffix(scopes[0], "/.default") {
		args = append(args, "--resource", strings.TrimSuffix(scopes[0], "/.default"))
	} else {
		args = append(args, "--scope")
		args = append(args, scopes...)
	}
	if tenant != "" {
		args = append(args, "--tenant", tenant)
	}
	return args
}

// azureCLIToken is the output of `az account get-access-token -o json`.
type azureCLIToken struct {
	AccessToken string          `json:"accessToken"`
	ExpiresOn   string          `json:"expiresOn"`  // local time, "2006-01-02 15:04:05.000000"
	ExpiresOnTS json.RawMessage `json:"expires_on"` // unix seconds, az 2.54 and later
	Tenant      string          `json:"tenant"`
	TokenType   string          `json:"tokenType"`
}

// parseAzureCLIToken reads az's answer; expiresOn is in loc (the local
// time of the az process). Errors never quote the output: it holds a token.
func parseAzureCLIToken(out []byte, loc *time.Location) (idp.Token, error) {
	var a azureCLIToken
	if err := json.Unmarshal(out, &a); err != nil {
		return idp.Token{}, errors.New("the output is not the JSON object of `az account get-access-token -o json`")
	}
	if a.AccessToken == "" {
		return idp.Token{}, errors.New("the output has no accessToken")
	}
	for _, r := range a.AccessToken {
		if r <= ' ' || r >= 0x7f {
			return idp.Token{}, errors.New("the accessToken has characters no access token has")
		}
	}
	if a.TokenType != "" && !strings.EqualFold(a.TokenType, "Bearer") {
		return idp.Token{}, fmt.Errorf("tokenType %q, want Bearer", truncate(a.TokenType, 20))
	}
	var exp time.Time
	if len(a.ExpiresOnTS) > 0 && string(a.ExpiresOnTS) != "null" {
		s := strings.Trim(string(a.ExpiresOnTS), `"`)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n > 1<<40 {
			return idp.Token{}, errors.New("expires_on is not a unix time")
		}
		exp = time.Unix(n, 0)
	} else {
		t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", a.ExpiresOn, loc)
		if err != nil {
			return idp.Token{}, errors.New("the output has neither expires_on nor an expiresOn like 2006-01-02 15:04:05.000000")
		}
		exp = t
	}
	if exp.Year() < 2000 || exp.Year() > 9999 {
		return idp.Token{}, errors.New("the token's expiry is out of range")
	}
	tenant := a.Tenant
	if !guidLike(tenant) {
		tenant = ""
	}
	account, tid := accountOf(a.AccessToken)
	if tenant == "" {
		tenant = tid
	}
	return idp.Token{AccessToken: a.AccessToken, ExpiresOn: exp, Account: account, TenantID: tenant}, nil
}

var (
	aadstsAnywhere = regexp.MustCompile(`AADSTS(\d+)`)
	guidShape      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func guidLike(s string) bool { return guidShape.MatchString(s) }

// azureCLILoginCodes are AADSTS errors that `az login` fixes: the CLI's
// sign-in was revoked, expired or needs more (MFA, consent).
var azureCLILoginCodes = map[string]bool{
	"50173": true, "700082": true, "70043": true, "50076": true, "50079": true,
	"50078": true, "65001": true, "50158": true, "530003": true, "50133": true,
}

// azureCLIError classifies a failed `az account get-access-token` from
// what it printed on stderr: "az login" needed (login required), another
// answer of Entra ID (permanent), anything else (temporary: network,
// throttling, a CLI hiccup).
func azureCLIError(stderr []byte, runErr error) error {
	msg := ""
	for line := range strings.SplitSeq(string(stderr), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "ERROR: "); ok {
			msg = rest
			break
		}
		if msg == "" && line != "" && !strings.HasPrefix(line, "WARNING:") {
			msg = line
		}
	}
	if msg == "" {
		msg = runErr.Error()
	}
	msg = truncate(msg, 300)
	e := &idp.Error{Err: fmt.Errorf("az account get-access-token: %s", msg)}
	code := ""
	if m := aadstsAnywhere.FindStringSubmatch(string(stderr)); m != nil {
		code = m[1]
	}
	lower := strings.ToLower(string(stderr))
	switch {
	case strings.Contains(lower, "az login") || azureCLILoginCodes[code]:
		e.LoginNeeded = true
	case code != "":
		// Entra ID refused (unknown resource, no access…): retrying the
		// same request will not help.
	default:
		e.Temporary = true
	}
	return e
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// limitedBuffer keeps the first max bytes written and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*limitedBuffer)(nil)
