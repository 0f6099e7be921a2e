package tokendcli

import (
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"strconv"

	"github.com/tokend/tokend/internal/cli"
	"github.com/tokend/tokend/internal/redact"
)

// logFields are the only structured fields whose values tokend prints; any
// other field prints as "[redacted]", and the values of these are masked
// wherever they look like a token (see package redact). A new log field
// must be added here to be seen.
func logFields() []string {
	return []string{
		// what and when
		"profile", "scopes", "account", "tenant", "workspace", "expires_on", "next_refresh", "expires",
		"version", "store", "listeners", "component", "url", "output",
		// a reload: profile names
		"added", "removed", "changed", "kept",
		// who asked (audit lines, refusals)
		"via", "uid", "pid", "exe", "capability", "peer", "id",
		// capabilities: what they are for, whose, how many, where a damaged store went
		"label", "kind", "owner", "count", "moved_to",
		// requests and failures
		"endpoint", "path", "method", "status", "duration", "err", "error",
		// the emulator's request lines
		"grant", "client_id", "aadsts", "faulted", "outcome",
	}
}

// newLogger builds the daemon's logger: text or JSON on w, through the
// redacting handler, so that no token, secret or capability is printed.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, cli.Usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, cli.Usagef("--log-format %q: want text or json", format)
	}
	return slog.New(redact.NewHandler(h, logFields()...)), nil
}

// notify shows a desktop notification where a notifier exists.
func notify(log *slog.Logger, title, body string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("osascript", "-e", fmt.Sprintf("display notification %s with title %s", strconv.Quote(body), strconv.Quote(title)))
	default:
		path, err := exec.LookPath("notify-send")
		if err != nil {
			log.Debug("no notify-send for desktop notifications")
			return
		}
		cmd = exec.Command(path, "--app-name=tokend", title, body)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Warn("desktop notification failed", "err", err, "output", string(out))
	}
}
