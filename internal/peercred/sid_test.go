package peercred

import "testing"

// TestSIDUID: only the owner's own SID gets the owner's number; SYSTEM is
// 0; another user never gets the owner's number, even with the same RID
// (an account of another domain) or a RID of 0.
func TestSIDUID(t *testing.T) {
	const own = "S-1-5-21-1111-2222-3333-1001"
	for _, tc := range []struct {
		name, sid, own string
		want           int
		err            bool
	}{
		{"owner", own, own, 1001, false},
		{"system", systemSID, own, 0, false},
		{"another user", "S-1-5-21-1111-2222-3333-1002", own, 1002, false},
		{"same RID, other domain", "S-1-5-21-4444-5555-6666-1001", own, otherSIDs, false},
		{"RID 0", "S-1-0-0", own, otherSIDs, false},
		{"RID too large", "S-1-5-21-1-2-3-4294967295", own, otherSIDs, false},
		{"owner with a large RID", "S-1-5-21-1-2-3-4294967295", "S-1-5-21-1-2-3-4294967295", ownFallback, false},
		{"other when the owner's RID is large", "S-1-5-21-9-9-9-4294967294", "S-1-5-21-1-2-3-4294967295", otherSIDs, false},
		{"other with the fallback number as RID", "S-1-5-21-9-9-9-2147483646", own, otherSIDs, false},
		{"daemon as SYSTEM", systemSID, systemSID, 0, false},
		{"user, daemon as SYSTEM", own, systemSID, 1001, false},
		{"local service", "S-1-5-19", own, 19, false},
		{"not a SID", "OW", own, 0, true},
		{"own not a SID", own, "SY", 0, true},
		{"lower case", "s-1-5-21-1111-2222-3333-1001", own, 0, true},
		{"empty part", "S-1-5--1001", own, 0, true},
		{"sign", "S-1-5-21-+1001", own, 0, true},
		{"leading zero", "S-1-5-21-01001", own, 0, true},
		{"too short", "S-1-5", own, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sidUID(tc.sid, tc.own)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("sidUID(%q, %q) = %d, %v; want %d (error %v)", tc.sid, tc.own, got, err, tc.want, tc.err)
			}
			if !tc.err && tc.sid != tc.own {
				ownN, _ := sidUID(tc.own, tc.own)
				if got == ownN {
					t.Fatalf("another SID got the owner's number %d", got)
				}
			}
		})
	}
}

// FuzzSIDUID: two different SIDs never share the owner's number.
func FuzzSIDUID(f *testing.F) {
	f.Add("S-1-5-21-1-2-3-1001", "S-1-5-21-4-5-6-1001")
	f.Add("S-1-5-18", "S-1-5-21-4-5-6-1001")
	f.Add("S-1-0-0", "S-1-5-21-4-5-6-2147483646")
	f.Fuzz(func(t *testing.T, sid, own string) {
		got, err := sidUID(sid, own)
		if err != nil || sid == own {
			return
		}
		if ownN, _ := sidUID(own, own); got == ownN {
			t.Fatalf("sidUID(%q, %q) = the owner's number %d", sid, own, got)
		}
	})
}
