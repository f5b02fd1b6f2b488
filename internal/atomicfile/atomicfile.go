// Package atomicfile writes an output file so that it appears whole or not
// at all, and refuses outputs that would destroy something else.
//
// [Create] checks the target path and opens a temporary file next to it;
// the caller writes through the returned [File], then [File.Commit] syncs
// it, renames it over the target and syncs the directory (no syncs with
// [Options.NoSync]), or [File.Abort] removes it. A reader of the target path never sees a partial file.
//
// # What is refused
//
// The target must be a regular file or not exist. Create refuses, with
// [ErrNotRegular], a directory, a device (as root, renaming a file over
// /dev/null would replace the device node), a named pipe or a socket,
// also when reached through a symbolic link; with [ErrSameFile] the same
// file (by device and inode, so also through a symbolic or hard link) as
// one of [Options.Inputs]; and with [ErrExists] an existing file unless
// [Options.Overwrite] is set. A target that is a symbolic link to a
// regular file is, with Overwrite, replaced by the new file: the link is
// replaced, not the file it points to.
//
// Without Overwrite, Commit links the new file into place, which fails if
// a file appeared at the target meanwhile, so two writers never silently
// replace each other's output. Commit also checks, by device and inode,
// that the file it places is the one written, before and after placing it:
// in a directory that others can write (without the sticky bit), someone
// could rename the temporary file away and put another under its name; that
// is [ErrReplaced], and Commit then removes what it placed rather than
// report another file's bytes as written.
//
// # Temporary files
//
// The temporary file is named ".NAME.sealkeep-tmp-DIGITS" for a target
// NAME, created in the target's directory with O_EXCL and mode 0600 (which
// the target keeps), and held under an advisory lock (flock, where the file
// system has it) while it is written. It is removed on every failure path,
// and by [File.AbortOnSignal] on SIGINT or SIGTERM; only a process killed
// outright (SIGKILL, a crash, a power cut) leaves one behind. Such a file is never the target itself, and [Stale] lists the
// ones of a target that no live process holds, so that the next run can
// report them.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"

	"sealkeep/internal/errs"
)

// The refusals of [Create] (and of [File.Commit], which checks again).
var (
	// ErrExists: the target exists and Options.Overwrite is not set.
	ErrExists = errs.New(errs.Invalid, "file exists")
	// ErrSameFile: the target is one of Options.Inputs.
	ErrSameFile = errs.New(errs.Invalid, "the same file as the input")
	// ErrNotRegular: the target is a directory, a device, a named pipe or
	// a socket.
	ErrNotRegular = errs.New(errs.Invalid, "not a regular file")
	// ErrAborted: Commit after Abort (for example by a signal).
	ErrAborted = errs.New(errs.Internal, "abandoned")
	// ErrReplaced: the temporary file was replaced by another file while
	// it was written (possible in a directory others can write).
	ErrReplaced = errs.New(errs.Verification, "replaced by another file while it was written")
)

// Options says which targets Create accepts.
type Options struct {
	// Overwrite allows replacing an existing regular file.
	Overwrite bool
	// Inputs are the files being read (from os.File.Stat): the target
	// must not be any of them, even with Overwrite.
	Inputs []os.FileInfo
	// NoSync makes Commit skip the syncs of the file and its directory,
	// for a scratch output that need not survive a crash (the server's
	// sealed file, answered and deleted): it still appears whole or not
	// at all to other processes.
	NoSync bool
}

// File is a temporary file that becomes the target on Commit. Write to it
// through the embedded *os.File; end it with Commit or Abort, never Close.
type File struct {
	*os.File
	path string
	opts Options

	mu   sync.Mutex
	done bool // committed or aborted
}

// Create checks path against opts (see the package documentation) and
// creates the temporary file that Commit will rename to path.
func Create(path string, opts Options) (*File, error) {
	if err := check(path, opts); err != nil {
		return nil, err
	}
	dir, prefix := tempPrefix(path)
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file next to %s: %w", path, err)
	}
	lock(f)
	return &File{File: f, path: path, opts: opts}, nil
}

// check refuses a target that opts does not allow.
func check(path string, opts Options) error {
	if path == "" {
		return fmt.Errorf("empty path: %w", ErrNotRegular)
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if os.IsPathSeparator(path[len(path)-1]) {
			return fmt.Errorf("%s names a directory: %w", path, ErrNotRegular)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			if !opts.Overwrite {
				return fmt.Errorf("%s (a symbolic link to nothing): %w", path, ErrExists)
			}
			return nil
		}
		if err != nil {
			return err
		}
		fi = target
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s: %w", path, kind(fi.Mode()), ErrNotRegular)
	}
	for _, in := range opts.Inputs {
		if os.SameFile(fi, in) {
			return fmt.Errorf("%s: %w (by device and inode)", path, ErrSameFile)
		}
	}
	if !opts.Overwrite {
		return fmt.Errorf("%s: %w", path, ErrExists)
	}
	return nil
}

