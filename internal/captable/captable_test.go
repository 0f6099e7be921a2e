package captable

import (
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/client/wire"
)

func TestWrite(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	uid := 1000
	l := &wire.CapabilityList{Store: "memory", Warning: "memory store: capabilities last as long as this tokend", Capabilities: []wire.CapabilityInfo{
		{ID: "0123456789abcdef", Profile: "dbx", Kind: "databricks", Label: "databricks [dbx] in /home/me/.databrickscfg", UID: &uid,
			CreatedOn: now.Add(-time.Hour).Unix(), ExpiresOn: now.Add(89*24*time.Hour + 23*time.Hour + 5*time.Minute).Unix(), LastUsed: now.Add(-3 * time.Minute).Unix()},
		{ID: "fedcba9876543210", Profile: "dbx", Kind: "exec", CreatedOn: now.Unix(), ExpiresOn: now.Add(90 * time.Second).Unix()},
	}}
	var b strings.Builder
	if err := Write(&b, l, now); err != nil {
		t.Fatal(err)
	}
	want := `warning: memory store: capabilities last as long as this tokend
ID                PROFILE  KIND        UID   EXPIRES IN  LAST USED  LABEL
0123456789abcdef  dbx      databricks  1000  89d23h      3m ago     databricks [dbx] in /home/me/.databrickscfg
fedcba9876543210  dbx      exec        -     1m          never      -
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	Write(&b, &wire.CapabilityList{}, now)
	if !strings.Contains(b.String(), "no capabilities") {
		t.Fatal(b.String())
	}
	for d, want := range map[time.Duration]string{-time.Second: "expired", 40 * time.Second: "40s", 5*time.Hour + 2*time.Minute: "5h2m", 48 * time.Hour: "2d0h"} {
		if got := Span(d); got != want {
			t.Errorf("Span(%v) = %s, want %s", d, got, want)
		}
	}
}
