package envelope

import (
	"io/fs"
	"syscall"
)

// fileID returns the inode number of a file.
func fileID(fi fs.FileInfo) uint64 {
	return fi.Sys().(*syscall.Stat_t).Ino
}
