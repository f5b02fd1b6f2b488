package translog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is a checkpoint directory. It must live on storage apart from the
// database (another disk, host or account), so that whoever can rewrite
// the database cannot also rewrite the checkpoints. Layout:
//
//	DIR/<chain>/checkpoint            newest signed checkpoint of the chain
//	DIR/<chain>/cosigned-<witness>    newest checkpoint that witness cosigned
//	                                  (the note with its cosignature line)
//
// where <chain> and <witness> are the names percent-encoded as in
// [Origin] (a name longer than 200 bytes encoded becomes "h-" and the hex
// SHA-256 of the name).
//
// # Crash consistency
//
// Files are replaced atomically (written into a spare file in the same
// directory, which is then exchanged with the old one in one rename; see
// replace) but not fsynced: an fsync per append would cost more than the
// append itself. A process killed at any point leaves
// the old file or the new one. After an operating-system crash or power
// loss, the newest checkpoints may be older than the database (harmless:
// the tree is consistent with an older checkpoint, and the next append
// writes a new one) or, on a file system that does not order the rename
// after the data, empty or truncated: audit verify then fails naming the
// file, which the operator checks and moves away. The database commit
// always comes first, so a checkpoint never covers entries the database
// did not commit.
type Dir string

// dirMode is the mode of the directories Dir creates.
const dirMode = 0o700

func fileName(name string) string {
	e := escape(name)
	if len(e) > 200 || e == "." || e == ".." {
		sum := sha256.Sum256([]byte(name))
		return "h-" + hex.EncodeToString(sum[:])
	}
	return e
}

func (d Dir) chainDir(chain string) string { return filepath.Join(string(d), fileName(chain)) }

// CheckpointPath is the file holding chain's newest checkpoint.
func (d Dir) CheckpointPath(chain string) string {
	return filepath.Join(d.chainDir(chain), "checkpoint")
}

// CosignedPath is the file holding the newest checkpoint of chain that
// witness cosigned.
func (d Dir) CosignedPath(chain, witness string) string {
	return filepath.Join(d.chainDir(chain), "cosigned-"+fileName(witness))
}

// Latest returns chain's newest checkpoint note, or nil (and no error)
// when there is none.
func (d Dir) Latest(chain string) ([]byte, error) {
	return readNote(d.CheckpointPath(chain))
}

func readNote(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxNoteSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxNoteSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrFormat, path, MaxNoteSize)
	}
	return b, nil
}

// replace writes data to path atomically unless skip (if not nil) says
// that the note there is newer; it reports whether it wrote. Writers of
// one directory, in any process, take turns on an exclusive lock of
// DIR/<chain>/.lock. The data goes into a spare file beside path
// (".<name>.spare"), which is then exchanged with path in one atomic
// rename (renameat2 RENAME_EXCHANGE on Linux): no new inode per write and
// no rename over a file, which on ext4 costs a data flush (about 1 ms,
// more than the append it follows).
func replace(path string, data []byte, skip func(cur []byte) bool) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return false, err
	}
	unlock, err := lockDir(filepath.Join(dir, ".lock"))
	if err != nil {
		return false, fmt.Errorf("translog: locking %s: %w", dir, err)
	}
	defer unlock()
	if skip != nil {
		if cur, err := readNote(path); err == nil && cur != nil && skip(cur) {
			return false, nil
		}
	}
	spare := filepath.Join(dir, "."+filepath.Base(path)+".spare")
	f, err := os.OpenFile(spare, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("translog: writing %s: %w", path, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = exchange(spare, path)
	}
	if err != nil {
		return false, fmt.Errorf("translog: writing %s: %w", path, err)
	}
	return true, nil
}
