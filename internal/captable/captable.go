// Package captable prints the capabilities of `token capabilities list` as
// a table: one line each, never a secret.
package captable

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokend/tokend/client/wire"
)

// Write prints l as a table at now: id, profile, kind, owner uid, when it
// expires, when it was last used, and its label.
func Write(w io.Writer, l *wire.CapabilityList, now time.Time) error {
	if l.Warning != "" {
		fmt.Fprintf(w, "warning: %s\n", l.Warning)
	}
	if len(l.Capabilities) == 0 {
		fmt.Fprintln(w, "no capabilities: `token env`, `token exec` and `token databricks configure` make them")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROFILE\tKIND\tUID\tEXPIRES IN\tLAST USED\tLABEL")
	for _, c := range l.Capabilities {
		uid := "-"
		if c.UID != nil {
			uid = fmt.Sprint(*c.UID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Profile, c.Kind, uid,
			Span(time.Unix(c.ExpiresOn, 0).Sub(now)), lastUsed(c.LastUsed, now), dash(c.Label))
	}
	return tw.Flush()
}

func lastUsed(unix int64, now time.Time) string {
	if unix == 0 {
		return "never"
	}
	d := now.Sub(time.Unix(unix, 0))
	if d < time.Minute {
		return "just now"
	}
	return Span(d) + " ago"
}

// Span is a duration as people read it: "89d23h", "5h2m", "3m", "40s".
func Span(d time.Duration) string {
	if d < 0 {
		return "expired"
	}
	days, h, m := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
