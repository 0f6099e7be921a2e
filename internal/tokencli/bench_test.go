package tokencli

import (
	"context"
	"io"
	"strings"
	"testing"
)

// BenchmarkCommandLine is what the command line costs `token get` before it
// asks the daemon: the tree, parsing, and the command's start (here with
// a daemon that is not there).
func BenchmarkCommandLine(b *testing.B) {
	b.Setenv("TOKEND_SOCKET", "/nonexistent/tokend.sock")
	for b.Loop() {
		Run(context.Background(), []string{"get", "dbx", "-o", "json"}, strings.NewReader(""), io.Discard, io.Discard)
	}
}
