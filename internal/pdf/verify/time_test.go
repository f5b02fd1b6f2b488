package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/cms/tsatest"
	"sealkeep/internal/pdf"
)

// TestBT seals with a timestamp from a real TSA (openssl ts): the
// timestamp verifies, its genTime is the signing time, and its TSA must be
// trusted like the signer.
func TestBT(t *testing.T) {
	url, tsaRoot := tsatest.Start(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "bt.pdf")
	sealFile(t, filepath.Join(corpusDir, "qpdf-pdf20.pdf"), out, sealCfg{tsa: func(ctx context.Context, sig []byte) ([]byte, error) {
		return cms.RequestTimestamp(ctx, url, nil, sig, crypto.SHA256)
	}})
	b := readFile(t, out)
	roots := pki(t).roots()
	roots.AddCert(tsaRoot)
	rep := mustVerify(t, b, Options{Roots: roots})
	s := rep.Signatures[0]
	if s.Verdict != Valid || s.SigningTimeSource != SourceTimestamp || s.Timestamp == nil || !s.Timestamp.Valid || !s.Timestamp.Trusted {
		t.Fatalf("%+v %+v", s, s.Timestamp)
	}
	if d := time.Since(*s.SigningTime); d < 0 || d > time.Hour {
		t.Fatalf("signing time %v", s.SigningTime)
	}
	// Without the TSA's root, the timestamp is not trusted and neither is
	// the signature.
	rep = mustVerify(t, b, Options{})
	if s := rep.Signatures[0]; s.Verdict != Untrusted || s.Timestamp.Trusted || !s.Timestamp.Valid {
		t.Fatalf("%+v", s)
	}
	nss := nssDB(t)
	if ps := pdfsig(t, nss, out); !strings.Contains(ps, "Signature is Valid") {
		t.Fatalf("pdfsig:\n%s", ps)
	}
}

// TestValidationTime: a seal made while its certificate was valid verifies
// as of a past time (--at) after the certificate expired; validated now,
// it is untrusted and the expiry is named.
func TestValidationTime(t *testing.T) {
	p := pki(t)
	signedAt := time.Now().AddDate(-2, 0, 0)
	dir := t.TempDir()
	out := filepath.Join(dir, "old.pdf")
	sealFile(t, filepath.Join(corpusDir, "cairo-chart.pdf"), out, sealCfg{cert: p.expired, key: p.expiredKey,
		opts: pdf.SealOptions{Time: signedAt}})
	b := readFile(t, out)

	rep := mustVerify(t, b, Options{})
	s := rep.Signatures[0]
	if s.Verdict != Untrusted || s.Trusted || !s.Intact || !s.Valid {
		t.Fatalf("now: %+v", s)
	}
	expiry := p.expired.NotAfter.UTC().Format(time.RFC3339)
	if !strings.Contains(strings.Join(s.Reasons, "\n"), "expired on "+expiry) || !strings.Contains(strings.Join(s.Notes, "\n"), "expired on "+expiry) {
		t.Fatalf("expiry not named: %q %q", s.Reasons, s.Notes)
	}

	rep = mustVerify(t, b, Options{At: signedAt})
	s = rep.Signatures[0]
	if s.Verdict != Valid || !s.Trusted {
		t.Fatalf("at signing time: %+v", s)
	}
	if !strings.Contains(strings.Join(s.Notes, "\n"), "expired on "+expiry) {
		t.Fatalf("expiry not noted: %q", s.Notes)
	}
	// Before the certificate was issued: not trusted.
	if rep := mustVerify(t, b, Options{At: p.expired.NotBefore.Add(-time.Hour)}); rep.Signatures[0].Trusted {
		t.Fatal("trusted before issuance")
	}
	// Another anchor: not trusted at any time.
	other := x509.NewCertPool()
	other.AddCert(p.other)
	if rep := mustVerify(t, b, Options{Roots: other, At: signedAt}); rep.Signatures[0].Trusted {
		t.Fatal("trusted by an unrelated root")
	}
}

// fakeCustody answers StatusAt from a table.
type fakeCustody struct {
	status CustodyStatus
	found  bool
	err    error
	gotAt  []time.Time
}

func (f *fakeCustody) StatusAt(_ context.Context, thumb string, at time.Time) (CustodyStatus, bool, error) {
	f.gotAt = append(f.gotAt, at)
	return f.status, f.found, f.err
}

