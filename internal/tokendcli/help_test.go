package tokendcli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandPaths is every command of the tree, as argument lists, help and
// completion included.
func commandPaths(root *cobra.Command) [][]string {
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

// TestHelpEverywhere: -h and --help on every command print that command's
// help on stdout, each of its flags described, and exit 0.
func TestHelpEverywhere(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	root := newRoot(a)
	paths := commandPaths(root)
	if len(paths) < 14 {
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
				code := Run(context.Background(), append(append([]string{}, path...), h), &stdout, &stderr)
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

// TestHelpCommand: `tokend help CMD` is CMD's help too.
func TestHelpCommand(t *testing.T) {
	var a, b bytes.Buffer
	if Run(context.Background(), []string{"help", "config", "check"}, &a, io.Discard) != 0 ||
		Run(context.Background(), []string{"config", "check", "-h"}, &b, io.Discard) != 0 || a.String() != b.String() {
		t.Fatalf("tokend help config check:\n%s\ntokend config check -h:\n%s", a.String(), b.String())
	}
}
