package entra

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type rawCache string

func (r rawCache) Marshal() ([]byte, error) { return []byte(r), nil }

type sink struct{ got []byte }

func (s *sink) Unmarshal(b []byte) error { s.got = b; return nil }

func cacheJSON(rt, at, id string) rawCache {
	return rawCache(`{"AccessToken":{"k":{"secret":"` + at + `"}},"RefreshToken":{"k":{"secret":"` + rt + `"}},"IdToken":{"k":{"secret":"` + id + `"}},"Account":{"a":{"username":"u"}},"AppMetadata":{}}`)
}

// Only a new refresh token is written; what is written has no access or id
// token; a failed write never fails MSAL and is retried.
func TestCachePersistsOnlyRefreshTokenChanges(t *testing.T) {
	var writes [][]byte
	fail := false
	c := &msalCache{
		load: func(context.Context) ([]byte, error) { return nil, nil },
		persist: func(_ context.Context, b []byte) error {
			if fail {
				return errors.New("keychain locked")
			}
			writes = append(writes, b)
			return nil
		},
	}
	ctx := context.Background()
	steps := []struct {
		name       string
		cache      rawCache
		fail       bool
		wantWrites int
	}{
		{"first sign-in", cacheJSON("rt1", "at1", "id1"), false, 1},
		{"new access and id token, same refresh token", cacheJSON("rt1", "at2", "id2"), false, 1},
		{"rotated refresh token", cacheJSON("rt2", "at3", "id3"), false, 2},
		{"rotation while the store fails", cacheJSON("rt3", "at4", "id4"), true, 2},
		{"store back: the pending write happens", cacheJSON("rt3", "at5", "id5"), false, 3},
		{"nothing new", cacheJSON("rt3", "at6", "id6"), false, 3},
	}
	for _, st := range steps {
		fail = st.fail
		if err := c.Export(ctx, st.cache, struct{ PartitionKey string }{}); err != nil {
			t.Fatalf("%s: Export = %v", st.name, err)
		}
		if len(writes) != st.wantWrites {
			t.Fatalf("%s: %d writes, want %d", st.name, len(writes), st.wantWrites)
		}
	}
	last := string(writes[len(writes)-1])
	if !strings.Contains(last, "rt3") || strings.Contains(last, `"AccessToken"`) || strings.Contains(last, `"IdToken"`) {
		t.Fatalf("persisted blob = %s", last)
	}
	// MSAL gets the id token back from memory, never an access token.
	var s sink
	if err := c.Replace(ctx, &s, struct{ PartitionKey string }{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(s.got), "AccessToken") || !strings.Contains(string(s.got), "id6") {
		t.Fatalf("Replace gave MSAL %s", s.got)
	}
}

func TestCacheLoadErrorIsRetried(t *testing.T) {
	calls := 0
	c := &msalCache{load: func(context.Context) ([]byte, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("keychain did not answer")
		}
		return []byte(cacheJSON("rt", "", "")), nil
	}}
	var s sink
	if err := c.Replace(context.Background(), &s, struct{ PartitionKey string }{}); err == nil {
		t.Fatal("Replace hid the load error")
	}
	if err := c.Replace(context.Background(), &s, struct{ PartitionKey string }{}); err != nil || !strings.Contains(string(s.got), `"rt"`) {
		t.Fatalf("second Replace: %v %s", err, s.got)
	}
}
