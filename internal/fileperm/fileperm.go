// Package fileperm refuses files and directories that other local users
// could read or replace: sealkeep's keys, its database and its config
// file. One rule per kind of file, one error message naming the file and
// the chmod that fixes it:
//
//   - [Private]: a key file (KEK keyring, checkpoint key, PIN file) must
//     not be accessible to group or others at all (mode 0600 or stricter).
//   - [NotWritable]: a file sealkeep trusts but that holds no key (the
//     SQLite database and its -wal and -shm files, config.json) must not
//     be writable by group or others: whoever can write it can rewrite
//     the audit trail or point sealkeep at another database or key.
//   - [Dir], [Dirs]: a directory holding such files (and, for a link, the
//     directory of the file it names) must not be writable by group or
//     others unless it is sticky (as /tmp is): they could replace the
//     files in it.
//
// Every refusal wraps [ErrTooOpen]. The checks look at the mode bits only
// (not ACLs) and follow symbolic links to what they name.
package fileperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrTooOpen is wrapped by every refusal.
var ErrTooOpen = errors.New("file permissions too open")

// permError is a refusal; its text names the file, its mode and the fix,
// without repeating [ErrTooOpen], so that callers can wrap their own
// sentinel around it.
type permError struct{ msg string }

func (e *permError) Error() string { return e.msg }
func (e *permError) Unwrap() error { return ErrTooOpen }

// Private refuses a file of mode perm that group or others may read or
// write.
func Private(path string, perm fs.FileMode) error {
	if perm.Perm()&0o077 == 0 {
		return nil
	}
	return &permError{fmt.Sprintf("%s has mode %04o, open to group or others; run chmod 600 %s", path, perm.Perm(), path)}
}

// NotWritable refuses a file of mode perm that group or others may write.
func NotWritable(path string, perm fs.FileMode) error {
	if perm.Perm()&0o022 == 0 {
		return nil
	}
	return &permError{fmt.Sprintf("%s has mode %04o, writable by group or others; run chmod go-w %s", path, perm.Perm(), path)}
}

// NotWritableFile stats path and applies [NotWritable]. A file that does
// not exist passes (an absent SQLite -wal file, say); other stat errors
// are returned.
func NotWritableFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return NotWritable(path, fi.Mode())
}

// Dirs applies [Dir] to the directory of path and, when path is a symbolic
// link, to the directory of the file it names: whoever may write either
// can replace the file. path must exist.
func Dirs(path, what string) error {
	if err := Dir(filepath.Dir(path), what); err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if td := filepath.Dir(target); td != filepath.Dir(path) {
		return Dir(td, what)
	}
	return nil
}

// Dir refuses directory dir if group or others may write it and it is not
// sticky; what names the files it holds, for the message ("the keyring
// /x/kek.keyring", "the database").
func Dir(dir, what string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 == 0 || fi.Mode()&fs.ModeSticky != 0 {
		return nil
	}
	return &permError{fmt.Sprintf("directory %s of %s has mode %04o: group or others can replace %s; run chmod go-w %s",
		dir, what, fi.Mode().Perm(), what, dir)}
}
