// Package clitest checks command trees built with internal/cli, for the
// tests of token and tokend (kept apart so the binaries do not link testing).
package clitest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CommandPaths is every command of root's tree, as argument lists, help
// and completion included.
func CommandPaths(root *cobra.Command) [][]string {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root, nil)
	return out
}

// CheckHelp checks that -h and --help on every command of root's tree print
// that command's help on stdout, each of its flags described, and exit 0.
// run runs the binary with args and returns its exit code.
func CheckHelp(t *testing.T, root *cobra.Command, atLeast int, run func(args []string, stdout, stderr *bytes.Buffer) int) {
	t.Helper()
	paths := CommandPaths(root)
	if len(paths) < atLeast {
		t.Fatalf("only %d commands: %q", len(paths), paths)
	}
	for _, path := range paths {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"-h", "--help"} {
			t.Run(strings.Join(append(path, h), " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(append(append([]string{}, path...), h), &stdout, &stderr)
				out := stdout.String()
				use := cmd.UseLine()
				if !cmd.Runnable() {
					use = cmd.CommandPath() + " [command]"
				}
				if code != 0 || stderr.Len() != 0 || !strings.Contains(out, "Usage:\n  "+use) {
					t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr.String(), out)
				}
				check := func(f *pflag.Flag) {
					if f.Hidden {
						return
					}
					_, usage := pflag.UnquoteUsage(f)
					if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, usage) {
						t.Errorf("help lacks --%s and %q", f.Name, usage)
					}
				}
				cmd.LocalFlags().VisitAll(check)
				cmd.InheritedFlags().VisitAll(check)
			})
		}
	}
}
