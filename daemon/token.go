package daemon

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/quote"
)

// handleToken serves GET /v1/token?profile=P[&scope=S…|&resource=R]. It is
// the hot path: a cached token is served without I/O, and encoded once,
// into the response.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	q, err := parseTokenQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	p, err := s.profileFor(r, q.profile)
	if err != nil {
		return err
	}
	scopes, err := requestedScopes(q.scopes, q.resource, p.cfg.Scopes)
	if err != nil {
		return err
	}
	if c := callerOf(r.Context()).cap; c != nil {
		if !c.allows(scopes) {
			return newError(wire.CodeForbidden, "this capability does not cover scopes %s", quote.String(strings.Join(scopes, " ")))
		}
		if err := c.admit(scopes, s.cfg.MaxCapabilityScopeSets); err != nil {
			return err
		}
	}
	t, err := s.token(r.Context(), p, scopes)
	if err != nil {
		return err
	}
	s.answerToken(w, r, p, scopes, t)
	return nil
}

// answerToken audits a token handed out and writes the answer of
// GET /v1/token and POST /v1/refresh.
func (s *Server) answerToken(w http.ResponseWriter, r *http.Request, p *profile, scopes []string, t idp.Token) {
	s.audit(r, p, scopes, t.ExpiresOn)
	writeToken(w, &wire.Token{
		AccessToken: t.AccessToken,
		TokenType:   "Bearer",
		ExpiresOn:   t.ExpiresOn.Unix(),
		ExpiresIn:   int64(t.ExpiresOn.Sub(s.clock.Now()).Seconds()),
		Profile:     p.cfg.Name,
		Scopes:      scopes,
		Tenant:      t.TenantID,
	})
}

// tokenQuery is the query of GET /v1/token.
type tokenQuery struct {
	profile, resource string
	scopes            []string
}

// parseTokenQuery reads the query of GET /v1/token as url.ParseQuery
// would, without building a map: profile and resource at most once,
// scope repeatable, nothing else.
func parseTokenQuery(raw string) (tokenQuery, error) {
	var q tokenQuery
	var nProfile, nResource int
	var unknown string
	var hasUnknown bool
	var malformed error
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(kv, ";") {
			malformed = errors.New("invalid semicolon separator in query")
			continue
		}
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err == nil {
			v, err = url.QueryUnescape(v)
		}
		if err != nil {
			malformed = cmp.Or(malformed, err)
			continue
		}
		switch k {
		case "profile":
			if nProfile++; nProfile == 1 {
				q.profile = v
			}
		case "resource":
			if nResource++; nResource == 1 {
				q.resource = v
			}
		case "scope":
			q.scopes = append(q.scopes, v)
		default:
			if !hasUnknown {
				unknown, hasUnknown = k, true
			}
		}
	}
	switch {
	case malformed != nil:
		return q, newError(wire.CodeInvalidRequest, "malformed query: %v", malformed)
	case hasUnknown:
		return q, newError(wire.CodeInvalidRequest, "unknown query parameter %s (want profile, scope, resource)", quote.String(unknown))
	case nProfile > 1:
		return q, newError(wire.CodeInvalidRequest, "profile given %d times", nProfile)
	case nResource > 1:
		return q, newError(wire.CodeInvalidRequest, "resource given %d times", nResource)
	}
	return q, nil
}

// profileFor resolves the profile of a request: the one named, else the
// capability's, else default_profile. A capability holder may only name its
// own profile.
func (s *Server) profileFor(r *http.Request, name string) (*profile, error) {
	c := callerOf(r.Context()).cap
	if name == "" && c != nil {
		name = c.profile
	}
	if name == "" {
		name = s.profileSet().cfg.DefaultProfile
	}
	if name == "" {
		return nil, newError(wire.CodeInvalidRequest, "no profile given and no default_profile in the config: name one, e.g. `token get PROFILE`")
	}
	if c != nil && c.profile != name {
		return nil, newError(wire.CodeForbidden, "this capability is not for profile %s", quote.String(name))
	}
	p := s.profile(name)
	if p == nil {
		return nil, newError(wire.CodeUnknownProfile, "no profile %s in the config (`token status` lists them)", quote.String(name))
	}
	return p, nil
}

// requestedScopes turns scope= or resource= into a normalized scope list.
func requestedScopes(scopeParams []string, resource string, dflt []string) ([]string, error) {
	var scopes []string
	for _, sp := range scopeParams {
		f := strings.Fields(sp)
		if len(f) == 0 {
			return nil, newError(wire.CodeInvalidRequest, "empty scope")
		}
		scopes = append(scopes, f...)
	}
	switch {
	case resource != "" && len(scopes) > 0:
		return nil, newError(wire.CodeInvalidRequest, "give scope or resource, not both")
	case resource != "":
		if strings.ContainsAny(resource, " \t\r\n") || strings.HasSuffix(resource, "/.default") {
			return nil, newError(wire.CodeInvalidRequest, "resource %s: want an application id URI or GUID (without /.default)", quote.String(resource))
		}
		return []string{resource + "/.default"}, nil
	case len(scopes) > 0:
		for _, sc := range scopes {
			if len(sc) > 512 {
				return nil, newError(wire.CodeInvalidRequest, "scope too long")
			}
		}
		return normScopes(scopes), nil
	}
	return normScopes(dflt), nil
}
