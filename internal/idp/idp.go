// Package idp is the small vocabulary shared by the daemon and the code that
// talks to identity providers: a token, a login request, and the two kinds of
// failure the daemon branches on (the user must sign in again; the provider is
// unavailable for now).
package idp

import (
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/flow"
)

// Token is an access token with what the daemon needs to schedule it.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
	Account     string // UPN for users, client id for applications
	TenantID    string
}

// LoginRequest carries the user's answer to a profile's sign-in flow.
// Only the fields of the profile's flow are used.
type LoginRequest struct {
	Username     string // password flow; the account to preselect in the browser flow
	Password     string
	ClientSecret string
	RefreshToken string // refresh-token flow: a refresh token obtained elsewhere
	// Certificate is a certificate file's content (client-certificate flow):
	// PEM (certificates and a private key, which may be an encrypted
	// PKCS#8 key) or PKCS#12 (PFX). CertificatePassword opens an encrypted
	// key or a PFX.
	Certificate         []byte
	CertificatePassword string
	// Interact shows the user what to do to finish an interactive sign-in
	// (browser, device code). It is called once, before the flow waits on
	// the user; those flows fail without it.
	Interact func(Interaction)
	// Method is the sign-in to run, one of the profile's flow's methods
	// (flow.Flow.Methods); "" is the profile's own flow.
	Method flow.Name
}

// Interaction is what the user must do to finish an interactive sign-in:
// open URL in a browser (browser flow), or follow Message (device code flow:
// the identity provider's own words, with the code and page it names).
type Interaction struct {
	URL             string
	Message         string
	UserCode        string
	VerificationURI string
	ExpiresOn       time.Time
}

// ErrLoginRequired means only the user can fix this: sign in again (refresh
// token revoked, expired or never obtained; interaction required).
var ErrLoginRequired = errors.New("login required")

// ErrSetup marks a failure that a change to this machine or profile fixes
// (a tool not installed, a credential file missing): permanent, but not a
// matter of signing in again. The message says what to change.
// ErrStoreUnavailable: the secret store cannot keep or give secrets now
// (a locked or missing keychain, a full or read-only disk, a key that does
// not match). The store's errors wrap it (store.ErrUnavailable is this
// value), so the daemon can tell it from an identity-provider problem
// without knowing the store.
var ErrStoreUnavailable = errors.New("secret store unavailable")

var ErrSetup = errors.New("setup problem")

// Setupf returns an error that errors.Is ErrSetup, with exactly the given
// message (which should name the fix).
func Setupf(format string, args ...any) error { return setupError{fmt.Errorf(format, args...)} }

type setupError struct{ error }

func (e setupError) Is(target error) bool { return target == ErrSetup }
func (e setupError) Unwrap() error        { return e.error }

// Error is a failure reported by an identity provider, already classified.
type Error struct {
	Code        string        // OAuth error code, e.g. "invalid_grant"
	Description string        // first line of the provider's description (AADSTS…)
	Status      int           // HTTP status, 0 if the request never got an answer
	RetryAfter  time.Duration // from Retry-After, when the provider sent one
	LoginNeeded bool          // permanent: the user must sign in again
	Temporary   bool          // worth retrying: 5xx, 429, timeouts, refused connections
	Err         error         // what went wrong below, for %w chains
}

func (e *Error) Error() string {
	switch {
	case e.Code != "" && e.Description != "":
		return fmt.Sprintf("identity provider: %s: %s", e.Code, e.Description)
	case e.Code != "":
		return "identity provider: " + e.Code
	case e.Status != 0:
		return fmt.Sprintf("identity provider answered HTTP %d", e.Status)
	case e.Err != nil:
		return "identity provider: " + e.Err.Error()
	}
	return "identity provider error"
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrLoginRequired) true for permanent sign-in failures.
func (e *Error) Is(target error) bool { return target == ErrLoginRequired && e.LoginNeeded }

// IsTemporary reports whether err is worth retrying later.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary
}

// RetryAfter returns the provider's Retry-After hint in err, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
