package daemon

import (
	"log/slog"
	"net/http"
	"time"
)

// audit logs one line per token handed out: the profile, who asked (uid,
// pid and program on the socket; the capability's id and the peer on TCP),
// the scopes and the expiry; never the token.
func (s *Server) audit(r *http.Request, p *profile, scopes []string, expires time.Time) {
	ctx := r.Context()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	c := callerOf(ctx)
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
		attrs = append(attrs, slog.String("via", "tcp"), slog.String("capability", c.cap.id), slog.String("peer", r.RemoteAddr))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "token issued", attrs...)
}
