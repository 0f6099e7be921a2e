package safesocket

import (
	"strings"
	"testing"
)

const (
	ownSID   = "S-1-5-21-1111-2222-3333-1001"
	otherSID = "S-1-5-21-1111-2222-3333-1002"
)

func TestPipeSDDL(t *testing.T) {
	got, err := pipeSDDL(ownSID)
	if err != nil {
		t.Fatal(err)
	}
	if got != "O:"+ownSID+"D:P(A;;GA;;;"+ownSID+")" {
		t.Fatalf("pipeSDDL = %q", got)
	}
	// Nothing but the owner: no alias (WD everyone, SY system, BA
	// administrators, AU authenticated users, IU interactive) and no
	// other SID.
	for _, alias := range []string{";WD)", ";SY)", ";BA)", ";AU)", ";IU)", ";OW)", otherSID} {
		if strings.Contains(got, alias) {
			t.Errorf("pipeSDDL admits %s: %s", alias, got)
		}
	}
	// An SDDL alias or an entry smuggled in as the "SID" is refused.
	for _, bad := range []string{"WD", "", ownSID + ")(A;;GA;;;WD", "S-1-5-21-1-2-3-1001;WD"} {
		if s, err := pipeSDDL(bad); err == nil {
			t.Errorf("pipeSDDL(%q) = %q, want an error", bad, s)
		}
	}
}

// TestCheckDACL: the pipe's security as read back must admit its owner
// and nobody else.
func TestCheckDACL(t *testing.T) {
	allow := func(sid string) ace { return ace{allow: true, sid: sid, mask: 0x10000000} }
	for _, tc := range []struct {
		name               string
		owner              string
		present, protected bool
		aces               []ace
		ok                 bool
	}{
		{"owner only", ownSID, true, true, []ace{allow(ownSID)}, true},
		{"owner and a denial", ownSID, true, true, []ace{{sid: "S-1-1-0", mask: 0x10000000}, allow(ownSID)}, true},
		{"another user admitted", ownSID, true, true, []ace{allow(ownSID), allow(otherSID)}, false},
		{"everyone admitted", ownSID, true, true, []ace{allow(ownSID), allow("S-1-1-0")}, false},
		{"system admitted", ownSID, true, true, []ace{allow(ownSID), allow("S-1-5-18")}, false},
		{"only another user", ownSID, true, true, []ace{allow(otherSID)}, false},
		{"owned by another user", otherSID, true, true, []ace{allow(ownSID)}, false},
		{"no DACL", ownSID, false, true, nil, false},
		{"empty DACL", ownSID, true, true, nil, false},
		{"inherits", ownSID, true, false, []ace{allow(ownSID)}, false},
		{"owner with no rights", ownSID, true, true, []ace{{allow: true, sid: ownSID}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkDACL(tc.owner, tc.present, tc.protected, tc.aces, ownSID)
			if (err == nil) != tc.ok {
				t.Fatalf("checkDACL = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
