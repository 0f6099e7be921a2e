// Package version is the one version string of tokend and token, so that
// both binaries of one build always say the same.
package version

import "runtime/debug"

// Version is set by release builds:
//
//	go build -ldflags "-X github.com/tokend/tokend/internal/version.Version=v1.2.3" ./cmd/...
//
// Left empty, String takes the module version from the build information
// (set by `go install github.com/tokend/tokend/cmd/...@v1.2.3`, or by the go
// command from a VCS tag), else "dev".
var Version = ""

// String returns the version.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
