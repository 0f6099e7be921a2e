package main

import (
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"strconv"
)

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
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
