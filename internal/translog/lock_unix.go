//go:build unix

package translog

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive flock on the lock file at path (created if
// needed), which serialises the writers of one checkpoint directory
// across processes.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
