package entra

import (
	"context"
	"errors"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/tokend/tokend/internal/idp"
)

// passwordFlow is a user signing in with username and password (resource
// owner password credentials). Login leaves a refresh token in the MSAL
// cache; token redeems it.
type passwordFlow struct {
	s     *Source
	cache *msalCache
	app   public.Client
}

func newPasswordFlow(s *Source) (*passwordFlow, error) {
	cache, err := s.newCache(context.Background())
	if err != nil {
		return nil, err
	}
	p := s.profile
	app, err := public.New(p.ClientID,
		public.WithAuthority(p.AuthorityURL()),
		public.WithCache(cache),
		public.WithHTTPClient(s.opts.HTTPClient),
		public.WithInstanceDiscovery(s.instanceDiscovery()),
	)
	if err != nil {
		return nil, fmt.Errorf("msal client: %w", err)
	}
	return &passwordFlow{s: s, cache: cache, app: app}, nil
}

func (f *passwordFlow) login(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	if req.Username == "" || req.Password == "" {
		return idp.Token{}, errors.New("username and password are required: `token login PROFILE --username USER --password-stdin`")
	}
	r, err := f.app.AcquireTokenByUsernamePassword(ctx, f.s.profile.Scopes, req.Username, req.Password)
	if err != nil {
		return idp.Token{}, err
	}
	return userToken(r), nil
}

func (f *passwordFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	return silent(ctx, f.app, f.s.profile.Name, scopes)
}

func (f *passwordFlow) forget() {}

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
