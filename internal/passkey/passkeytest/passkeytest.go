// Package passkeytest is a software WebAuthn authenticator and client for
// tests: it answers the options a relying party sends for
// navigator.credentials.create() and navigator.credentials.get() with the
// JSON a browser would post back (RegistrationResponseJSON and
// AuthenticationResponseJSON, WebAuthn Level 3 section 5.1), from keys it
// holds in memory. It is written from the specification with the
// standard library (and a CBOR encoder), not with the WebAuthn library
// the server uses, so that the two check each other. Never use it outside
// tests: its keys are in memory and it verifies no user.
package passkeytest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// COSE algorithms the authenticator makes keys for.
const (
	ES256 = -7
	EdDSA = -8
)

// Authenticator flags (WebAuthn section 6.1).
const (
	FlagUP = 0x01
	FlagUV = 0x04
	FlagBE = 0x08
	FlagBS = 0x10
	FlagAT = 0x40
)

var b64 = base64.RawURLEncoding

// Authenticator is one software authenticator on one origin. Its fields
// may be changed between ceremonies to misbehave on purpose.
type Authenticator struct {
	// Origin is what the client data says the page was ("https://...").
	Origin string
	// AAGUID names the model; Format is the attestation it produces:
	// "none" or "packed" (self attestation). Alg is the key algorithm
	// (ES256 unless EdDSA).
	AAGUID [16]byte
	Format string
	Alg    int
	// BackupEligible and BackedUp set the BE and BS flags; NoUV leaves
	// the UV flag clear (a user not verified).
	BackupEligible, BackedUp, NoUV bool
	// CounterStep is how much the signature counter grows per assertion
	// (1 unless set; 0 keeps it at 0, as synced passkeys do).
	CounterStep *uint32

	mu    sync.Mutex
	creds []*Credential
}

// Credential is a key the authenticator made.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Counter    uint32
	// PublicKey is the credential public key as a COSE_Key.
	PublicKey []byte
	signer    crypto.Signer
	alg       int
}

// New returns an authenticator on origin with a random AAGUID, making
// ES256 keys with "none" attestation.
func New(origin string) *Authenticator {
	a := &Authenticator{Origin: origin, Format: "none", Alg: ES256}
	_, _ = rand.Read(a.AAGUID[:])
	return a
}

// Credentials returns the credentials it holds.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.creds)
}

// Clone returns another authenticator holding copies of the same keys and
// counters: a cloned authenticator.
func (a *Authenticator) Clone() *Authenticator {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := &Authenticator{Origin: a.Origin, AAGUID: a.AAGUID, Format: a.Format, Alg: a.Alg,
		BackupEligible: a.BackupEligible, BackedUp: a.BackedUp, NoUV: a.NoUV, CounterStep: a.CounterStep}
	for _, cr := range a.creds {
		cp := *cr
		c.creds = append(c.creds, &cp)
	}
	return c
}

// creationOptions is the part of PublicKeyCredentialCreationOptionsJSON
// it reads.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Params []struct {
			Type string `json:"type"`
			Alg  int    `json:"alg"`
		} `json:"pubKeyCredParams"`
		Exclude []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		Attestation string `json:"attestation"`
	} `json:"publicKey"`
}

// requestOptions is the part of PublicKeyCredentialRequestOptionsJSON it
// reads.
type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		Allow     []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// clientData is the CollectedClientData the client makes (section 5.8.1).
func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, a.Origin, false})
	return b
}

// flags are the authenticator data flags of a ceremony.
func (a *Authenticator) flags() byte {
	f := byte(FlagUP)
	if !a.NoUV {
		f |= FlagUV
	}
	if a.BackupEligible {
		f |= FlagBE
	}
	if a.BackedUp {
		f |= FlagBS
	}
	return f
}

