package version

import "testing"

func TestString(t *testing.T) {
	if String() == "" {
		t.Fatal("empty version")
	}
	defer func(v string) { Version = v }(Version)
	Version = "v1.2.3"
	if got := String(); got != "v1.2.3" {
		t.Fatalf("String() = %q with Version set", got)
	}
}
