package verify

import (
	"bytes"
	"context"
	"crypto"
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
		for range 20 {
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
