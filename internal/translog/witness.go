package translog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"sealkeep/internal/errs"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// algCosignatureV1 is the signed-note key type of c2sp.org/tlog-cosignature
// Ed25519 cosignatures.
const algCosignatureV1 = 0x04

// maxWitnessResponse caps what is read of a witness's answer.
const maxWitnessResponse = 16 << 10

// ErrWitness reports a witness that refused a checkpoint or answered
// something that is not a valid cosignature.
var ErrWitness = errs.New(errs.Unavailable, "translog: witness")

// Witness is a c2sp.org/tlog-witness witness: URL is its submission
// prefix (add-checkpoint is posted to URL + "/add-checkpoint"); Key is its
// cosignature verifier key, "name+keyhash+base64(0x04 || Ed25519 public
// key)" (as litewitness prints it), so that what it returns is checked
// before it is stored.
type Witness struct {
	URL string
	Key string
}

// cosigVerifier verifies c2sp.org/tlog-cosignature/v1 Ed25519
// cosignatures: a signature over "cosignature/v1\ntime T\n" and the
// checkpoint, prefixed by the 8-byte big-endian timestamp T.
type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// parseCosigVerifier reads a cosignature verifier key.
func parseCosigVerifier(vkey string) (cosigVerifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	h, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || len(hash16) != 8 || name == "" ||
		len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return cosigVerifier{}, fmt.Errorf("%w key %.80q: want name+keyhash+base64 of an Ed25519 cosignature/v1 key", ErrWitness, vkey)
	}
	sum := sha256.Sum256(append([]byte(name+"\n"), key...))
	if binary.BigEndian.Uint32(sum[:]) != uint32(h) {
		return cosigVerifier{}, fmt.Errorf("%w key %.80q: key hash does not match", ErrWitness, vkey)
	}
	return cosigVerifier{name: name, hash: uint32(h), pub: ed25519.PublicKey(key[1:])}, nil
}

func (v cosigVerifier) Name() string    { return v.name }
func (v cosigVerifier) KeyHash() uint32 { return v.hash }
func (v cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.pub, m, sig[8:])
}

// Name returns the witness's name from its key ("" if the key is
// malformed).
func (w Witness) Name() string {
	v, err := parseCosigVerifier(w.Key)
	if err != nil {
		return ""
	}
	return v.name
}

// conflictError is a witness's 409 answer: it knows another tree size.
type conflictError struct{ known int64 }

func (e *conflictError) Error() string {
	return fmt.Sprintf("%v: the witness has tree size %d", ErrWitness, e.known)
}

// AddCheckpoint submits a signed checkpoint with a consistency proof from
// oldSize (the size the witness last cosigned; 0 for the first), and
// returns the note with the witness's verified cosignature added. A
// witness that knows another size answers with a *conflictError.
func (w Witness) AddCheckpoint(ctx context.Context, client *http.Client, signed []byte, oldSize int64, proof tlog.TreeProof) ([]byte, error) {
	v, err := parseCosigVerifier(w.Key)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", oldSize)
	for _, h := range proof {
		body.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	body.WriteString("\n")
	body.Write(signed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(w.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrWitness, v.name, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrWitness, v.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessResponse))
	if err != nil {
		return nil, fmt.Errorf("%w %s: reading the answer: %v", ErrWitness, v.name, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		n, err := strconv.ParseInt(strings.TrimSuffix(string(b), "\n"), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w %s: 409 without a tree size", ErrWitness, v.name)
		}
		return nil, &conflictError{known: n}
	default:
		return nil, fmt.Errorf("%w %s refused the checkpoint: %s: %.200q", ErrWitness, v.name, resp.Status, b)
	}
	// The answer is one or more signature lines; keep the note with the
	// one from this witness, after checking it.
	cosigned := append(bytes.Clone(signed), b...)
	n, err := note.Open(cosigned, note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 {
		return nil, fmt.Errorf("%w %s: the answer is not a valid cosignature of the checkpoint", ErrWitness, v.name)
	}
	return cosigned, nil
}
