package entra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
)

// loginDeviceCode signs a person in on another device (OAuth device
// authorization grant): the identity provider's message, with its code and
// page, goes to the client through LoginRequest.Interact, and MSAL polls
// until the person has entered the code, declined, or the code expired.

func (f *userFlow) loginDeviceCode(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	if req.Interact == nil {
		return idp.Token{}, fmt.Errorf("a device code sign-in needs someone to show the code to: run `%s`", flow.Get(flow.DeviceCode).LoginCommand(f.s.profile.Name))
	}
	app, c, err := f.scratch(nil)
	if err != nil {
		return idp.Token{}, err
	}
	dc, err := app.AcquireTokenByDeviceCode(ctx, f.s.profile.Scopes)
	if err != nil {
		return idp.Token{}, err
	}
	req.Interact(idp.Interaction{
		Message:         dc.Result.Message,
		UserCode:        dc.Result.UserCode,
		VerificationURI: dc.Result.VerificationURL,
		ExpiresOn:       dc.Result.ExpiresOn,
	})
	r, err := dc.AuthenticationResult(ctx)
	if err != nil {
		return idp.Token{}, deviceCodeError(ctx, err)
	}
	if err := f.commit(ctx, c, req.Method); err != nil {
		return idp.Token{}, err
	}
	return userToken(r), nil
}

// deviceCodeError classifies what polling returns. MSAL stops polling at
// the code's expiry with a deadline of its own (ctx itself still alive);
// and it has read the body of the last answer (to see whether to keep
// polling), so the body is put back from the error text for classify.
func deviceCodeError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return &idp.Error{Code: "expired_token", Description: "the device code expired before it was entered", LoginNeeded: true}
	case errors.Is(err, context.DeadlineExceeded):
		return &idp.Error{Code: CodeTimeout, Description: "the device code sign-in was not finished in time", LoginNeeded: true}
	}
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil && ce.Err != nil {
		if _, body, ok := strings.Cut(ce.Err.Error(), ":\n"); ok {
			ce.Resp.Body = io.NopCloser(strings.NewReader(body))
		}
	}
	return err
}
