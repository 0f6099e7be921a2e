// Package e2ewin drives the Windows binaries, tokend.exe and token.exe,
// end to end: the daemon on its named pipe with the emulator, a sign-in
// kept in the keyring store (Credential Manager) across a restart, a
// child under `token exec` fetching a token over TCP with the
// managed-identity variables, and the logon task of `tokend install`.
//
// Its tests are Windows-only. make test's Windows lane (scripts/wine/lane.sh)
// builds the binaries and this package's test binary with GOOS=windows
// and runs them under Wine, with TOKEND_WIN_BIN naming the directory of
// the binaries. Wine runs every process as one user and does not enforce
// DACLs, so these tests prove function, not isolation (the SID and DACL
// rules have unit tests of their own in internal/safesocket and
// internal/peercred).
package e2ewin
