package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/tokend/tokend/internal/idp"
)

// loginRefreshToken (below) imports a refresh token the person obtained elsewhere
// (another tool, a script that ran the authorization code flow by hand).
//
// MSAL Go has no call that redeems a raw refresh token, so the token is
// handed to MSAL the way MSAL itself would have kept it: login seeds a
// scratch MSAL cache with the token (one RefreshToken and one AppMetadata
// entry of MSAL's serialized cache, the schema the MSAL libraries share)
// under a placeholder account, and asks MSAL for a token silently. MSAL
// redeems the refresh token, which is the first rotation; it files the
// result, and the new refresh token, under the real account; the
// placeholder is then removed and the scratch cache becomes the profile's.
// From then on the profile is like any other user profile: MSAL redeems and
// rotates its refresh token, and every rotation is persisted. The imported
// token itself is never stored.

// importAccount is the home account id of the placeholder account.
const importAccount = "tokend-import.placeholder"

// maxRefreshToken bounds an imported refresh token (Entra's are a few KB).
const maxRefreshToken = 32 << 10

func (f *userFlow) loginRefreshToken(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	rt, err := checkRefreshToken(req.RefreshToken)
	if err != nil {
		return idp.Token{}, fmt.Errorf("%w: pipe one to `token login %s --refresh-token-stdin`", err, f.s.profile.Name)
	}
	seed, placeholder, err := seedCache(f.s.profile.AuthorityURL(), f.s.profile.ClientID, rt)
	if err != nil {
		return idp.Token{}, err
	}
	app, c, err := f.scratch(seed)
	if err != nil {
		return idp.Token{}, err
	}
	r, err := app.AcquireTokenSilent(ctx, f.s.profile.Scopes, public.WithSilentAccount(placeholder))
	if err != nil {
		return idp.Token{}, err
	}
	if err := app.RemoveAccount(ctx, placeholder); err != nil {
		return idp.Token{}, fmt.Errorf("drop the imported refresh token: %w", err)
	}
	if err := f.commit(ctx, c, req.Method); err != nil {
		return idp.Token{}, err
	}
	return userToken(r), nil
}

// checkRefreshToken trims the token as read from stdin and refuses what
// cannot be one.
func checkRefreshToken(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("a refresh token is required")
	case len(s) > maxRefreshToken:
		return "", fmt.Errorf("that is not a refresh token (%d bytes, more than %d)", len(s), maxRefreshToken)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return "", errors.New("that is not a refresh token (it has spaces or control characters in it)")
		}
	}
	return s, nil
}

// seedCache returns an MSAL cache (serialized) holding refreshToken for
// clientID at authority, under a placeholder account, and that account.
// Hosts and tenants are lowercased, as MSAL keys them.
func seedCache(authority, clientID, refreshToken string) ([]byte, public.Account, error) {
	u, err := url.Parse(strings.ToLower(strings.TrimRight(authority, "/")))
	if err != nil || u.Host == "" {
		return nil, public.Account{}, fmt.Errorf("authority %q: not a URL", authority)
	}
	env := u.Host
	realm, _, _ := strings.Cut(strings.Trim(u.EscapedPath(), "/"), "/")
	acct := public.Account{HomeAccountID: importAccount, Environment: env, Realm: realm}
	type entry map[string]string
	key := func(parts ...string) string { return strings.ToLower(strings.Join(parts, "-")) }
	seed := map[string]map[string]entry{
		"RefreshToken": {key(importAccount, env, "refreshtoken", clientID): {
			"home_account_id": importAccount,
			"environment":     env,
			"credential_type": "RefreshToken",
			"client_id":       clientID,
			"secret":          refreshToken,
		}},
		"AppMetadata": {key("appmetadata", env, clientID): {
			"client_id":   clientID,
			"environment": env,
		}},
	}
	blob, err := json.Marshal(seed)
	if err != nil {
		return nil, public.Account{}, err
	}
	return blob, acct, nil
}
