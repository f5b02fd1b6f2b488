package keyfile

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer/local"
)

// Parse reads a PEM or PKCS #12 key file. passphrase is called at most once,
// and only if the file is encrypted; the bytes it returns are zeroed after
// use. Parse does not apply the key policy: call [Bundle.Validate].
func Parse(data []byte, passphrase func() ([]byte, error)) (*Bundle, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrMalformed)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: the file is larger than %d bytes", ErrMalformed, MaxSize)
	}
	pp := &onceSource{get: passphrase}
	defer pp.wipe()
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return parsePEM(data, pp)
	}
	if data[0] == 0x30 {
		return parsePKCS12(data, pp)
	}
	return nil, fmt.Errorf("%w: neither PEM nor PKCS #12 (.p12/.pfx)", ErrMalformed)
}

// onceSource calls the passphrase callback at most once.
type onceSource struct {
	get    func() ([]byte, error)
	called bool
	value  []byte
	err    error
}

func (o *onceSource) passphrase() ([]byte, error) {
	if !o.called {
		o.called = true
		if o.get == nil {
			o.err = fmt.Errorf("%w: the file is encrypted", ErrNoPassphrase)
		} else {
			o.value, o.err = o.get()
		}
	}
	return o.value, o.err
}

func (o *onceSource) wipe() { clear(o.value) }

// parsePEM reads every PEM block of data. The keys it parsed are wiped if
// the file is refused.
func parsePEM(data []byte, pp *onceSource) (_ *Bundle, err error) {
	var keys []crypto.Signer
	defer func() {
		if err != nil {
			wipeAll(keys)
		}
	}()
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				if perr := keypolicy.ExplainUnparsable(block.Bytes); perr != nil {
					return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, perr)
				}
				return nil, fmt.Errorf("%w: certificate %d does not parse: %v", ErrMalformed, len(certs)+1, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			k, err := parsePEMKey(block, pp)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		case "EC PARAMETERS":
			// openssl ecparam -genkey writes the curve before the key.
		default:
			return nil, fmt.Errorf("%w: PEM block %q is not a certificate or a private key", ErrMalformed, block.Type)
		}
	}
	if len(keys) == 0 && len(certs) == 0 {
		return nil, fmt.Errorf("%w: no PEM certificate or private key found", ErrMalformed)
	}
	return assemble(keys, certs)
}

// wipeAll wipes keys parsed from a file that is being refused.
func wipeAll(keys []crypto.Signer) {
	for _, k := range keys {
		local.Wipe(k)
	}
}

func parsePEMKey(block *pem.Block, pp *onceSource) (crypto.Signer, error) {
	//lint:ignore SA1019 detecting legacy encryption is the point: it is refused
	if x509.IsEncryptedPEMBlock(block) || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, fmt.Errorf("%w: the %s uses legacy PEM encryption (Proc-Type: 4,ENCRYPTED, an MD5-based key derivation); convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc` and import that", ErrLegacyEncryption, strings.ToLower(block.Type))
	}
	der := block.Bytes
	var k any
	var err error
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		der, err = decryptPKCS8(block.Bytes, pp)
		if err != nil {
			return nil, err
		}
		defer clear(der)
		k, err = x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			// A wrong passphrase that happened to leave valid padding.
			if perr := keypolicy.ExplainUnparsable(der); perr != nil {
				return nil, perr
			}
			return nil, fmt.Errorf("%w: the decrypted key does not parse", ErrWrongPassphrase)
		}
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(der)
	}
	if err != nil {
		if perr := keypolicy.ExplainUnparsable(der); perr != nil {
			return nil, fmt.Errorf("private key: %w", perr)
		}
		return nil, fmt.Errorf("%w: the %s does not parse", ErrMalformed, strings.ToLower(block.Type))
	}
	return asSigner(k)
}

// asSigner keeps keys that can sign; whether the policy allows them is
// Validate's business. X25519 and other non-signing keys are refused here.
func asSigner(k any) (crypto.Signer, error) {
	if s, ok := k.(crypto.Signer); ok {
		return s, nil
	}
	return nil, fmt.Errorf("private key: %w: %T keys cannot sign", keypolicy.ErrUnsupportedAlgorithm, k)
}

