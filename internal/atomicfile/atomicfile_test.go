package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("one"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	// A refusing check leaves the old file and no temp file.
	refused := errors.New("changed meanwhile")
	if err := Write(p, []byte("three"), 0o600, func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("a refused write changed the file: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	// A directory that is gone is an error naming the path.
	if err := Write(filepath.Join(dir, "nope", "f"), nil, 0o600, nil); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}
