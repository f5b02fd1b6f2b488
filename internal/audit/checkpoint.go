package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"sealkeep/internal/errs"
)

const (
	checkpointDomain = "sealkeep/audit/checkpoint/v1"
	checkpointHeader = "sealkeep audit checkpoint v1"
	checkpointTime   = "2006-01-02T15:04:05.000000Z"
	// MaxCheckpointSize caps the text form [ParseCheckpoint] accepts.
	MaxCheckpointSize = 1024
)

// Checkpoint errors.
var (
	// ErrCheckpointFormat reports a malformed checkpoint.
	ErrCheckpointFormat = errs.New(errs.Invalid, "audit: malformed checkpoint")
	// ErrCheckpointSignature reports a checkpoint that does not verify
	// under the given key.
	ErrCheckpointSignature = errs.New(errs.Verification, "audit: checkpoint signature does not verify")
)

// Checkpoint is a signed statement that entry Seq of Chain had hash Head at
// Time. Kept outside the database, it lets [VerifyAgainstCheckpoint] detect
// a cut-off tail or a history rewritten consistently, which a bare hash
// chain cannot.
//
// The Ed25519 signature covers a domain-separated encoding: the tag
// "sealkeep/audit/checkpoint/v1", Chain, Seq, Head, Time as UTC unix
// microseconds and KeyID, strings length-prefixed as in [Entry.Canonical].
type Checkpoint struct {
	Chain     string    `json:"chain"`
	Seq       uint64    `json:"seq"`
	Head      Hash      `json:"head"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"` // [KeyID] of the signing key
	Signature []byte    `json:"signature"`
}

// KeyID names an Ed25519 public key: the first 8 bytes of its SHA-256, as 16
// lowercase hex digits.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignCheckpoint signs head (the current last entry of its chain) at time
// now, truncated to microseconds, UTC. It refuses a head whose stored hash is
// not its recomputed hash.
func SignCheckpoint(priv ed25519.PrivateKey, head Entry, now time.Time) (Checkpoint, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Checkpoint{}, errors.New("audit: checkpoint key is not an Ed25519 private key")
	}
	if head.ComputeHash() != head.Hash {
		return Checkpoint{}, fmt.Errorf("audit: refusing to sign a checkpoint: entry %d of chain %.64q does not match its hash", head.Seq, head.Chain)
	}
	c := Checkpoint{
		Chain: head.Chain,
		Seq:   head.Seq,
		Head:  head.Hash,
		Time:  now.UTC().Truncate(time.Microsecond),
		KeyID: KeyID(priv.Public().(ed25519.PublicKey)),
	}
	if err := c.check(false); err != nil {
		return Checkpoint{}, err
	}
	c.Signature = ed25519.Sign(priv, c.message())
	return c, nil
}

// Verify checks c's form and its signature under pub.
func (c Checkpoint) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: not an Ed25519 public key", ErrCheckpointSignature)
	}
	if err := c.check(true); err != nil {
		return err
	}
	if id := KeyID(pub); c.KeyID != id {
		return fmt.Errorf("%w: signed by key %s, not %s", ErrCheckpointSignature, c.KeyID, id)
	}
	if !ed25519.Verify(pub, c.message(), c.Signature) {
		return fmt.Errorf("%w: chain %.64q seq %d", ErrCheckpointSignature, c.Chain, c.Seq)
	}
	return nil
}

func (c Checkpoint) message() []byte {
	b := make([]byte, 0, 128+len(c.Chain))
	b = appendString(b, checkpointDomain)
	b = appendString(b, c.Chain)
	b = binary.BigEndian.AppendUint64(b, c.Seq)
	b = append(b, c.Head[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixMicro()))
	return appendString(b, c.KeyID)
}

