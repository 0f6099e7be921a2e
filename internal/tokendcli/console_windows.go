package tokendcli

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	kernel32              = windows.NewLazySystemDLL("kernel32.dll")
	getConsoleProcessList = kernel32.NewProc("GetConsoleProcessList")
	freeConsole           = kernel32.NewProc("FreeConsole")
)

// detachConsole lets go of a console that Windows opened for tokend alone
// (the logon task starts it so): with --log-file nothing is written there,
// and the window would stay open, and closing it would stop tokend. A
// console shared with a shell, where someone started tokend, is kept.
func detachConsole() {
	var pids [2]uint32
	n, _, _ := getConsoleProcessList.Call(uintptr(unsafe.Pointer(&pids[0])), 2)
	if n == 1 {
		freeConsole.Call()
	}
}
