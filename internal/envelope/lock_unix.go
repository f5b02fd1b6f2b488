//go:build unix

package envelope

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock (flock) on directory dir, waiting
// for it, and returns the function that releases it. Keyring rotations hold
// it from reading the file to renaming its replacement into place, so that
// two processes rotating one keyring cannot overwrite each other's new
// version, and creation holds it so that a rotation's clean-up of temporary
// files never removes one being written. Locking the directory leaves no
// lock file behind.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("envelope: lock keyring directory: %w", err)
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("envelope: lock keyring directory %s: %w", dir, err)
	}
	return func() { d.Close() }, nil // closing the descriptor releases the lock
}
