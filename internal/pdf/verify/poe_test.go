package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/cms/tsatest"
)

// TestForgedProofOfExistence: a forger holding a revoked key signs after
// the revocation and adds something that looks like proof that the
// signature is older. Each file carries a timestamp whose genTime is before
// the revocation (the version is revoked an hour from now), so a verifier
// that took it as proof would call the signature valid; none is proof:
//
//   - a token from a TSA that is not among the anchors (one the forger
//     runs, with whatever clock it likes);
//   - a token from a trusted TSA over another signature value, moved into
//     this signature's unsigned attributes;
//   - a trusted document timestamp in a revision before the signature,
//     which proves that the earlier document existed, not the signature.
//
// The control, a trusted token over this signature, is proof. (A token
// signed with SHA-1 never verifies at all: internal/cms tests it with
// tsatest.StartSHA1.)
func TestForgedProofOfExistence(t *testing.T) {
	p := pki(t)
	url, tsaRoot := tsatest.Start(t)
	trusted := p.roots()
	trusted.AddCert(tsaRoot)
	over := func(url string) func(ctx context.Context, sig []byte) ([]byte, error) {
		return func(ctx context.Context, sig []byte) ([]byte, error) {
			return cms.RequestTimestamp(ctx, url, nil, sig, crypto.SHA256)
		}
	}
	base := sealedBase(t)
	revokedLater := time.Now().Add(time.Hour)
	custody := func() *fakeCustody {
		return &fakeCustody{status: CustodyStatus{Identity: "jane", Version: 1, Status: "active", Current: "revoked", RevokedAt: &revokedLater}, found: true}
	}

	// A token over another signature value, of the same length as the
	// real one, so that it replaces it byte for byte.
	var real, other []byte
	moved := editCMS(t, sealBytes(t, base, sealCfg{tsa: func(ctx context.Context, sig []byte) ([]byte, error) {
		var err error
		if real, err = cms.RequestTimestamp(ctx, url, nil, sig, crypto.SHA256); err != nil {
			return nil, err
		}
		// Token lengths vary by a byte or two (serial number, genTime
		// fraction); ask until one matches.
		for range 1000 {
			if other, err = cms.RequestTimestamp(ctx, url, nil, append(bytes.Clone(sig), 0), crypto.SHA256); err != nil || len(other) == len(real) {
				break
			}
		}
		return real, err
	}}), func(der []byte) []byte {
		if len(other) != len(real) {
			t.Fatalf("no token of the real one's length (%d bytes)", len(real))
		}
		i := bytes.Index(der, real)
		if i < 0 {
			t.Fatal("the token is not in the CMS")
		}
		copy(der[i:], other)
		return der
	})

	// A signature made over a document timestamp.
	afterDTS := sealBytes(t, docTimestamped(t, url), sealCfg{})

	for _, c := range []struct {
		name  string
		file  []byte
		roots bool // the anchors include the TSA
		sub   string
		has   string // in the reasons and notes
	}{
		{"control: a trusted token over this signature", sealBytes(t, base, sealCfg{tsa: over(url)}), true, "", "proves the signature existed by"},
		{"a token from a TSA that is not trusted", sealBytes(t, base, sealCfg{tsa: over(url)}), false, RevokedNoPOE, "timestamp authority not trusted"},
		{"a trusted token over another signature", moved, true, RevokedNoPOE, "the message imprint is not the SHA-256 digest"},
		{"a document timestamp before the signature", afterDTS, true, RevokedNoPOE, "is only claimed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			roots := p.roots()
			if c.roots {
				roots = trusted
			}
			rep := mustVerify(t, c.file, Options{Roots: roots, Custody: custody()})
			s := rep.Signatures[len(rep.Signatures)-1]
			if s.SubIndication != c.sub || (c.sub == "") != (s.Verdict == Valid) {
				t.Fatalf("%s %s/%s; reasons %q; notes %q", s.Verdict, s.Indication, s.SubIndication, s.Reasons, s.Notes)
			}
			if all := strings.Join(append(s.Reasons, s.Notes...), "\n"); !strings.Contains(all, c.has) {
				t.Fatalf("reasons %q and notes %q lack %q", s.Reasons, s.Notes, c.has)
			}
		})
	}
}

// byThumbprint answers custody lookups per signer certificate: an error
// for the ones in fail, active for the others.
type byThumbprint struct{ fail map[string]bool }

func (b byThumbprint) StatusAt(_ context.Context, thumb string, _ time.Time) (CustodyStatus, bool, error) {
	if b.fail[thumb] {
		return CustodyStatus{}, false, errors.New("audit chain \"acme\": entry 9 duplicated")
	}
	return CustodyStatus{Identity: "jane", Version: 1, Status: "active", Current: "active"}, true, nil
}

// TestCustodyFailsForOne: of two seals by different signers, the custody
// lookup fails for one only (its org's chain cannot be folded). That seal
// is TRY_LATER and the file is invalid; the other keeps its own verdict.
func TestCustodyFailsForOne(t *testing.T) {
	p := pki(t)
	k := mustKey()
	second := sealBytes(t, sealedBase(t), sealCfg{cert: leafOf(p, k.Public(), func(*x509.Certificate) {}), key: k})
	sigs := mustVerify(t, second, Options{}).Signatures
	for bad := range sigs {
		rep := mustVerify(t, second, Options{Custody: byThumbprint{fail: map[string]bool{sigs[bad].SignerSHA256: true}}})
		if rep.Verdict != Invalid {
			t.Errorf("lookup of signature %d fails: file verdict %s", bad+1, rep.Verdict)
		}
		for i, s := range rep.Signatures {
			want, sub := Valid, ""
			if i == bad {
				want, sub = Invalid, TryLater
			}
			if s.Verdict != want || s.SubIndication != sub {
				t.Errorf("lookup of signature %d fails: signature %d is %s %s/%s; reasons %q", bad+1, i+1, s.Verdict, s.Indication, s.SubIndication, s.Reasons)
			}
		}
	}
}