// TestCustody: the custody status is looked up at the claimed signing time
// (there is no timestamp) and reported; a version that was revoked, at any
// time, makes the signature REVOKED_NO_POE, since the claim proves
// nothing; a lookup that fails makes it TRY_LATER.
func TestCustody(t *testing.T) {
	b := sealedBase(t)
	claimed := *mustVerify(t, b, Options{}).Signatures[0].SigningTime
	later := claimed.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		fc      fakeCustody
		verdict string
		sub     string
	}{
		{"active", fakeCustody{status: CustodyStatus{Status: "active"}, found: true}, Valid, ""},
		{"superseded", fakeCustody{status: CustodyStatus{Status: "superseded"}, found: true}, Valid, ""},
		{"not in custody", fakeCustody{}, Valid, ""},
		{"revoked at the claimed time", fakeCustody{status: CustodyStatus{Status: "revoked", RevokedAt: &claimed}, found: true}, Invalid, RevokedNoPOE},
		{"revoked after the claimed time", fakeCustody{status: CustodyStatus{Status: "active", RevokedAt: &later}, found: true}, Invalid, RevokedNoPOE},
		{"revoked, no time", fakeCustody{status: CustodyStatus{Status: "revoked"}, found: true}, Invalid, RevokedNoPOE},
		{"lookup fails", fakeCustody{err: errors.New("audit chain \"acme\": entry 7 duplicated")}, Invalid, TryLater},
		{"lookup fails, found", fakeCustody{status: CustodyStatus{Status: "active"}, found: true, err: errors.New("stored status differs from the trail")}, Invalid, TryLater},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := tc.fc
			s := mustVerify(t, b, Options{Custody: &fc}).Signatures[0]
			if s.Verdict != tc.verdict || s.SubIndication != tc.sub || (s.Custody != nil) != (tc.fc.found && tc.fc.err == nil) {
				t.Fatalf("verdict %s %s/%s, custody %+v; reasons %q", s.Verdict, s.Indication, s.SubIndication, s.Custody, s.Reasons)
			}
			if len(fc.gotAt) != 1 || !fc.gotAt[0].Equal(claimed) {
				t.Fatalf("looked up at %v, claimed signing time %v", fc.gotAt, claimed)
			}
		})
	}
}

// TestDocTimestamp: a document timestamp (ETSI.RFC3161) from a real TSA
// over the byte ranges verifies, with its genTime as signing time; a
// changed byte breaks it.
func TestDocTimestamp(t *testing.T) {
	url, tsaRoot := tsatest.Start(t)
	dir := t.TempDir()
	in, out := filepath.Join(corpusDir, "qpdf-qdf-uncompressed.pdf"), filepath.Join(dir, "dts.pdf")
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	const size = 12 << 10
	res, err := pdf.Seal(context.Background(), f, fi.Size(), out, pdf.SealOptions{ContentsSize: size},
		func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil })
	if err != nil {
		t.Fatal(err)
	}
	// Our sealer writes only signature SubFilters: rewrite it in place
	// (same length) before the timestamp is made over the ranges.
	b := readFile(t, out)
	br := res.ByteRange
	i := bytes.LastIndex(b[:br[1]], []byte("/ETSI.CAdES.detached"))
	if i < 0 {
		t.Fatal("no /SubFilter")
	}
	copy(b[i:], "/ETSI.RFC3161       ")
	content := append(append([]byte{}, b[:br[1]]...), b[br[2]:br[2]+br[3]]...)
	token, err := cms.RequestTimestamp(context.Background(), url, nil, content, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	hexTok := []byte(strings.ToUpper(hex.EncodeToString(token)))
	copy(b[br[1]+1:], hexTok)
	roots := pki(t).roots()
	roots.AddCert(tsaRoot)
	rep := mustVerify(t, b, Options{Roots: roots})
	s := rep.Signatures[0]
	if s.Verdict != Valid || s.SigningTimeSource != SourceTimestamp || s.Timestamp == nil || !s.Timestamp.Trusted {
		t.Fatalf("%+v", s)
	}
	b[100] ^= 1
	if rep := mustVerify(t, b, Options{Roots: roots}); rep.Signatures[0].Verdict != Invalid || rep.Signatures[0].Intact {
		t.Fatalf("altered: %+v", rep.Signatures[0])
	}
}
