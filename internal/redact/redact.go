// Package redact keeps secrets out of tokend's logs. Handler wraps any
// slog.Handler: structured fields are whitelisted by key (any other field is
// printed as "[redacted]"), Authorization and X-IDENTITY-HEADER are dropped
// whatever the whitelist says, and every string that reaches the output —
// the message, whitelisted values, errors — goes through String, which masks
// whatever looks like a token: JWTs, tokend capabilities (tkd1.…), the value
// after "Bearer" or "Basic", and long opaque base64-like runs such as refresh
// tokens, codes and client secrets.
//
// The whitelist is the primary guard (a secret passed under an unknown key
// never prints); masking is the second one, for secrets that slip into an
// error message or a whitelisted field.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Masked replaces a secret or a field that is not whitelisted.
const Masked = "[redacted]"

// minOpaque is the length from which a run of base64-like characters that
// mixes upper case, lower case and digits counts as a secret. UUIDs, hex
// digests, host names and paths do not mix all three (or are split by '/').
const minOpaque = 40

// Handler is a slog.Handler that redacts as the package comment says.
type Handler struct {
	inner slog.Handler
	allow map[string]bool
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler wraps inner; allow lists the attribute keys whose values are
// printed (masked).
func NewHandler(inner slog.Handler, allow ...string) *Handler {
	m := make(map[string]bool, len(allow))
	for _, k := range allow {
		m[k] = true
	}
	return &Handler{inner: inner, allow: m}
}

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle redacts r and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a = h.attr(a); !a.Equal(slog.Attr{}) {
			out.AddAttrs(a)
		}
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs redacts as and returns a handler that adds them.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if a = h.attr(a); !a.Equal(slog.Attr{}) {
			red = append(red, a)
		}
	}
	return &Handler{inner: h.inner.WithAttrs(red), allow: h.allow}
}

// WithGroup returns a handler that puts attributes in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(String(name)), allow: h.allow}
}

// attr returns a redacted, or the zero Attr to drop a.
func (h *Handler) attr(a slog.Attr) slog.Attr {
	if denied(a.Key) {
		return slog.Attr{}
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		var members []any
		for _, m := range v.Group() {
			if m = h.attr(m); !m.Equal(slog.Attr{}) {
				members = append(members, m)
			}
		}
		if len(members) == 0 {
			return slog.Attr{}
		}
		return slog.Group(String(a.Key), members...)
	}
	if !h.allow[a.Key] {
		return slog.String(String(a.Key), Masked)
	}
	return slog.Attr{Key: a.Key, Value: value(v)}
}

// denied reports the keys never logged, whatever the whitelist says.
func denied(key string) bool {
	return strings.EqualFold(key, "Authorization") || strings.EqualFold(key, "X-IDENTITY-HEADER")
}

// value masks the strings in v. Numbers, booleans, times and durations
// carry no secrets and pass unchanged.
func value(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(String(v.String()))
	case slog.KindAny:
	default:
		return v
	}
	switch x := v.Any().(type) {
	case error:
		return slog.StringValue(String(x.Error()))
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = String(s)
		}
		return slog.AnyValue(out)
	case http.Header:
		c := x.Clone()
		c.Del("Authorization")
		c.Del("X-Identity-Header")
		return slog.StringValue(String(fmt.Sprint(c)))
	case fmt.Stringer:
		return slog.StringValue(String(x.String()))
	default:
		return slog.StringValue(String(fmt.Sprint(x)))
	}
}

// String returns s with everything that looks like a token replaced by
// Masked. It does not allocate when there is nothing to mask.
func String(s string) string {
	var b *strings.Builder
	last := 0      // s[:last] is in b already
	afterAuth := 0 // a run starting here follows "Bearer " or "Basic "
	for i := 0; i < len(s); {
		if !runChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && runChar(s[j]) {
			j++
		}
		run := s[i:j]
		if (i == afterAuth && i > 0) || isSecret(run) {
			if b == nil {
				b = &strings.Builder{}
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString(Masked)
			last = j
		} else if strings.EqualFold(run, "bearer") || strings.EqualFold(run, "basic") {
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '=' || s[k] == ':' || s[k] == '"') {
				k++
			}
			if k > j {
				afterAuth = k
			}
		}
		i = j
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// runChar reports the characters of base64url and of tokens made of it
// (JWTs and capabilities join segments with '.', Entra client secrets use
// '~').
func runChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// isSecret reports whether a run of runChars is, or holds, a token.
func isSecret(run string) bool {
	if len(run) < 5 {
		return false
	}
	// A segment that is the start of base64 JSON ("eyJ" is `{"`): a JWT,
	// JWE or MSAL client_info. A capability: tkd1.<id>.<secret>.
	for rest := run; ; {
		seg, after, more := strings.Cut(rest, ".")
		if strings.HasPrefix(seg, "eyJ") && len(run) >= 16 || seg == "tkd1" {
			return true
		}
		if !more {
			break
		}
		rest = after
	}
	if len(run) < minOpaque {
		return false
	}
	var upper, lower, digit bool
	for i := 0; i < len(run); i++ {
		c := run[i]
		upper = upper || 'A' <= c && c <= 'Z'
		lower = lower || 'a' <= c && c <= 'z'
		digit = digit || '0' <= c && c <= '9'
	}
	return upper && lower && digit
}
