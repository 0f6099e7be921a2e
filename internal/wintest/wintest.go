// Package wintest helps the tests that run on Windows, and under Wine in
// make test's Windows lane (scripts/wine/lane.sh).
package wintest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TempDir is t.TempDir for tests that run under Wine: Go's os.RemoveAll
// (behind t.TempDir's clean-up) deletes with FILE_DISPOSITION_INFORMATION_EX,
// which Wine 8 answers with an error Go does not fall back from, so the
// clean-up fails the test. This one removes file by file with os.Remove
// (DeleteFile).
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tokend-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var paths []string
		filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			paths = append(paths, p)
			return nil
		})
		slices.Reverse(paths) // children first
		for _, p := range paths {
			os.Remove(p)
		}
	})
	return dir
}
