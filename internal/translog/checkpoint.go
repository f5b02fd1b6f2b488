// Package translog publishes sealkeep's audit chains as transparency logs:
// each chain's RFC 6962 Merkle tree ([audit.Tree], kept by the store) gets
// signed checkpoints, written automatically after every transaction that
// appends to it, optionally cosigned by witnesses, and inclusion proofs
// that a third party checks without the database.
//
// # Checkpoints
//
// A checkpoint is a C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint) signed
// as a C2SP signed note (c2sp.org/signed-note, golang.org/x/mod/sumdb/note)
// with the data directory's Ed25519 checkpoint key:
//
//	sealkeep/3f2a9c01d4e5b6a7/org-1
//	42
//	qFpT0Zr1Hh0w4yqv7cQeJ3w8O2Hk0n6q9B8mXo1c5aE=
//
//	— sealkeep/3f2a9c01d4e5b6a7/org-1 Az3gr...
//
// The origin line ([Origin]) is "sealkeep/", the checkpoint key's
// [audit.KeyID], "/" and the chain name with every byte outside
// [A-Za-z0-9._~-] percent-encoded, so it has no spaces or "+" and is
// unique per data directory; the note key name is the origin (what
// witnesses such as litewitness require), so each chain has its own note
// verifier key ([VerifierKey]) over the one Ed25519 key. The second line is
// the tree size (the chain's number of entries), the third the standard
// base64 of the tree's root hash. No extension lines are written or
// accepted.
//
// # Where they go
//
// [Dir] keeps, per chain, the newest checkpoint and, per witness, the
// newest checkpoint that witness cosigned. [Publisher] wraps a store:
// after each committed transaction that appended to a chain it signs and
// writes that chain's checkpoint and sends it to the configured witnesses
// (c2sp.org/tlog-witness add-checkpoint, [Witness]).
//
// # Proofs
//
// [Prove] builds an [InclusionProof] of one entry against a checkpoint;
// [InclusionProof.Verify] checks it with nothing but the checkpoint's note
// verifier key. See the README for the JSON format.
package translog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"sealkeep/internal/errs"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
)

// MaxNoteSize caps a checkpoint note (with cosignatures) that sealkeep
// reads.
const MaxNoteSize = 16 << 10

// Errors.
var (
	// ErrFormat reports a malformed checkpoint, note or proof.
	ErrFormat = errs.New(errs.Invalid, "translog: malformed")
	// ErrSignature reports a checkpoint whose signature does not verify
	// under the expected key, or that names another log.
	ErrSignature = errs.New(errs.Verification, "translog: checkpoint signature does not verify")
	// ErrProof reports an inclusion or consistency proof that does not
	// verify.
	ErrProof = errs.New(errs.Verification, "translog: proof does not verify")
	// ErrNotCovered reports an entry that the checkpoint does not cover
	// (its seq is past the checkpoint's tree size).
	ErrNotCovered = errs.New(errs.NotFound, "translog: the checkpoint does not cover the entry")
)

// Checkpoint is a signed tree head of one chain's Merkle tree.
type Checkpoint struct {
	Origin string
	tlog.Tree
}

// Origin returns the checkpoint origin, and note key name, of chain for the
// checkpoint key with [audit.KeyID] keyID.
func Origin(keyID, chain string) string {
	return "sealkeep/" + keyID + "/" + escape(chain)
}

// escape percent-encodes every byte of s outside [A-Za-z0-9._~-].
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Text returns the checkpoint body: origin, size and base64 root hash, one
// per line.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.N, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Hash[:]) + "\n"
}

// ParseCheckpoint reads a checkpoint body as [Checkpoint.Text] writes it,
// strictly: three lines, a size in canonical decimal, a 32-byte hash in
// canonical standard base64, no extension lines.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" || lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("%w checkpoint: want origin, size and root hash lines", ErrFormat)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w checkpoint: bad tree size", ErrFormat)
	}
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return Checkpoint{}, fmt.Errorf("%w checkpoint: bad root hash", ErrFormat)
	}
	return Checkpoint{Origin: lines[0], Tree: tlog.Tree{N: n, Hash: tlog.Hash(h)}}, nil
}

// Sign returns the signed note of the checkpoint of chain's tree head,
// signed by key.
func Sign(key audit.CheckpointKey, chain string, head tlog.Tree) ([]byte, error) {
	if head.N < 1 {
		return nil, fmt.Errorf("translog: no checkpoint of an empty chain")
	}
	origin := Origin(key.KeyID(), chain)
	s, err := key.NoteSigner(origin)
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: Checkpoint{Origin: origin, Tree: head}.Text()}, s)
}

// VerifierKey returns the note verifier key ("origin+keyhash+base64") of
// chain's checkpoints signed by the checkpoint key pub: what a witness or a
// third party checking proofs is given.
func VerifierKey(pub ed25519.PublicKey, chain string) (string, error) {
	return note.NewEd25519VerifierKey(Origin(audit.KeyID(pub), chain), pub)
}

// Open verifies a signed checkpoint note under vkey (a note verifier key
// from [VerifierKey]) and returns the checkpoint. The origin must be the
// key's name. Other signatures (a witness's cosignature) are allowed and
// ignored.
func Open(msg []byte, vkey string) (Checkpoint, error) {
	if len(msg) > MaxNoteSize {
		return Checkpoint{}, fmt.Errorf("%w checkpoint: larger than %d bytes", ErrFormat, MaxNoteSize)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w verifier key: %v", ErrFormat, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return Checkpoint{}, fmt.Errorf("%w: not signed by %s", ErrSignature, v.Name())
		}
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: the checkpoint's origin %q is not the key's name %q", ErrSignature, c.Origin, v.Name())
	}
	return c, nil
}

// OpenChain is [Open] with the verifier key of chain under pub.
func OpenChain(msg []byte, pub ed25519.PublicKey, chain string) (Checkpoint, error) {
	vkey, err := VerifierKey(pub, chain)
	if err != nil {
		return Checkpoint{}, err
	}
	return Open(msg, vkey)
}

// peekSize returns the tree size of a checkpoint note without verifying it,
// or -1.
func peekSize(msg []byte) int64 {
	text, _, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		return -1
	}
	c, err := ParseCheckpoint(string(text) + "\n")
	if err != nil {
		return -1
	}
	return c.N
}
