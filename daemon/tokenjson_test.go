package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/client/wire"
	"github.com/tokend/tokend/internal/quote"
)

// TestAppendTokenMatchesEncodingJSON holds the hand-written encoder of the
// token answer to encoding/json, byte for byte. Every field of
// wire.Token is set, so a field added there and not here fails.
func TestAppendTokenMatchesEncodingJSON(t *testing.T) {
	full := wire.Token{}
	v := reflect.ValueOf(&full).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("s" + fmt.Sprint(i))
		case reflect.Int64:
			f.SetInt(int64(1000 + i))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"a/.default", "b"}))
		default:
			t.Fatalf("wire.Token.%s is a %s: teach appendToken and this test about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	for _, tc := range []struct {
		name string
		tok  wire.Token
	}{
		{"every field", full},
		{"typical", wire.Token{AccessToken: "eyJ0eXAi.eyJhdWQi.c2ln-_", TokenType: "Bearer", ExpiresOn: 1764000000, ExpiresIn: 4321,
			Profile: "dbx", Scopes: []string{"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"}, Tenant: "8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f"}},
		{"zero", wire.Token{}},
		{"empty scopes, no tenant", wire.Token{Scopes: []string{}, ExpiresIn: -5}},
		{"escapes", wire.Token{AccessToken: "a\"b\\c<d>&e\x01\u2028é\xff", Profile: "p\tq", Scopes: []string{"https://x/ y", "\x7f"}, Tenant: "t\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendToken(nil, &tc.tok); string(got) != string(want) {
				t.Errorf("appendToken:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestWriteToken(t *testing.T) {
	rec := httptest.NewRecorder()
	tok := wire.Token{AccessToken: "x.y.z", TokenType: "Bearer", Profile: "p", Scopes: []string{"s"}}
	writeToken(rec, &tok)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, header %v", rec.Code, rec.Header())
	}
	var got wire.Token
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !reflect.DeepEqual(got, tok) || !strings.HasSuffix(rec.Body.String(), "}\n") {
		t.Fatalf("body %q (%v)", rec.Body, err)
	}
	// The shared header values stay what they were.
	rec.Header().Add("Cache-Control", "private")
	if hdrNoStore[0] != "no-store" || len(hdrNoStore) != 1 {
		t.Fatalf("shared header value changed: %q", hdrNoStore)
	}
}

// referenceTokenQuery is the query check as it was written with
// url.ParseQuery: what parseTokenQuery must agree with.
func referenceTokenQuery(raw string) (tokenQuery, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return tokenQuery{}, fmt.Errorf("malformed query: %v", err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		switch v := q[k]; k {
		case "profile", "resource":
			if len(v) != 1 {
				return tokenQuery{}, fmt.Errorf("%s given %d times", k, len(v))
			}
		case "scope":
		default:
			return tokenQuery{}, fmt.Errorf("unknown query parameter %s (want profile, scope, resource)", quote.String(k))
		}
	}
	return tokenQuery{profile: q.Get("profile"), resource: q.Get("resource"), scopes: q["scope"]}, nil
}

func checkTokenQuery(t *testing.T, raw string) {
	t.Helper()
	got, gotErr := parseTokenQuery(raw)
	want, wantErr := referenceTokenQuery(raw)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, want %v", raw, gotErr, wantErr)
	}
	if gotErr != nil {
		var ae *apiError
		if !errors.As(gotErr, &ae) || ae.code != wire.CodeInvalidRequest || ae.status != 400 {
			t.Fatalf("%q: error %#v is not invalid_request", raw, gotErr)
		}
		// With several faults the two may name different ones; a
		// single fault must read the same.
		if strings.Count(raw, "&") == 0 && ae.desc != quote.Line(wantErr.Error()) {
			t.Fatalf("%q: error %q, want %q", raw, ae.desc, wantErr)
		}
		return
	}
	if got.profile != want.profile || got.resource != want.resource || !slices.Equal(got.scopes, want.scopes) {
		t.Fatalf("%q: got %+v, want %+v", raw, got, want)
	}
}

func TestParseTokenQuery(t *testing.T) {
	for _, raw := range []string{
		"", "profile=dbx", "profile=dbx&scope=a%2F.default&scope=b+c", "resource=https%3A%2F%2Fmanagement.core.windows.net%2F",
		"profile=", "profile", "&&profile=x&&", "profile=a&profile=b", "resource=a&resource=a", "scopes=x", "profile=%zz",
		"profile=a;b", "pro%66ile=x", "scope=&scope=", "x=1&profile=%", "profile=a&profile=b&profile=c",
	} {
		checkTokenQuery(t, raw)
	}
}

func FuzzTokenQuery(f *testing.F) {
	for _, s := range []string{"profile=dbx&scope=a%2F.default", "resource=r&profile=p", "profile=a;b", "scope=%zz", "x=y&&profile"} {
		f.Add(s)
	}
	f.Fuzz(checkTokenQuery)
}

func BenchmarkAppendToken(b *testing.B) {
	tok := wire.Token{AccessToken: strings.Repeat("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.", 40), TokenType: "Bearer",
		ExpiresOn: 1764000000, ExpiresIn: 4321, Profile: "dbx", Scopes: []string{"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"}}
	b.Run("appendToken", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4<<10)
		for b.Loop() {
			buf = appendToken(buf[:0], &tok)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(tok)
		}
	})
}

// FuzzAppendJSONString holds appendJSONString to encoding/json for any
// string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "0123456789abcdef\x7f", "a\"b", "<script>&amp;", "\u2028\xff\x00é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
