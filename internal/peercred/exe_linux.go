package peercred

import (
	"os"
	"strconv"
)

func exe(pid int) (string, error) { return os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe") }
