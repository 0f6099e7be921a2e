package peercred

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Windows names users by SID. Where the daemon's code speaks of uids (Cred.UID,
// TCPOwners.UID, OwnUID), Windows gives each SID a number by sidUID: the
// user's own SID and no other has OwnUID, SYSTEM has 0 (the role root has
// elsewhere), and any other user has its RID (the SID's last part, as
// `whoami /user` shows it), or otherSIDs where that RID could be mistaken
// for the owner's or for SYSTEM's. The number decides only "the owner,
// SYSTEM, or someone else"; Cred.SID names the user in messages.

// systemSID is the LocalSystem account.
const systemSID = "S-1-5-18"

const (
	// ownFallback is the owner's number when its RID does not fit.
	ownFallback = math.MaxInt32 - 1
	// otherSIDs is the number of every other user whose RID could be
	// taken for the owner's (another domain's account with the same RID)
	// or for SYSTEM's, or does not fit.
	otherSIDs = math.MaxInt32
)

// sidUID is the number of the user sid, as seen by a process of the user
// own.
func sidUID(sid, own string) (int, error) {
	if err := checkSID(sid); err != nil {
		return 0, err
	}
	if err := checkSID(own); err != nil {
		return 0, err
	}
	ownN := ridNumber(own)
	if own == systemSID {
		ownN = 0
	}
	switch {
	case sid == own:
		return ownN, nil
	case sid == systemSID:
		return 0, nil
	}
	n := ridNumber(sid)
	if n == ownN || n == 0 || n == ownFallback {
		return otherSIDs, nil
	}
	return n, nil
}

// ridNumber is the SID's last sub-authority if it fits in (0,
// ownFallback), else ownFallback.
func ridNumber(sid string) int {
	last := sid[strings.LastIndexByte(sid, '-')+1:]
	n, err := strconv.ParseUint(last, 10, 32)
	if err != nil || n == 0 || n >= ownFallback {
		return ownFallback
	}
	return int(n)
}

// checkSID accepts the string form of a SID: S-1-, an identifier
// authority, and 1 to 15 sub-authorities, all decimal (SDDL's two-letter
// aliases are not SIDs here).
func checkSID(s string) error {
	parts := strings.Split(s, "-")
	if len(parts) < 4 || len(parts) > 18 || parts[0] != "S" || parts[1] != "1" {
		return errors.New("not a SID: " + strconv.Quote(s))
	}
	for i, p := range parts[2:] {
		bits := 32
		if i == 0 {
			bits = 48
		}
		if p == "" || p[0] == '+' || (len(p) > 1 && p[0] == '0') {
			return errors.New("not a SID: " + strconv.Quote(s))
		}
		if _, err := strconv.ParseUint(p, 10, bits); err != nil {
			return errors.New("not a SID: " + strconv.Quote(s))
		}
	}
	return nil
}

// CheckSID reports whether s is the string form of a SID (S-1-5-21-…).
func CheckSID(s string) error { return checkSID(s) }
