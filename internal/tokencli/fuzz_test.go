package tokencli

import (
	"slices"
	"strings"
	"testing"
)

// FuzzGitCredential: whatever git (or anything else) writes to the helper,
// the parser does not panic, and what it accepts survives a round trip
// through git's format.
func FuzzGitCredential(f *testing.F) {
	for _, s := range []string{
		"protocol=https\nhost=dev.azure.com\npath=org/repo\n\n",
		"capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=h\nwwwauth[]=Bearer realm=\"x\"\n",
		"wwwauth[]=Basic\nwwwauth[]=\nusername=a=b\npassword=p\r\n\r\n",
		"protocol\n", "=x\n", "host=a\x00b\n", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := parseGitCredential(strings.NewReader(in))
		if err != nil {
			return
		}
		again, err := parseGitCredential(strings.NewReader(c.encode()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", c.encode(), err)
		}
		if !slices.Equal(c.keys, again.keys) {
			t.Fatalf("keys %q became %q", c.keys, again.keys)
		}
		for _, k := range c.keys {
			if !slices.Equal(c.values[k], again.values[k]) {
				t.Fatalf("%s: %q became %q", k, c.values[k], again.values[k])
			}
		}
		_ = c.wantsBearer()
		_ = hostMatches(c.get("host"), defaultGitHosts)
	})
}

// FuzzExecInfo: KUBERNETES_EXEC_INFO never panics the plugin, and an
// accepted one always names a version client-go reads.
func FuzzExecInfo(f *testing.F) {
	for _, s := range []string{
		"",
		`{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`,
		`{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"cluster":{"server":"https://x","certificate-authority-data":"AA=="}}}`,
		`{"apiVersion":"client.authentication.k8s.io/v1alpha1"}`,
		`{"kind":1}`, `null`, `[`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, info string) {
		v, err := parseExecInfo(info)
		if err == nil && v != execV1 && v != execV1beta1 {
			t.Fatalf("accepted apiVersion %q", v)
		}
	})
}
