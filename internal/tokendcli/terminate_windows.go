package tokendcli

import "os"

// terminate stops the process pid. Windows has no SIGTERM for a process
// without a console; tokend's store survives a kill (every write is a
// rename of a synced file).
func terminate(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
