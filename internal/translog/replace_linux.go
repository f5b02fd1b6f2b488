package translog

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// exchange atomically swaps the files spare and path (renameat2
// RENAME_EXCHANGE); when path does not exist yet, or the file system
// cannot exchange, spare is renamed to path.
func exchange(spare, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, spare, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return os.Rename(spare, path)
	}
	return err
}
