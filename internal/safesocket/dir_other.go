//go:build !unix

package safesocket

func checkDir(string) error { return ErrUnsupported }
