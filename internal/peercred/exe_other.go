//go:build !linux && !darwin && !windows

package peercred

func exe(int) (string, error) { return "", ErrUnsupported }
