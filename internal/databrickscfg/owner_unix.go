//go:build unix

package databrickscfg

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// checkOwner refuses another user's file: its owner may read what tokend
// writes there, and a capability is the user's alone.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Getuid() {
		return nil
	}
	owner := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(owner); err == nil {
		owner += " (" + u.Username + ")"
	}
	return fmt.Errorf("%s belongs to uid %s, not to you (uid %d): tokend writes only a file of your own; set %s to one", path, owner, os.Getuid(), EnvFile)
}
