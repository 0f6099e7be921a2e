package config

import (
	"os"

	"golang.org/x/sys/windows"
)

// defaultPipe is the daemon's endpoint on Windows: a named pipe named
// after the user's SID, so that each user of the machine has their own
// (see internal/safesocket for who may create and open it).
func defaultPipe() string {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return `\\.\pipe\tokend`
	}
	return `\\.\pipe\tokend-` + u.User.Sid.String()
}

// stateBase is %LOCALAPPDATA%, which does not roam.
func stateBase() (string, error) { return os.UserCacheDir() }
