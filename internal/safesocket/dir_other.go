//go:build !unix

package safesocket

import "io/fs"

func checkDir(string) (fs.FileMode, error) { return 0, ErrUnsupported }

func checkSocket(string) error { return ErrUnsupported }
