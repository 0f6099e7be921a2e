package tokendcli

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/tokend/tokend/internal/cli/clitest"
)

// TestHelpEverywhere: -h and --help on every command print that command's
// help on stdout, each of its flags described, and exit 0.
func TestHelpEverywhere(t *testing.T) {
	root := newRoot(&app{stdout: io.Discard, stderr: io.Discard})
	clitest.CheckHelp(t, root, 14, func(args []string, stdout, stderr *bytes.Buffer) int {
		return Run(context.Background(), args, stdout, stderr)
	})
}

// TestHelpCommand: `tokend help CMD` is CMD's help too.
func TestHelpCommand(t *testing.T) {
	var a, b bytes.Buffer
	if Run(context.Background(), []string{"help", "config", "check"}, &a, io.Discard) != 0 ||
		Run(context.Background(), []string{"config", "check", "-h"}, &b, io.Discard) != 0 || a.String() != b.String() {
		t.Fatalf("tokend help config check:\n%s\ntokend config check -h:\n%s", a.String(), b.String())
	}
}
