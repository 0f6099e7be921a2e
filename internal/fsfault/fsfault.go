// Package fsfault gives tests file systems that fail the way real ones do:
// a small tmpfs that fills up (ENOSPC) and a read-only bind mount (EROFS).
// Mounting needs Linux and root; CI runs as root, so there a test that
// cannot mount fails instead of skipping.
package fsfault

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Require skips the test where mounts are impossible (not Linux, not root),
// except in CI (CI set), where it fails it.
func Require(t testing.TB) {
	t.Helper()
	err := supported()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("this test needs to mount file systems and CI must run it: %v", err)
	}
	t.Skipf("cannot mount file systems here: %v", err)
}

// Tmpfs mounts a tmpfs of size bytes on a new directory and returns it; it
// is unmounted when the test ends.
func Tmpfs(t testing.TB, size int) string {
	t.Helper()
	Require(t)
	dir, err := os.MkdirTemp("", "fsfault")
	if err != nil {
		t.Fatal(err)
	}
	if err := mountTmpfs(dir, size); err != nil {
		os.Remove(dir)
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unmount(dir); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Fill writes a file into dir until the file system is full and returns a
// function that deletes it again.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "fsfault-filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !isNoSpace(err) {
				f.Close()
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	// The last partial block: whatever single bytes still fit.
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("free %s: %v", dir, err)
		}
	}
}

// ReadOnly makes dir read-only by bind-mounting it onto itself read-only,
// and returns a function that undoes it (also run when the test ends).
func ReadOnly(t testing.TB, dir string) (restore func()) {
	t.Helper()
	Require(t)
	if err := bindReadOnly(dir); err != nil {
		t.Fatalf("read-only bind mount of %s: %v", dir, err)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		if err := unmount(dir); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	}
	t.Cleanup(restore)
	return restore
}

func notRoot() error {
	return fmt.Errorf("mounting needs root (uid %d)", os.Getuid())
}
