package tokencli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/internal/quote"
)

// The fast path of `token get`. Building cobra's command tree and parsing
// with it cost a `token get` process about 0.4 ms, a third of the whole
// (bench/run.sh's cli row; the bar is 1.3× a Go program doing one GET
// over the socket). Command lines of `token get` that use only its plain
// flags, with valid values, run here without the tree; anything else (help,
// a flag this parser does not know, a value it cannot use, a usage error)
// goes to cobra, which answers as for every command. TestFastGet holds the
// two to the same output and exit code.

// fastGet runs `token get` with args (after "get") if it can; ok is false
// when cobra must.
func fastGet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int, ok bool) {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	var req client.TokenRequest
	format := "raw"
	var pos []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			pos = append(pos, arg)
			continue
		}
		name, value, inline := strings.Cut(arg, "=")
		if inline && !strings.HasPrefix(name, "--") {
			return 0, false // -o=json: pflag's business
		}
		if !inline {
			if i+1 == len(args) {
				return 0, false
			}
			i++
			value = args[i]
		}
		switch name {
		case "--scope":
			req.Scopes = append(req.Scopes, value)
		case "--resource":
			req.Resource = value
		case "-o", "--output":
			format = value
		case "-p", "--profile":
			a.profile = value
		case "--socket":
			a.socket = value
		case "--timeout":
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 {
				return 0, false
			}
			a.timeout = d
		default:
			return 0, false
		}
	}
	if _, known := tokenWriters[format]; !known || len(pos) > 1 || (len(req.Scopes) > 0 && req.Resource != "") {
		return 0, false
	}
	profile, err := a.profileArg(pos, false)
	if err != nil {
		return 0, false
	}
	req.Profile = profile
	ctx, cancel := a.bounded(ctx)
	defer cancel()
	code, msg := exitCode(ctx, a.get(ctx, req, format))
	if msg != "" {
		fmt.Fprintf(stderr, "token: %s\n", quote.Line(msg))
	}
	return code, true
}
