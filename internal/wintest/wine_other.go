//go:build !windows

package wintest

// UnderWine is false: Wine runs Windows programs.
func UnderWine() bool { return false }
