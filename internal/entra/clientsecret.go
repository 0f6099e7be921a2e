package entra

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
)

// clientSecretFlow is a service principal with a client secret (client
// credentials grant). The secret lives in the store, put there by login.
type clientSecretFlow struct {
	s      *Source
	mu     sync.Mutex // guards secret and app; token calls run in parallel
	secret string
	app    *confidential.Client
}

func (f *clientSecretFlow) client(secret string) (*confidential.Client, error) {
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		return nil, err
	}
	p := f.s.profile
	// No cache option: client credentials need no refresh token, and MSAL's
	// in-memory access-token cache is bypassed by using a fresh cache below.
	app, err := confidential.New(p.AuthorityURL(), p.ClientID, cred,
		confidential.WithHTTPClient(f.s.opts.HTTPClient),
		confidential.WithInstanceDiscovery(f.s.instanceDiscovery()),
		confidential.WithCache(&msalCache{}),
	)
	if err != nil {
		return nil, fmt.Errorf("msal client: %w", err)
	}
	return &app, nil
}

func (f *clientSecretFlow) login(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	if req.ClientSecret == "" {
		return idp.Token{}, errors.New("a client secret is required: pipe it to `token login PROFILE --client-secret-stdin`")
	}
	// Prove the new secret works before it replaces the stored one.
	app, err := f.client(req.ClientSecret)
	if err != nil {
		return idp.Token{}, err
	}
	t, err := acquireByCredential(ctx, app, f.s.profile.Scopes, f.s.profile.ClientID)
	if err != nil {
		return idp.Token{}, err
	}
	if err := f.s.opts.Secrets.Set(ctx, f.s.key(keyClientSecret), []byte(req.ClientSecret)); err != nil {
		return idp.Token{}, fmt.Errorf("store client secret: %w", err)
	}
	f.mu.Lock()
	f.secret, f.app = req.ClientSecret, app
	f.mu.Unlock()
	return t, nil
}

func (f *clientSecretFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	secret, err := f.s.secret(ctx, keyClientSecret, "run `"+flow.Get(flow.ClientSecret).LoginCommand(f.s.profile.Name)+"`")
	if err != nil {
		return idp.Token{}, err
	}
	f.mu.Lock()
	if f.app == nil || string(secret) != f.secret {
		app, err := f.client(string(secret))
		if err != nil {
			f.mu.Unlock()
			return idp.Token{}, err
		}
		f.secret, f.app = string(secret), app
	}
	app := f.app
	f.mu.Unlock()
	return acquireByCredential(ctx, app, scopes, f.s.profile.ClientID)
}

func (f *clientSecretFlow) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secret, f.app = "", nil
}

func acquireByCredential(ctx context.Context, app *confidential.Client, scopes []string, clientID string) (idp.Token, error) {
	r, err := app.AcquireTokenByCredential(ctx, scopes)
	if err != nil {
		return idp.Token{}, err
	}
	return idp.Token{AccessToken: r.AccessToken, ExpiresOn: r.ExpiresOn, Account: clientID, TenantID: r.Account.Realm}, nil
}
