package wintest

import "golang.org/x/sys/windows"

// UnderWine reports whether this runs under Wine, whose ntdll says so.
func UnderWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
