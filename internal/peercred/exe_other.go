//go:build !linux && !darwin

package peercred

func exe(int) (string, error) { return "", ErrUnsupported }
