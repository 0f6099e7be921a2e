package daemon

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tokend/tokend/client"
)

// handleToken serves GET /v1/token?profile=P[&scope=S…|&resource=R].
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return newError(client.CodeInvalidRequest, "malformed query: %v", err)
	}
	for k, v := range q {
		switch k {
		case "profile", "resource":
			if len(v) != 1 {
				return newError(client.CodeInvalidRequest, "%s given %d times", k, len(v))
			}
		case "scope":
		default:
			return newError(client.CodeInvalidRequest, "unknown query parameter %q (want profile, scope, resource)", k)
		}
	}
	p, err := s.profileFor(r, q.Get("profile"))
	if err != nil {
		return err
	}
	scopes, err := requestedScopes(q["scope"], q.Get("resource"), p.cfg.Scopes)
	if err != nil {
		return err
	}
	if c := callerOf(r.Context()).cap; c != nil && !c.allows(scopes) {
		return newError(client.CodeForbidden, "this capability does not cover scopes %s", strings.Join(scopes, " "))
	}
	t, err := s.token(r.Context(), p, scopes)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	writeJSON(w, http.StatusOK, client.Token{
		AccessToken: t.AccessToken,
		TokenType:   "Bearer",
		ExpiresOn:   t.ExpiresOn.Unix(),
		ExpiresIn:   int64(t.ExpiresOn.Sub(now).Seconds()),
		Profile:     p.cfg.Name,
		Scopes:      scopes,
		Tenant:      t.TenantID,
	})
	return nil
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
		name = s.cfg.Config.DefaultProfile
	}
	if name == "" {
		return nil, newError(client.CodeInvalidRequest, "no profile given and no default_profile in the config: name one, e.g. `token get PROFILE`")
	}
	if c != nil && c.profile != name {
		return nil, newError(client.CodeForbidden, "this capability is not for profile %q", name)
	}
	p := s.profiles[name]
	if p == nil {
		return nil, newError(client.CodeUnknownProfile, "no profile %q in the config (`token status` lists them)", name)
	}
	return p, nil
}

// requestedScopes turns scope= or resource= into a normalized scope list.
func requestedScopes(scopeParams []string, resource string, dflt []string) ([]string, error) {
	var scopes []string
	for _, sp := range scopeParams {
		f := strings.Fields(sp)
		if len(f) == 0 {
			return nil, newError(client.CodeInvalidRequest, "empty scope")
		}
		scopes = append(scopes, f...)
	}
	switch {
	case resource != "" && len(scopes) > 0:
		return nil, newError(client.CodeInvalidRequest, "give scope or resource, not both")
	case resource != "":
		if strings.ContainsAny(resource, " \t\r\n") || strings.HasSuffix(resource, "/.default") {
			return nil, newError(client.CodeInvalidRequest, "resource %q: want an application id URI or GUID (without /.default)", resource)
		}
		return []string{resource + "/.default"}, nil
	case len(scopes) > 0:
		for _, sc := range scopes {
			if len(sc) > 512 {
				return nil, newError(client.CodeInvalidRequest, "scope too long")
			}
		}
		return normScopes(scopes), nil
	}
	return normScopes(dflt), nil
}
