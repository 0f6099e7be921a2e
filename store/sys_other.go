//go:build !unix && !windows

package store

import "io/fs"

// lockDir is a no-op where flock does not exist; the daemon's socket still
// keeps a second instance out.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }

// ownedByMe reports whether this user owns the file: a file in the user's own
// secrets directory is taken to be the user's.
func ownedByMe(fs.FileInfo) bool { return true }
