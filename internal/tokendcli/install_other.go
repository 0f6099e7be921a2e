//go:build !windows

package tokendcli

import "errors"

// userSID: only Windows names users by SID.
func userSID() (string, error) { return "", errors.New("no user SID on this system") }
