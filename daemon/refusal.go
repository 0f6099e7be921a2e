package daemon

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/idp"
)

// A permanent refusal of one (profile, scopes) pair ends that pair, not the
// profile: an unknown resource (AADSTS500011), an invalid scope (AADSTS70011)
// or a scope the app has no consent for (AADSTS65001) says nothing about the
// sign-in, whose other scopes keep working. Such a pair is not retried in
// the background; its caller gets a 4xx with the identity provider's words
// and what to do; a later request asks once more, at most once per
// refusedRetry.

// refusedRetry is how long a refusal stands after the n-th in a row: a
// minute, doubling up to an hour.
func refusedRetry(n int) time.Duration {
	return min(time.Minute<<min(n-1, 6), time.Hour)
}

// pairRefusal returns the caller's error if err refuses sl's scopes alone,
// else nil. Errors that end the sign-in itself (a revoked refresh token, a
// wrong secret) are not: they belong to the whole profile. Consent is
// per resource, so a missing consent refuses only a pair that is not the
// profile's own.
func (s *Server) pairRefusal(p *profile, sl *slot, err error, now time.Time) *apiError {
	var ie *idp.Error
	if err == nil || !errors.As(err, &ie) || ie.Temporary {
		return nil
	}
	own := scopeKey(sl.scopes) == scopeKey(normScopes(p.cfg.Scopes))
	if ie.LoginNeeded && (own || !consentMissing(ie)) {
		return nil
	}
	what := strings.TrimPrefix(ie.Error(), "identity provider: ")
	sl.mu.Lock()
	n := sl.refusals + 1
	sl.mu.Unlock()
	return newError(wire.CodeInvalidRequest, "the identity provider refused scopes %s for profile %s (%s); %s. tokend does not retry this by itself; asking again after %s tries once more",
		strings.Join(sl.scopes, " "), p.cfg.Name, what, refusalFix(p, ie), now.Add(refusedRetry(n)).UTC().Format(time.RFC3339))
}

// refusalFix says what to do about a refused scope.
func refusalFix(p *profile, ie *idp.Error) string {
	switch n := aadsts(ie); {
	case n == 500011 || ie.Code == "invalid_resource":
		return "the resource does not exist in the tenant or is misspelled: check --scope or --resource (a scope is RESOURCE/.default or RESOURCE/permission)"
	case n == 70011 || ie.Code == "invalid_scope":
		return "the scope is not valid: check --scope (RESOURCE/.default asks for the permissions the app was granted)"
	case consentMissing(ie):
		return fmt.Sprintf("application %s has no consent for these scopes: an administrator can grant it in the Entra admin center, or sign in interactively and consent", p.cfg.ClientID)
	}
	return "check the scopes asked for"
}

func consentMissing(ie *idp.Error) bool {
	return ie.Code == "consent_required" || aadsts(ie) == 65001
}

var aadstsNumber = regexp.MustCompile(`AADSTS(\d+)`)

// aadsts is the AADSTS number in the identity provider's description, 0
// when there is none.
func aadsts(ie *idp.Error) int {
	if m := aadstsNumber.FindStringSubmatch(ie.Description); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
