package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/fxamacker/cbor/v2"
)

// A stored WebAuthn assertion is checked here with the standard library
// alone, independently of the WebAuthn library that accepted it when the
// seal was approved: the COSE_Key the trail registered, the authenticator
// data, the client data and the signature over authenticatorData ||
// SHA-256(clientDataJSON) (WebAuthn Level 3, section 7.2).

// COSE algorithms a passkey may use ([COSEAlgorithms]).
const (
	COSEES256 = -7   // ECDSA P-256 with SHA-256
	COSEEdDSA = -8   // Ed25519
	COSEES384 = -35  // ECDSA P-384 with SHA-384
	COSEES512 = -36  // ECDSA P-521 with SHA-512
	COSERS256 = -257 // RSASSA-PKCS1-v1_5 with SHA-256
)

// COSEAlgorithms are the signature algorithms a passkey may use, in order
// of preference: those [ParseCOSEKey] can check.
var COSEAlgorithms = []int64{COSEES256, COSEEdDSA, COSEES384, COSEES512, COSERS256}

// Authenticator data flags (WebAuthn section 6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagBE = 0x08 // backup eligible
	flagBS = 0x10 // backed up
	flagAT = 0x40 // attested credential data included
	flagED = 0x80 // extension data included
)

// COSEKey is a credential public key parsed from its COSE_Key.
type COSEKey struct {
	Alg int64
	Key crypto.PublicKey // *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
}

// coseLabels are the COSE_Key members, by label (RFC 9052, RFC 9053).
type coseLabels map[int]cbor.RawMessage

// coseDecoder reads COSE keys strictly: no duplicate labels, no
// indefinite lengths, small maps only.
var coseDecoder = func() cbor.DecMode {
	dm, err := cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, MaxMapPairs: 16, MaxNestedLevels: 4,
		IndefLength: cbor.IndefLengthForbidden}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// ParseCOSEKey parses a COSE_Key of one of [COSEAlgorithms], strictly: one
// CBOR map, no duplicate labels, nothing after it, a point on the curve.
func ParseCOSEKey(b []byte) (COSEKey, error) {
	bad := func(format string, args ...any) (COSEKey, error) {
		return COSEKey{}, fmt.Errorf("%w: COSE key: %s", ErrInvalidEntry, fmt.Sprintf(format, args...))
	}
	var m coseLabels
	rest, err := coseDecoder.UnmarshalFirst(b, &m)
	if err != nil || len(rest) != 0 {
		return bad("not one CBOR map")
	}
	var kty, alg int64
	if coseDecoder.Unmarshal(m[1], &kty) != nil || coseDecoder.Unmarshal(m[3], &alg) != nil {
		return bad("no key type or algorithm")
	}
	bytesAt := func(label int) []byte {
		var v []byte
		if coseDecoder.Unmarshal(m[label], &v) != nil {
			return nil
		}
		return v
	}
	var crv int64
	switch kty {
	case 2: // EC2: crv -1, x -2, y -3
		want := map[int64]struct {
			curve elliptic.Curve
			crv   int64
		}{COSEES256: {elliptic.P256(), 1}, COSEES384: {elliptic.P384(), 2}, COSEES512: {elliptic.P521(), 3}}[alg]
		if want.curve == nil || coseDecoder.Unmarshal(m[-1], &crv) != nil || crv != want.crv {
			return bad("EC2 key with algorithm %d and curve %d", alg, crv)
		}
		size := (want.curve.Params().BitSize + 7) / 8
		x, y := bytesAt(-2), bytesAt(-3)
		if len(x) != size || len(y) != size {
			return bad("EC2 coordinates are not %d bytes", size)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(want.curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return bad("EC2 point: %v", err)
		}
		return COSEKey{Alg: alg, Key: pub}, nil
	case 1: // OKP: crv -1, x -2
		x := bytesAt(-2)
		if alg != COSEEdDSA || coseDecoder.Unmarshal(m[-1], &crv) != nil || crv != 6 || len(x) != ed25519.PublicKeySize {
			return bad("OKP key is not Ed25519")
		}
		return COSEKey{Alg: alg, Key: ed25519.PublicKey(x)}, nil
	case 3: // RSA: n -1, e -2
		n, e := bytesAt(-1), bytesAt(-2)
		if alg != COSERS256 || len(n) < 256 || len(n) > 1024 || len(e) == 0 || len(e) > 4 {
			return bad("RSA key with algorithm %d, %d-byte modulus", alg, len(n))
		}
		exp := new(big.Int).SetBytes(e)
		if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64()%2 == 0 {
			return bad("RSA exponent")
		}
		return COSEKey{Alg: alg, Key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}}, nil
	}
	return bad("key type %d", kty)
}

