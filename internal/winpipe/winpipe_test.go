package winpipe

import "testing"

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{`\\.\pipe\tokend-S-1-5-21-1-2-3-1001`, true},
		{`\\.\PIPE\tokend`, true},
		{`\\.\pipe\a`, true},
		{`\\.\pipe\`, false},
		{`\\.\pipe\a\b`, false},
		{`\\host\pipe\tokend`, false},
		{`C:\Users\a\tokend.sock`, false},
		{`/run/user/1000/tokend/tokend.sock`, false},
		{`\\.\pipe\` + string(make([]byte, 257)), false},
		{"\\\\.\\pipe\\a\x00b", false},
	} {
		if err := CheckName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
