package tokencli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/cli/clitest"
)

// TestHelpEverywhere: -h and --help on every command print that command's
// help on stdout, each of its flags described, and exit 0.
func TestHelpEverywhere(t *testing.T) {
	root := newRoot(&app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	clitest.CheckHelp(t, root, 15, func(args []string, stdout, stderr *bytes.Buffer) int {
		return Run(context.Background(), args, strings.NewReader(""), stdout, stderr)
	})
}

// TestHelpCommand: `token help CMD` is CMD's help too.
func TestHelpCommand(t *testing.T) {
	var a, b bytes.Buffer
	if Run(context.Background(), []string{"help", "setup"}, strings.NewReader(""), &a, io.Discard) != 0 ||
		Run(context.Background(), []string{"setup", "--help"}, strings.NewReader(""), &b, io.Discard) != 0 || a.String() != b.String() {
		t.Fatalf("token help setup:\n%s\ntoken setup --help:\n%s", a.String(), b.String())
	}
}
