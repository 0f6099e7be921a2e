package entra

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/tokend/tokend/internal/idp"
)

// loginCodes are OAuth error codes that only a new sign-in fixes.
var loginCodes = map[string]bool{
	"invalid_grant":        true,
	"interaction_required": true,
	"invalid_client":       true,
	"unauthorized_client":  true,
	"consent_required":     true,
	"login_required":       true,
}

// classify turns an MSAL error into an *idp.Error the daemon can branch on.
// The provider's own words (error code and the first line of its AADSTS
// description) are kept; MSAL's message, which quotes URLs and bodies, is not.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		return fromResponse(ce.Resp)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, idp.ErrStoreUnavailable) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || transportError(err) {
		return &idp.Error{Temporary: true, Err: errors.New(netSummary(err))}
	}
	return err
}

// transportError reports whether err is a failure to talk to the identity
// provider. It looks for the network's own error types, not for the
// net.Error interface: a file system's errno (ENOSPC, EROFS) implements that
// interface too, and a full disk is no network error.
func transportError(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &de)
}

func fromResponse(resp *http.Response) *idp.Error {
	e := &idp.Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if resp.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = json.Unmarshal(data, &body)
	}
	e.Code = body.Error
	e.Description, _, _ = strings.Cut(body.Description, "\r\n")
	e.Description = strings.TrimSpace(strings.SplitN(e.Description, "\n", 2)[0])
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.Temporary = true
	case e.Code == "temporarily_unavailable" || e.Code == "server_error":
		e.Temporary = true
	case loginCodes[e.Code]:
		e.LoginNeeded = true
	}
	return e
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// netSummary describes a transport failure without echoing request details.
func netSummary(err error) string {
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "request timed out"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "cannot connect: " + opErr.Err.Error()
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "request timed out"
	}
	return "network error"
}
