// Package atomicfile replaces files so that a reader (or a crash) sees the
// old content or the new, never a part: the config `token setup` writes,
// ~/.databrickscfg, the socket record, the emulator's CA. (The secret store
// has its own writer, which also reads back and classifies every error.)
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Write replaces path with data and mode perm: a temporary file in path's
// directory ("."+name+".tmp-*", removed if anything fails), written,
// synced and closed, renamed over path, then the directory synced. check,
// if not nil, runs just before the rename; its error is returned and path
// stays as it was (databrickscfg refuses a file changed meanwhile).
func Write(path string, data []byte, perm fs.FileMode, check func() error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // a no-op after the rename
	if err := writeAll(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func writeAll(f *os.File, data []byte, perm fs.FileMode) error {
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir flushes dir's entries to disk, so that a rename in it survives a
// crash. Windows cannot open a directory to sync it: there it does nothing
// (its renames are journaled).
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
