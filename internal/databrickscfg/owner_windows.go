package databrickscfg

import "io/fs"

// checkOwner accepts any file on Windows: the profile directory's ACL keeps
// other users out of %USERPROFILE%\.databrickscfg.
func checkOwner(string, fs.FileInfo) error { return nil }

// syncDir does nothing on Windows, where a directory cannot be opened for
// syncing; the rename (MoveFileEx) is durable by itself.
func syncDir(string) error { return nil }
