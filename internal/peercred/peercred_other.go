//go:build !linux && !darwin && !windows

package peercred

func get(uintptr) (Cred, error) { return Cred{}, ErrUnsupported }
