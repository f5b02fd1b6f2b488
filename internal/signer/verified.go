package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/mldsa"
	"crypto/rsa"
	"fmt"
	"io"
)

// Verified wraps s so that every signature it returns has been verified
// against s.Public() first (FAULTS.md 23: a KMS, an HSM or a faulty key must
// never get a bad signature embedded in a document). A signature that does
// not verify is dropped and the call fails with an error wrapping
// [ErrBadSignature].
//
// Supported: RSA PKCS #1 v1.5, RSA-PSS (verified with automatic salt
// length, since KMS services and their emulators use the maximum salt
// length whatever was asked), ECDSA (ASN.1 signatures) and ML-DSA (pure
// message signing, with an optional *mldsa.Options context). Any other key
// or option fails with [ErrUnsupported]. If s is a [ContextSigner], so is
// the result.
func Verified(s crypto.Signer) crypto.Signer {
	v := &verified{s: s}
	if cs, ok := s.(ContextSigner); ok {
		return &verifiedContext{verified: v, cs: cs}
	}
	return v
}

type verified struct{ s crypto.Signer }

func (v *verified) Public() crypto.PublicKey { return v.s.Public() }

func (v *verified) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := v.s.Sign(rand, digest, opts)
	if err != nil {
		return nil, err
	}
	return checked(v.s.Public(), digest, sig, opts)
}

type verifiedContext struct {
	*verified
	cs ContextSigner
}

func (v *verifiedContext) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := v.cs.SignContext(ctx, digest, opts)
	if err != nil {
		return nil, err
	}
	return checked(v.cs.Public(), digest, sig, opts)
}

// checked returns sig if it verifies under pub.
func checked(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := VerifySignature(pub, digest, sig, opts); err != nil {
		return nil, err
	}
	return sig, nil
}

// VerifySignature checks sig over digest (the message itself for ML-DSA)
// under pub, with the same rules as [Verified]. A signature that does not
// verify gives an error wrapping [ErrBadSignature].
func VerifySignature(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	var ok bool
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if opts == nil {
			return fmt.Errorf("%w: RSA signatures need signer options", ErrUnsupported)
		}
		if pss, isPSS := opts.(*rsa.PSSOptions); isPSS {
			ok = rsa.VerifyPSS(k, pss.HashFunc(), digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(k, opts.HashFunc(), digest, sig) == nil
		}
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case *mldsa.PublicKey:
		var mo *mldsa.Options
		switch o := opts.(type) {
		case *mldsa.Options:
			mo = o
		case nil:
		default:
			if o.HashFunc() != 0 {
				return fmt.Errorf("%w: cannot verify ML-DSA signatures made with %v", ErrUnsupported, o.HashFunc())
			}
		}
		ok = mldsa.Verify(k, digest, sig, mo) == nil
	default:
		return fmt.Errorf("%w: cannot verify signatures of %T keys", ErrUnsupported, pub)
	}
	if !ok {
		return fmt.Errorf("%w under the %T public key; it was dropped", ErrBadSignature, pub)
	}
	return nil
}
