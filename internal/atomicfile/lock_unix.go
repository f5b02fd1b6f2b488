//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// lock takes a non-blocking exclusive flock on the new temporary file f;
// the kernel releases it when the process ends, however it ends. It is
// best effort: on a file system without flock, Stale reports the file of a
// live writer too, and that is all.
func lock(f *os.File) {
	_ = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
}

// held reports whether a live process holds the lock on the file name.
// A file that cannot be opened counts as held: it is not reported.
func held(name string) bool {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return true
	}
	defer f.Close() // releases the lock taken here
	return flock(f, syscall.LOCK_EX|syscall.LOCK_NB) != nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