// check validates every field; signed requires a signature of the right
// length.
func (c Checkpoint) check(signed bool) error {
	if err := checkChainName(c.Chain); err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpointFormat, err)
	}
	if c.Seq == 0 {
		return fmt.Errorf("%w: seq 0", ErrCheckpointFormat)
	}
	if y := c.Time.Year(); y < 1 || y > 9999 || c.Time.Nanosecond()%1000 != 0 {
		return fmt.Errorf("%w: time must be in years 1 to 9999, in whole microseconds", ErrCheckpointFormat)
	}
	if len(c.KeyID) != 16 || !isLowerHex(c.KeyID) {
		return fmt.Errorf("%w: key id must be 16 lowercase hex digits", ErrCheckpointFormat)
	}
	if signed && len(c.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature must be %d bytes", ErrCheckpointFormat, ed25519.SignatureSize)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkpointFields are the lines after the header, in order.
var checkpointFields = [...]string{"chain", "seq", "head", "time", "key", "signature"}

// MarshalCheckpoint returns the text form of a signed checkpoint:
//
//	sealkeep audit checkpoint v1
//	chain <chain name>
//	seq <decimal>
//	head <64 lowercase hex digits>
//	time <YYYY-MM-DDThh:mm:ss.ffffffZ>
//	key <key id>
//	signature <standard base64>
//
// each line ending in a single "\n".
func MarshalCheckpoint(c Checkpoint) ([]byte, error) {
	if err := c.check(true); err != nil {
		return nil, err
	}
	values := [len(checkpointFields)]string{
		c.Chain,
		strconv.FormatUint(c.Seq, 10),
		c.Head.String(),
		c.Time.UTC().Format(checkpointTime),
		c.KeyID,
		base64.StdEncoding.EncodeToString(c.Signature),
	}
	b := make([]byte, 0, 256+len(c.Chain))
	b = append(b, checkpointHeader+"\n"...)
	for i, name := range checkpointFields {
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, values[i]...)
		b = append(b, '\n')
	}
	return b, nil
}

// ParseCheckpoint reads the text form written by [MarshalCheckpoint]. It is
// strict: exactly that layout, at most [MaxCheckpointSize] bytes, and only
// the one encoding MarshalCheckpoint would produce. It does not verify the
// signature; call [Checkpoint.Verify].
func ParseCheckpoint(b []byte) (Checkpoint, error) {
	if len(b) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: larger than %d bytes", ErrCheckpointFormat, MaxCheckpointSize)
	}
	rest, ok := bytes.CutPrefix(b, []byte(checkpointHeader+"\n"))
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: missing header line %q", ErrCheckpointFormat, checkpointHeader)
	}
	var values [len(checkpointFields)]string
	for i, name := range checkpointFields {
		line, after, ok := bytes.Cut(rest, []byte{'\n'})
		if !ok {
			return Checkpoint{}, fmt.Errorf("%w: missing line %q", ErrCheckpointFormat, name)
		}
		v, ok := bytes.CutPrefix(line, []byte(name+" "))
		if !ok {
			return Checkpoint{}, fmt.Errorf("%w: line %d must start with %q", ErrCheckpointFormat, i+2, name+" ")
		}
		values[i], rest = string(v), after
	}
	if len(rest) != 0 {
		return Checkpoint{}, fmt.Errorf("%w: data after the signature line", ErrCheckpointFormat)
	}
	c := Checkpoint{Chain: values[0], KeyID: values[4]}
	var err error
	if c.Seq, err = strconv.ParseUint(values[1], 10, 64); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: bad seq", ErrCheckpointFormat)
	}
	if err := c.Head.UnmarshalText([]byte(values[2])); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: bad head: %w", ErrCheckpointFormat, err)
	}
	if c.Time, err = time.Parse(checkpointTime, values[3]); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: bad time, want %s", ErrCheckpointFormat, checkpointTime)
	}
	if c.Signature, err = base64.StdEncoding.Strict().DecodeString(values[5]); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: bad signature encoding", ErrCheckpointFormat)
	}
	again, err := MarshalCheckpoint(c)
	if err != nil {
		return Checkpoint{}, err
	}
	if !bytes.Equal(again, b) {
		return Checkpoint{}, fmt.Errorf("%w: not in canonical form", ErrCheckpointFormat)
	}
	return c, nil
}

// Expect makes v also check cp, after verifying cp's signature under pub:
// the entry at cp.Seq must have hash cp.Head (else [ProblemRewritten]) and
// the chain must reach cp.Seq (else [ProblemTruncated]). Call it before the
// first [Verifier.Add].
func (v *Verifier) Expect(cp Checkpoint, pub ed25519.PublicKey) error {
	if err := cp.Verify(pub); err != nil {
		return err
	}
	if v.chain == "" {
		v.chain = cp.Chain
	}
	if cp.Chain != v.chain {
		return fmt.Errorf("%w: checkpoint is for chain %.64q, not %.64q", ErrCheckpointFormat, cp.Chain, v.chain)
	}
	v.cp = &cp
	return nil
}

// VerifyAgainstCheckpoint verifies a chain as [Verify] does and also
// against cp, whose signature must verify under pub: a chain that ends
// before cp.Seq was truncated; an entry cp.Seq whose hash is not cp.Head
// means the history up to it was rewritten. A checkpoint that does not
// verify is reported in [Report.Err].
func VerifyAgainstCheckpoint(entries iter.Seq2[Entry, error], cp Checkpoint, pub ed25519.PublicKey) Report {
	v := NewVerifier(cp.Chain)
	if err := v.Expect(cp, pub); err != nil {
		return Report{Chain: cp.Chain, Err: err}
	}
	return v.run(entries)
}
