package tokendcli

import "github.com/tokend/tokend/internal/peercred"

// userSID is the SID of the user tokend runs as.
func userSID() (string, error) { return peercred.OwnSID() }
