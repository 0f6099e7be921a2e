package daemon

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/tokend/tokend/client/wire"
)

// Header values every JSON answer carries. Assigning these shared,
// never-modified slices instead of calling Header.Set saves an allocation
// per header per request; net/http copies them when it snapshots the
// header.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNoSniff = []string{"nosniff"}
)

func setJSONHeaders(h http.Header) {
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNoSniff
}

// tokenBufs recycles the buffers token answers are encoded into.
var tokenBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// writeToken writes a 200 answer of GET /v1/token. It encodes the token
// once, straight into a recycled buffer (encoding/json would reflect over
// the struct and allocate the result on every request).
func writeToken(w http.ResponseWriter, t *wire.Token) {
	bp := tokenBufs.Get().(*[]byte)
	b := append(appendToken((*bp)[:0], t), '\n')
	setJSONHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		tokenBufs.Put(bp)
	}
}

// appendToken appends t encoded exactly as encoding/json encodes a
// wire.Token (a test holds it to that, field by field).
func appendToken(b []byte, t *wire.Token) []byte {
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, t.AccessToken)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, t.TokenType)
	b = append(b, `,"expires_on":`...)
	b = strconv.AppendInt(b, t.ExpiresOn, 10)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, t.ExpiresIn, 10)
	b = append(b, `,"profile":`...)
	b = appendJSONString(b, t.Profile)
	b = append(b, `,"scopes":`...)
	if t.Scopes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range t.Scopes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if t.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = appendJSONString(b, t.Tenant)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string the way encoding/json writes
// it. Tokens, profile names, scopes and tenant ids are printable ASCII
// that needs no escaping, and are copied as they are; anything else goes
// through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	if !plain(s) {
		q, _ := json.Marshal(s) // a string always encodes
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plain reports whether encoding/json copies s into a JSON string
// unchanged: printable ASCII other than " \ < > &. (A table lookup per byte
// measured faster than comparing eight bytes at a time.)
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			return false
		}
	}
	return true
}

// plainJSON marks the bytes encoding/json copies into a string unchanged.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()
