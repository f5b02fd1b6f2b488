package local

import (
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"math/big"

	"sealkeep/internal/signer"
)

// formatRSAv1 is the first byte of the compact RSA form. PKCS #8 DER starts
// with 0x30 (SEQUENCE), so the two never collide.
//
// Layout, all integers big-endian:
//
//	0x01                  format version
//	e        uint32       public exponent
//	7 × { len uint16, len bytes }   N, D, P, Q, Dp, Dq, Qinv
//
// Each integer is minimal (no leading zero byte) and non-zero; N is 256, 384
// or 512 bytes long and no other field is longer than N; nothing follows
// Qinv.
const formatRSAv1 = 0x01

const rsaFields = 7

func marshalRSA(k *rsa.PrivateKey) ([]byte, error) {
	if len(k.Primes) != 2 {
		return nil, fmt.Errorf("%w: multi-prime RSA keys cannot be stored", signer.ErrUnsupported)
	}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptKey, err)
	}
	dp, dq, qinv := crtValues(k)
	fields := [rsaFields]*big.Int{k.N, k.D, k.Primes[0], k.Primes[1], dp, dq, qinv}
	size := 1 + 4
	for _, f := range fields {
		size += 2 + (f.BitLen()+7)/8
	}
	out := make([]byte, 0, size)
	out = append(out, formatRSAv1)
	out = binary.BigEndian.AppendUint32(out, uint32(k.E))
	for _, f := range fields {
		n := (f.BitLen() + 7) / 8
		out = binary.BigEndian.AppendUint16(out, uint16(n))
		start := len(out)
		out = out[:start+n] // within the capacity reserved above
		f.FillBytes(out[start:])
	}
	return out, nil
}

// parseRSA reads the compact form strictly and lets crypto/rsa check the
// key's consistency.
func parseRSA(b []byte) (*rsa.PrivateKey, error) {
	if len(b) < 5 || b[0] != formatRSAv1 {
		return nil, fmt.Errorf("%w: truncated compact RSA key", ErrCorruptKey)
	}
	e := binary.BigEndian.Uint32(b[1:5])
	if e < 3 || e&1 == 0 || e > 1<<31-1 {
		return nil, fmt.Errorf("%w: bad RSA public exponent", ErrCorruptKey)
	}
	rest := b[5:]
	var f [rsaFields]*big.Int
	maxLen := 512
	for i := range f {
		if len(rest) < 2 {
			return nil, fmt.Errorf("%w: truncated compact RSA key", ErrCorruptKey)
		}
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if n == 0 || n > maxLen || n > len(rest) || rest[0] == 0 {
			return nil, fmt.Errorf("%w: malformed field %d of the compact RSA key", ErrCorruptKey, i)
		}
		if i == 0 {
			if n != 256 && n != 384 && n != 512 {
				return nil, fmt.Errorf("%w: RSA modulus of %d bytes", ErrCorruptKey, n)
			}
			maxLen = n
		}
		f[i] = new(big.Int).SetBytes(rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing data after the compact RSA key", ErrCorruptKey)
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: f[0], E: int(e)},
		D:         f[1],
		Primes:    []*big.Int{f[2], f[3]},
		Precomputed: rsa.PrecomputedValues{
			Dp: f[4], Dq: f[5], Qinv: f[6],
		},
	}
	// Precompute builds the FIPS module's key from the CRT values as given
	// and checks them (p·q = N, d·e ≡ 1 mod p−1 and q−1, qInv·q ≡ 1 mod p,
	// d ≡ Dp, Dq); Validate reports what Precompute could not.
	k.Precompute()
	if err := k.Validate(); err != nil {
		wipe(k)
		return nil, fmt.Errorf("%w: RSA key fails its consistency checks", ErrCorruptKey)
	}
	return k, nil
}