// assemble picks the leaf whose public key is the key's and orders the
// other certificates into a chain.
func assemble(keys []crypto.Signer, certs []*x509.Certificate) (*Bundle, error) {
	switch {
	case len(keys) == 0:
		return nil, fmt.Errorf("%w: import the private key together with the certificate", ErrNoKey)
	case len(keys) > 1:
		return nil, fmt.Errorf("%w (%d); import one key with its certificate", ErrSeveralKeys, len(keys))
	case len(certs) == 0:
		return nil, fmt.Errorf("%w: import the certificate together with the private key", ErrNoCertificate)
	}
	key := keys[0]
	var leaf *x509.Certificate
	var others []*x509.Certificate
	seen := map[string]bool{}
	for _, c := range certs {
		if seen[string(c.Raw)] {
			continue // the same certificate twice
		}
		seen[string(c.Raw)] = true
		if leaf == nil && keypolicy.PublicKeysEqual(key.Public(), c.PublicKey) {
			leaf = c
			continue
		}
		others = append(others, c)
	}
	if leaf == nil {
		return nil, fmt.Errorf("%w: none of the %d certificate(s) in the file carries the private key's public key", ErrMismatch, len(certs))
	}
	return &Bundle{Key: key, Leaf: leaf, Chain: orderChain(leaf, others)}, nil
}

// orderChain returns certs ordered from leaf's issuer upwards, following
// issuer names and signatures; certificates that link to nothing follow in
// their original order.
func orderChain(leaf *x509.Certificate, certs []*x509.Certificate) []*x509.Certificate {
	left := append([]*x509.Certificate(nil), certs...)
	var chain []*x509.Certificate
	child := leaf
	for len(left) > 0 && !bytes.Equal(child.RawIssuer, child.RawSubject) {
		i := issuerIndex(child, left)
		if i < 0 {
			break
		}
		child = left[i]
		chain = append(chain, child)
		left = append(left[:i], left[i+1:]...)
	}
	return append(chain, left...)
}

func issuerIndex(child *x509.Certificate, candidates []*x509.Certificate) int {
	for i, c := range candidates {
		if bytes.Equal(child.RawIssuer, c.RawSubject) && child.CheckSignatureFrom(c) == nil {
			return i
		}
	}
	return -1
}

// parsePKCS12 decodes a PKCS #12 file, trying the empty password before
// asking for one.
func parsePKCS12(data []byte, pp *onceSource) (*Bundle, error) {
	if err := checkPKCS12Iterations(data, MaxIterations); err != nil {
		return nil, err
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, "")
	if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
		p, perr := pp.passphrase()
		if perr != nil {
			return nil, perr
		}
		// go-pkcs12 takes a string, which cannot be zeroed afterwards.
		key, leaf, cas, err = pkcs12.DecodeChain(data, string(p))
	}
	if err != nil {
		return nil, mapPKCS12Error(err)
	}
	k, err := asSigner(key)
	if err != nil {
		return nil, err
	}
	b, err := assemble([]crypto.Signer{k}, append([]*x509.Certificate{leaf}, cas...))
	if err != nil {
		local.Wipe(k)
		return nil, err
	}
	return b, nil
}

// mapPKCS12Error turns go-pkcs12's errors, which are plain strings, into
// ours. The test suite builds a file for each case, so a change of wording
// in the library shows up as a failing test.
func mapPKCS12Error(err error) error {
	msg := err.Error()
	var notImpl pkcs12.NotImplementedError
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
		return fmt.Errorf("%w for the PKCS #12 file", ErrWrongPassphrase)
	case strings.Contains(msg, "expected exactly one key bag"):
		return fmt.Errorf("%w: the PKCS #12 file holds more than one private key; export one identity per file", ErrSeveralKeys)
	case strings.Contains(msg, "private key missing"):
		return fmt.Errorf("%w: the PKCS #12 file holds only certificates; export it with its private key", ErrNoKey)
	case strings.Contains(msg, "certificate missing"):
		return fmt.Errorf("%w: the PKCS #12 file holds no certificate", ErrNoCertificate)
	case strings.Contains(msg, "elliptic curve"):
		return fmt.Errorf("%w: the PKCS #12 file holds a key or certificate on an elliptic curve outside the policy (such as secp256k1 or explicit parameters); use P-256 or P-384", keypolicy.ErrWeakKey)
	case errors.As(err, &notImpl):
		return fmt.Errorf("%w: the PKCS #12 file uses an unsupported feature (%s)", ErrMalformed, string(notImpl))
	}
	return fmt.Errorf("%w: the PKCS #12 file does not decode: %v", ErrMalformed, err)
}
