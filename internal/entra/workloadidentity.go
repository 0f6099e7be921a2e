package entra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tokend/tokend/internal/idp"
)

// workloadIdentityFlow is workload identity federation (AKS workload
// identity, GitHub Actions and other OIDC issuers): the app authenticates
// with a token of another issuer, exchanged at Entra ID as the client
// assertion. The token is read from the federated token file
// (federated_token_file, else $AZURE_FEDERATED_TOKEN_FILE) at every
// acquisition, so a projected token that Kubernetes rotates is picked up
// with no restart. Nothing is stored; login just gets a token.
type workloadIdentityFlow struct {
	s    *Source
	file string // the federated token file
	from string // where its name came from, for messages
	app  confidential.Client
}

// maxFederatedToken bounds the federated token file.
const maxFederatedToken = 64 << 10

func newWorkloadIdentityFlow(s *Source) (*workloadIdentityFlow, error) {
	p := s.profile
	f := &workloadIdentityFlow{s: s, file: p.FederatedTokenFile, from: "federated_token_file"}
	if f.file == "" {
		f.file, f.from = os.Getenv("AZURE_FEDERATED_TOKEN_FILE"), "$AZURE_FEDERATED_TOKEN_FILE"
	}
	if f.file == "" {
		return nil, fmt.Errorf("workload identity needs the federated token file: set federated_token_file in profiles.%s, or AZURE_FEDERATED_TOKEN_FILE in tokend's environment", p.Name)
	}
	app, err := confidential.New(p.AuthorityURL(), p.ClientID, confidential.NewCredFromAssertionCallback(f.assertion),
		confidential.WithHTTPClient(s.opts.HTTPClient),
		confidential.WithInstanceDiscovery(s.instanceDiscovery()),
		confidential.WithCache(&msalCache{}), // no access tokens kept: see clientSecretFlow
	)
	if err != nil {
		return nil, fmt.Errorf("msal client: %w", err)
	}
	f.app = app
	return f, nil
}

// errFederatedToken marks a federated token file that cannot be used.
var errFederatedToken = errors.New("federated token file")

// assertion reads the federated token, fresh each time MSAL asks.
func (f *workloadIdentityFlow) assertion(context.Context, confidential.AssertionRequestOptions) (string, error) {
	fail := func(why string) (string, error) {
		return "", idp.Setupf("workload identity of profile %s: the %w %s (%s) %s", f.s.profile.Name, errFederatedToken, f.file, f.from, why)
	}
	fh, err := os.Open(f.file)
	if err != nil {
		return fail("cannot be read: " + errorText(err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFederatedToken+1))
	switch {
	case err != nil:
		return fail("cannot be read: " + errorText(err))
	case len(data) > maxFederatedToken:
		return fail("is too large to hold a token")
	}
	tok := string(bytes.TrimSpace(data))
	if tok == "" {
		return fail("is empty")
	}
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \t\r\n") {
		return fail("does not hold a JWT")
	}
	return tok, nil
}

// errorText is an OS error without the path, which the message names already.
func errorText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (f *workloadIdentityFlow) login(ctx context.Context, _ idp.LoginRequest) (idp.Token, error) {
	return f.token(ctx, f.s.profile.Scopes)
}

func (f *workloadIdentityFlow) forget() {}

func (f *workloadIdentityFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	t, err := acquireByCredential(ctx, &f.app, scopes, f.s.profile.ClientID)
	if err == nil {
		return t, nil
	}
	err = classify(err)
	// An expired or not yet valid federated token (AADSTS700024) is
	// replaced by its issuer (the kubelet rotates projected tokens well
	// before they expire): retry, reading the file again, rather than
	// asking for a sign-in that cannot help.
	var ie *idp.Error
	if errors.As(err, &ie) && strings.Contains(ie.Description, "AADSTS700024") {
		ie.LoginNeeded, ie.Temporary = false, true
	}
	return idp.Token{}, err
}
