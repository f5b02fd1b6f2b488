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
// Files are replaced atomically (a temporary file in the same directory,
// renamed over the old one) but not fsynced: an fsync per append would
// cost more than the append itself. A process killed at any point leaves
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

// replace writes data to path atomically (see Dir's crash consistency).
func replace(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("translog: writing %s: %w", path, err)
	}
	return nil
}
