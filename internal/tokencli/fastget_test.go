package tokencli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/client/wire"
)

// TestFastGet: the fast path of `token get` answers as cobra's does, and
// leaves to cobra every command line it does not take whole.
func TestFastGet(t *testing.T) {
	t.Setenv("TOKEND_PROFILE", "")
	d := &serviceDaemon{profiles: []wire.ProfileStatus{{Name: "sp", Flow: "client-secret"}}}
	sock := d.start(t)
	gone := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{
		{"sp"},
		{},
		{"sp", "-o", "json"},
		{"-o", "header", "sp"},
		{"--output=az", "sp"},
		{"-p", "sp", "-o", "databricks"},
		{"--profile=sp", "--scope", "a/.default", "--scope=b/.default"},
		{"sp", "--resource", "https://management.core.windows.net/", "--timeout", "5s"},
		{"sp", "--socket", gone},
		{"sp", "--timeout=2s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if !hasFlag(args, "--socket") {
				args = append(args, "--socket", sock)
			}
			var fo, fe, co, ce bytes.Buffer
			fcode, ok := fastGet(context.Background(), args, strings.NewReader(""), &fo, &fe)
			if !ok {
				t.Fatal("the fast path left it to cobra")
			}
			ccode := Run(context.Background(), append([]string{"get"}, args...), strings.NewReader(""), &co, &ce)
			if fcode != ccode || fo.String() != co.String() || fe.String() != ce.String() {
				t.Errorf("fast path: exit %d, stdout %q, stderr %q\ncobra:     exit %d, stdout %q, stderr %q", fcode, fo.String(), fe.String(), ccode, co.String(), ce.String())
			}
		})
	}
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"sp", "--databricks-admin-headers"}, {"sp", "-o", "yaml"}, {"sp", "--bogus"},
		{"a", "b"}, {"--scope", "x", "--resource", "y"}, {"-o=json"}, {"-ojson"}, {"--timeout", "soon"},
		{"--timeout", "-1s"}, {"sp", "-o"}, {"a", "-p", "b"}, {"--", "sp"},
	} {
		if _, ok := fastGet(context.Background(), append(args, "--socket", gone), strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); ok {
			t.Errorf("the fast path took %q", args)
		}
	}
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}
