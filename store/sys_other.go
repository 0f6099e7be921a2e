//go:build !unix && !windows

package store

// lockDir is a no-op where flock does not exist; the daemon's socket still
// keeps a second instance out.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }

func syncDir(string) error { return nil }
