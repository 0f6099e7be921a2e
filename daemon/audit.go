package daemon

import (
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// auditKey is the last token a caller was told about.
type auditKey struct {
	p      *profile
	exp    int64
	scopes []string
}

// audit logs one line per token handed out to a caller: the profile, who
// asked (uid, pid and program on the socket; the capability's id and the
// peer on TCP), the scopes and the expiry; never the token. A caller (a
// socket connection, a capability) that asks again for the token it already
// got is not logged again: a client polling on a kept-alive connection would
// otherwise put a log write on every cached request.
func (s *Server) audit(r *http.Request, p *profile, scopes []string, expires time.Time) {
	ctx := r.Context()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	c := callerOf(ctx)
	mark := &c.audited
	if c.cap != nil {
		mark = &c.cap.audited
	}
	if last := mark.Load(); last != nil && last.p == p && last.exp == expires.UnixNano() && slices.Equal(last.scopes, scopes) {
		return
	}
	mark.Store(&auditKey{p: p, exp: expires.UnixNano(), scopes: scopes})
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("profile", p.cfg.Name),
		slog.Any("scopes", scopes),
		slog.String("expires_on", expires.UTC().Format(time.RFC3339)),
		slog.String("endpoint", endpointOf(r)),
	)
	switch {
	case c.socket:
		attrs = append(attrs, slog.String("via", "socket"), slog.Int("uid", c.cred.UID), slog.Int("pid", c.cred.PID), slog.String("exe", c.executable()))
	case c.cap != nil:
		attrs = append(attrs, slog.String("via", "tcp"), slog.String("capability", c.cap.id))
		if c.cap.label != "" {
			attrs = append(attrs, slog.String("label", c.cap.label))
		}
		attrs = append(attrs, slog.String("peer", r.RemoteAddr))
		if c.uid >= 0 {
			attrs = append(attrs, slog.Int("uid", c.uid))
		}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "token issued", attrs...)
}