// kind names a file mode that is not a regular file's.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// tempInfix marks the temporary files of this package.
const tempInfix = ".sealkeep-tmp-"

// maxBase bounds the part of the target's name copied into a temporary
// file's name, so that the latter stays within NAME_MAX (255 bytes).
const maxBase = 200

// tempPrefix returns the directory of path and the name prefix of its
// temporary files.
func tempPrefix(path string) (dir, prefix string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	return dir, "." + base + tempInfix
}

// Commit makes the written file the target: it syncs the file, checks the
// target again, renames (or, without Overwrite, links) the file into place
// and syncs the directory. On an error before the file is in place the
// temporary file is removed and the target is untouched.
func (f *File) Commit() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return fmt.Errorf("%s: %w", f.path, ErrAborted)
	}
	f.done = true
	tmp := f.Name()
	fail := func(err error) error {
		f.File.Close()
		os.Remove(tmp)
		return err
	}
	if !f.opts.NoSync {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("syncing %s: %w", tmp, err))
		}
	}
	if err := check(f.path, f.opts); err != nil {
		return fail(err)
	}
	// Files are placed by name: the name must still be the file written.
	if !f.holds(tmp) {
		f.File.Close()
		return fmt.Errorf("%s: the temporary file %s was %w; the target is untouched (is the directory writable by others?)", f.path, tmp, ErrReplaced)
	}
	if err := f.place(tmp); err != nil {
		return fail(err)
	}
	if !f.holds(f.path) {
		// Swapped between the check and the move: what is now at the
		// target is not what was written.
		f.File.Close()
		os.Remove(f.path)
		return fmt.Errorf("%s: the temporary file %s was %w, and the target was removed (is the directory writable by others?)", f.path, tmp, ErrReplaced)
	}
	// Closed only now: the lock marks the file as live until it is in place.
	if err := f.File.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", f.path, err)
	}
	if f.opts.NoSync {
		return nil
	}
	d, err := os.Open(filepath.Dir(f.path))
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return fmt.Errorf("%s is written, but syncing its directory failed (a crash could still lose it): %w", f.path, err)
	}
	return nil
}

// holds reports whether name is the file written (by device and inode).
func (f *File) holds(name string) bool {
	mine, err := f.Stat()
	if err != nil {
		return false
	}
	fi, err := os.Lstat(name)
	return err == nil && os.SameFile(mine, fi)
}

// place moves tmp to the target: a rename with Overwrite; otherwise a hard
// link, which fails if the target appeared since check, then the removal
// of tmp (a rename where the file system has no hard links).
func (f *File) place(tmp string) error {
	if !f.opts.Overwrite {
		err := os.Link(tmp, f.path)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s (created while it was written): %w", f.path, ErrExists)
		}
		if err == nil {
			if err := os.Remove(tmp); err != nil {
				return fmt.Errorf("%s is written, but removing %s failed: %w", f.path, tmp, err)
			}
			return nil
		}
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, f.path, err)
	}
	return nil
}

// Abort closes and removes the temporary file; the target is untouched.
// It does nothing after Commit or a first Abort, so it can be deferred.
func (f *File) Abort() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.abortLocked()
}

func (f *File) abortLocked() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}

// AbortOnSignal aborts f when one of sigs (typically os.Interrupt and
// syscall.SIGTERM) arrives before stop is called, then lets the signal end
// the process as it would have without the handler. Signals the process
// ignores (a background job's SIGINT) stay ignored. Call stop once f is
// committed or aborted. This is for a command-line tool, where a signal
// ends the process; a server cancels its requests' contexts instead.
func (f *File) AbortOnSignal(sigs ...os.Signal) (stop func()) {
	var watch []os.Signal
	for _, s := range sigs {
		if !signal.Ignored(s) {
			watch = append(watch, s)
		}
	}
	if len(watch) == 0 {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, watch...)
	quit := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			// The lock stays held: a Commit or Abort racing with the
			// signal waits for the end of the process instead of
			// reporting the file closed under it.
			f.mu.Lock()
			f.abortLocked()
			signal.Reset(s)
			if p, err := os.FindProcess(os.Getpid()); err == nil && p.Signal(s) == nil {
				return // the default action ends the process
			}
			os.Exit(1) // where the signal cannot be raised again
		case <-quit:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(quit)
		})
	}
}

// Stale returns the temporary files of target path (see the package
// documentation) that no live process holds: each one is what remains of
// a write that was killed, not an output. It does not remove them.
func Stale(path string) ([]string, error) {
	dir, prefix := tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if held(name) {
			continue
		}
		out = append(out, name)
	}
	return out, nil
}