// Create makes a credential for the creation options the relying party
// sent (JSON, {"publicKey": {...}}) and returns the
// RegistrationResponseJSON the client would post.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	p := o.PublicKey
	if p.RP.ID == "" || p.Challenge == "" || p.User.ID == "" {
		return nil, errors.New("creation options without rp.id, challenge or user.id")
	}
	if !slices.ContainsFunc(p.Params, func(x struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	}) bool {
		return x.Type == "public-key" && x.Alg == a.Alg
	}) {
		return nil, fmt.Errorf("the relying party does not accept algorithm %d", a.Alg)
	}
	handle, err := b64.DecodeString(p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("user.id: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range p.Exclude {
		for _, c := range a.creds {
			if b64.EncodeToString(c.ID) == ex.ID {
				return nil, errors.New("InvalidStateError: the authenticator already holds an excluded credential")
			}
		}
	}
	c := &Credential{ID: make([]byte, 32), RPID: p.RP.ID, UserHandle: handle, alg: a.Alg}
	_, _ = rand.Read(c.ID)
	var cose []byte
	switch a.Alg {
	case EdDSA:
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		c.signer = priv
		cose, _ = cbor.Marshal(map[int]any{1: 1, 3: EdDSA, -1: 6, -2: []byte(pub)})
	default:
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c.signer = k
		raw, _ := k.PublicKey.Bytes() // 0x04 || X || Y
		cose, _ = cbor.Marshal(map[int]any{1: 2, 3: ES256, -1: 1, -2: raw[1:33], -3: raw[33:]})
	}
	cdj := a.clientData("webauthn.create", p.Challenge)
	rp := sha256.Sum256([]byte(p.RP.ID))
	ad := append(rp[:], a.flags()|FlagAT)
	ad = binary.BigEndian.AppendUint32(ad, c.Counter)
	ad = append(ad, a.AAGUID[:]...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(c.ID)))
	ad = append(ad, c.ID...)
	ad = append(ad, cose...)
	att := map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad}
	if a.Format == "packed" && p.Attestation != "none" && p.Attestation != "" {
		cdh := sha256.Sum256(cdj)
		sig, err := sign(c, append(bytes.Clone(ad), cdh[:]...))
		if err != nil {
			return nil, err
		}
		att = map[string]any{"fmt": "packed", "attStmt": map[string]any{"alg": a.Alg, "sig": sig}, "authData": ad}
	}
	ao, err := cbor.Marshal(att)
	if err != nil {
		return nil, err
	}
	c.PublicKey = cose
	a.creds = append(a.creds, c)
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "cross-platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cdj), "attestationObject": b64.EncodeToString(ao),
			"transports": []string{"usb"},
		},
	})
}

// Get signs the request options the relying party sent (JSON,
// {"publicKey": {...}}) with the first credential it holds for the rp ID
// that the options allow, and returns the AuthenticationResponseJSON the
// client would post.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	p := o.PublicKey
	a.mu.Lock()
	var c *Credential
	for _, cr := range a.creds {
		allowed := len(p.Allow) == 0
		for _, al := range p.Allow {
			allowed = allowed || al.ID == b64.EncodeToString(cr.ID)
		}
		if cr.RPID == p.RPID && allowed {
			c = cr
			break
		}
	}
	a.mu.Unlock()
	if c == nil {
		return nil, errors.New("NotAllowedError: no credential for this relying party")
	}
	return a.Assert(c, p.RPID, p.Challenge)
}

// Assert signs challenge (base64url, as the options carry it) with c for
// rpID, whatever the relying party allowed: the assertion an attacker
// holding the authenticator could make.
func (a *Authenticator) Assert(c *Credential, rpID, challenge string) ([]byte, error) {
	a.mu.Lock()
	step := uint32(1)
	if a.CounterStep != nil {
		step = *a.CounterStep
	}
	c.Counter += step
	count := c.Counter
	a.mu.Unlock()
	cdj := a.clientData("webauthn.get", challenge)
	rp := sha256.Sum256([]byte(rpID))
	ad := append(rp[:], a.flags())
	ad = binary.BigEndian.AppendUint32(ad, count)
	cdh := sha256.Sum256(cdj)
	sig, err := sign(c, append(bytes.Clone(ad), cdh[:]...))
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "cross-platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cdj), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(c.UserHandle),
		},
	})
}

// sign signs msg with the credential's key as WebAuthn does: ECDSA over
// SHA-256 (ASN.1 DER), Ed25519 over the message itself.
func sign(c *Credential, msg []byte) ([]byte, error) {
	if c.alg == EdDSA {
		return c.signer.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	h := sha256.Sum256(msg)
	return c.signer.Sign(rand.Reader, h[:], crypto.SHA256)
}

// Challenge returns the challenge of request options (base64url decoded).
func Challenge(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	return b64.DecodeString(o.PublicKey.Challenge)
}
