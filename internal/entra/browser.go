package entra

import (
	"context"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
)

// loginBrowser signs a person in in a web browser: the authorization
// code flow with PKCE (S256) and a verified state, redirected to a loopback
// server on a random port (MSAL's AcquireTokenInteractive). The daemon
// opens no browser: the sign-in URL goes to the client through
// LoginRequest.Interact, and the client opens it.

func (f *userFlow) loginBrowser(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	if req.Interact == nil {
		return idp.Token{}, fmt.Errorf("a browser sign-in needs someone to show the page to: run `%s`", flow.Get(flow.Browser).LoginCommand(f.s.profile.Name))
	}
	app, c, err := f.scratch(nil)
	if err != nil {
		return idp.Token{}, err
	}
	opts := []public.AcquireInteractiveOption{
		public.WithOpenURL(func(u string) error {
			req.Interact(idp.Interaction{URL: u})
			return nil
		}),
	}
	if req.Username != "" {
		opts = append(opts, public.WithLoginHint(req.Username))
	}
	r, err := app.AcquireTokenInteractive(ctx, f.s.profile.Scopes, opts...)
	if err != nil {
		return idp.Token{}, browserError(ctx, err)
	}
	if err := f.commit(ctx, c, req.Method); err != nil {
		return idp.Token{}, err
	}
	return userToken(r), nil
}

// Codes of the *idp.Error of sign-ins that did not finish, beyond the
// identity provider's own OAuth codes.
const (
	CodeStateMismatch = "state_mismatch" // the redirect carried another sign-in's state
	CodeTimeout       = "timeout"        // the user did not finish in time
)

var aadsts = regexp.MustCompile(`^AADSTS(\d+)`)

// browserError classifies what AcquireTokenInteractive returns. Token
// endpoint errors (a reused code, say) are MSAL call errors that classify
// handles; what the redirect brought back (the sign-in page's error, a
// foreign state) comes from MSAL's loopback server as plain text.
func browserError(ctx context.Context, err error) error {
	// (No Err: classify would take a wrapped deadline for a slow network.)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return &idp.Error{Code: CodeTimeout, Description: "the browser sign-in was not finished in time", LoginNeeded: true}
	}
	if ctx.Err() != nil {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "mismatched OAuth state"), strings.Contains(msg, "didn't send OAuth state"):
		return &idp.Error{Code: CodeStateMismatch, Description: "OAuth state mismatch: the redirect belongs to another sign-in", LoginNeeded: true}
	case strings.Contains(msg, "received via a GET operation"):
		return &idp.Error{Code: "invalid_request", Description: "the sign-in page answered with a GET redirect instead of form_post", LoginNeeded: true}
	}
	// The sign-in page redirected with error=…: MSAL keeps only the
	// (HTML-escaped) description.
	desc := strings.TrimSpace(html.UnescapeString(msg))
	m := aadsts.FindStringSubmatch(desc)
	if m == nil {
		return err
	}
	n, _ := strconv.Atoi(m[1])
	desc, _, _ = strings.Cut(desc, "\r")
	desc, _, _ = strings.Cut(desc, "\n")
	return &idp.Error{Code: authorizeCode(n), Description: strings.TrimSpace(desc), LoginNeeded: true}
}

// authorizeCode is the OAuth error code of a sign-in page refusal, which
// MSAL drops: known from its AADSTS number.
func authorizeCode(aadsts int) string {
	switch aadsts {
	case 50076, 50079, 50158:
		return "interaction_required"
	case 65001:
		return "consent_required"
	case 50126:
		return "invalid_grant"
	}
	return "access_denied" // 65004 (declined or cancelled) and the rest
}
