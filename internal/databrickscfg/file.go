package databrickscfg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/tokend/tokend/internal/atomicfile"
)

// EnvFile names the file instead of ~/.databrickscfg, as in the SDKs.
const EnvFile = "DATABRICKS_CONFIG_FILE"

// maxSize bounds the file read: a configuration is a few kilobytes.
const maxSize = 4 << 20

// Path is the file the Databricks SDKs read: $DATABRICKS_CONFIG_FILE, else
// ~/.databrickscfg, a leading "~" meaning the home directory.
func Path() (string, error) {
	p := os.Getenv(EnvFile)
	if p == "" {
		p = "~/.databrickscfg"
	}
	if strings.HasPrefix(p, "~") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home directory for %s (or set %s): %w", p, EnvFile, err)
		}
		p = home + p[1:]
	}
	return p, nil
}

// Loaded is a file as Load read it.
type Loaded struct {
	Path   string
	File   *File
	Exists bool
	Mode   fs.FileMode // of the existing file
	raw    []byte
}

// Load reads the file at path for an edit: a missing file is an empty one;
// a symlink, anything but a regular file, a file of another user (Unix),
// or one the SDKs would not read is an error that says what to do.
func Load(path string) (*Loaded, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, _ := Parse(nil)
		return &Loaded{Path: path, File: f}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := checkFile(path, fi); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// The file opened must be the one checked (not swapped since).
	if fi2, err := fh.Stat(); err != nil || !os.SameFile(fi, fi2) {
		return nil, fmt.Errorf("%s changed while it was read: run this again", path)
	}
	raw, err := io.ReadAll(io.LimitReader(fh, maxSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxSize {
		return nil, fmt.Errorf("%s is over %d MiB: not a Databricks configuration file", path, maxSize>>20)
	}
	f, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was changed (fix it, or set %s to another file)", path, err, EnvFile)
	}
	return &Loaded{Path: path, File: f, Exists: true, Mode: fi.Mode(), raw: raw}, nil
}

// checkFile refuses what tokend does not write: a link (the rename would
// replace the link, not its target), a non-regular file, another user's.
func checkFile(path string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return fmt.Errorf("%s is a symbolic link (to %s): tokend does not write through links; set %s to the file it points to, or replace the link with the file", path, target, EnvFile)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	return checkOwner(path, fi)
}

// Write replaces the file with f, atomically and with mode 0600: a
// temporary file in its directory, written and synced, renamed over it,
// and the directory synced. It refuses when the file changed since Load
// (someone else edited it meanwhile), or became a link or another user's.
func (l *Loaded) Write(f *File) error {
	return atomicfile.Write(l.Path, f.Bytes(), 0o600, l.unchanged)
}

// unchanged checks that the file is still what Load read.
func (l *Loaded) unchanged() error {
	fi, err := os.Lstat(l.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !l.Exists:
		return nil
	case err != nil && !l.Exists:
		return err
	case err != nil:
		return fmt.Errorf("%s changed while tokend was editing it (%v): nothing was written; run this again", l.Path, err)
	case !l.Exists:
		return fmt.Errorf("%s was created while tokend was editing it: nothing was written; run this again", l.Path)
	}
	if err := checkFile(l.Path, fi); err != nil {
		return err
	}
	now, err := os.ReadFile(l.Path)
	if err != nil {
		return err
	}
	if !bytes.Equal(now, l.raw) {
		return fmt.Errorf("%s changed while tokend was editing it: nothing was written; run this again", l.Path)
	}
	return nil
}
