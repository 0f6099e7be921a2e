//go:build !windows

package tokendcli

// detachConsole: only Windows gives a program started at logon a console
// window of its own.
func detachConsole() {}
