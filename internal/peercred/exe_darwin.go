package peercred

import (
	"bytes"
	"errors"

	"golang.org/x/sys/unix"
)

// exe reads the executable path from kern.procargs2: a 4-byte argc, then
// the path the process was started from, NUL-terminated.
func exe(pid int) (string, error) {
	b, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil {
		return "", err
	}
	if len(b) < 5 {
		return "", errors.New("kern.procargs2: short answer")
	}
	b = b[4:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}
