package entra

import (
	"context"
	"errors"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/tokend/tokend/internal/idp"
)

// loginPassword signs a user in with username and password (resource
// owner password credentials). Like every user flow it signs in on a scratch
// cache that replaces the profile's only on success, so a wrong password
// changes nothing and a sign-in as another user replaces the old account.

func (f *userFlow) loginPassword(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	if req.Username == "" || req.Password == "" {
		return idp.Token{}, errors.New("username and password are required: `token login PROFILE --username USER --password-stdin`")
	}
	app, c, err := f.scratch(nil)
	if err != nil {
		return idp.Token{}, err
	}
	// MSAL deprecates the resource owner password grant (ROPC) and will
	// remove it (https://aka.ms/msal-ropc-migration): it cannot do MFA, and
	// Entra is phasing it out for users under MFA enforcement. This is the
	// only call of it; when MSAL removes it, the password flow goes, and
	// its profiles move to flow = "device-code" or "browser".
	//lint:ignore SA1019 the password flow exists for accounts that have nothing else; see above
	r, err := app.AcquireTokenByUsernamePassword(ctx, f.s.profile.Scopes, req.Username, req.Password)
	if err != nil {
		return idp.Token{}, err
	}
	if err := f.commit(ctx, c, req.Method); err != nil {
		return idp.Token{}, err
	}
	return userToken(r), nil
}

// silent redeems the signed-in account's refresh token. The cache holds no
// access tokens, so MSAL always goes to the identity provider.
func silent(ctx context.Context, app public.Client, profile string, scopes []string) (idp.Token, error) {
	accounts, err := app.Accounts(ctx)
	if err != nil {
		return idp.Token{}, fmt.Errorf("read accounts: %w", err)
	}
	if len(accounts) == 0 {
		return idp.Token{}, fmt.Errorf("profile %s is not signed in: %w", profile, idp.ErrLoginRequired)
	}
	r, err := app.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accounts[0]))
	if err != nil {
		return idp.Token{}, err
	}
	return userToken(r), nil
}

func userToken(r public.AuthResult) idp.Token {
	return idp.Token{AccessToken: r.AccessToken, ExpiresOn: r.ExpiresOn, Account: r.Account.PreferredUsername, TenantID: r.Account.Realm}
}
