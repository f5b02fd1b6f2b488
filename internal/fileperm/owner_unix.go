//go:build unix

package fileperm

import (
	"io/fs"
	"os"
	"syscall"
)

// foreignOwner returns the owner of fi when it is neither the process's
// effective user nor root: that user can write the file or, for a
// directory, replace what it holds, whatever the mode bits say.
func foreignOwner(fi fs.FileInfo) (uid int, foreign bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	uid = int(st.Uid)
	return uid, uid != 0 && uid != os.Geteuid()
}