// Verify checks sig over msg with the key's algorithm.
func (k COSEKey) Verify(msg, sig []byte) bool {
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		var h []byte
		switch k.Alg {
		case COSEES256:
			s := sha256.Sum256(msg)
			h = s[:]
		case COSEES384:
			s := sha512.Sum384(msg)
			h = s[:]
		case COSEES512:
			s := sha512.Sum512(msg)
			h = s[:]
		}
		return h != nil && ecdsa.VerifyASN1(pub, h, sig)
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *rsa.PublicKey:
		h := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
	}
	return false
}

// Assertion is a WebAuthn assertion as a seal entry stores it.
type Assertion struct {
	CredentialID      []byte
	AuthenticatorData []byte
	ClientDataJSON    []byte
	Signature         []byte
}

// AssertionResult is what a verified assertion says.
type AssertionResult struct {
	SignCount      uint32
	BackupEligible bool
	BackupState    bool
	Origin         string
}

// VerifyAssertion checks a stored assertion under key: the client data is
// a webauthn.get whose challenge is challenge, the authenticator data
// names rpID and says the user was present and verified, and the
// signature over authenticatorData || SHA-256(clientDataJSON) verifies.
func VerifyAssertion(key COSEKey, rpID string, a Assertion, challenge []byte) (AssertionResult, error) {
	bad := func(format string, args ...any) (AssertionResult, error) {
		return AssertionResult{}, fmt.Errorf("%w: passkey assertion: %s", ErrInvalidEntry, fmt.Sprintf(format, args...))
	}
	var cd struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
		Origin    string `json:"origin"`
	}
	if err := json.Unmarshal(a.ClientDataJSON, &cd); err != nil {
		return bad("the client data is not JSON")
	}
	if cd.Type != "webauthn.get" {
		return bad("the client data is of type %.32q, not webauthn.get", cd.Type)
	}
	got, err := base64.RawURLEncoding.DecodeString(cd.Challenge)
	if err != nil || !bytes.Equal(got, challenge) {
		return bad("the challenge the authenticator signed is not this seal's intent digest")
	}
	if cd.Origin == "" {
		return bad("the client data names no origin")
	}
	ad := a.AuthenticatorData
	if len(ad) < 37 {
		return bad("authenticator data of %d bytes", len(ad))
	}
	rp := sha256.Sum256([]byte(rpID))
	flags := ad[32]
	switch {
	case !bytes.Equal(ad[:32], rp[:]):
		return bad("the authenticator data is for another relying party than %.64q", rpID)
	case flags&flagUP == 0 || flags&flagUV == 0:
		return bad("the authenticator did not verify the user (flags %#02x)", flags)
	case flags&flagAT != 0 || (flags&flagED == 0 && len(ad) != 37):
		return bad("unexpected data after the counter (flags %#02x)", flags)
	case flags&flagBE == 0 && flags&flagBS != 0:
		return bad("backed up but not backup eligible")
	}
	cdh := sha256.Sum256(a.ClientDataJSON)
	if !key.Verify(append(bytes.Clone(ad), cdh[:]...), a.Signature) {
		return bad("the signature does not verify under the registered public key")
	}
	return AssertionResult{SignCount: binary.BigEndian.Uint32(ad[33:37]), BackupEligible: flags&flagBE != 0,
		BackupState: flags&flagBS != 0, Origin: cd.Origin}, nil
}
