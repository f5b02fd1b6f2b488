package custody

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"sealkeep/internal/audit"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/store"
)

// TestImport imports PEM and PKCS#12 bundles: the certificate and chain are
// stored byte-for-byte, the key signs; every refusal (wrong passphrase,
// mismatch, malformed) stores nothing and is audited once.
func TestImport(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "alice")
		data, err := os.ReadFile(crashImportFile(t))
		if err != nil {
			t.Fatal(err)
		}
		v, err := f.svc.Import(f.ctx, testActor, "alice", data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != string(audit.StatusReady) || v.Version != 1 || v.ChainLen != 1 {
			t.Fatalf("imported %+v", v)
		}
		blk, _ := pem.Decode(data)
		rest := data[len(pem.EncodeToMemory(blk)):]
		leafBlk, _ := pem.Decode(rest)
		if sv := storedVersion(f, t, "alice", 1); string(sv.CertDER) != string(leafBlk.Bytes) {
			t.Fatal("certificate not stored byte-for-byte")
		}
		if err := f.signs(t, "alice", 1); err != nil {
			t.Fatal(err)
		}

		c := pkitest.NewChain(t, keypolicy.ECDSAP256, "p12 import")
		p12, err := pkcs12.Modern.Encode(c.Leaf.Key, c.Leaf.Cert, []*x509.Certificate{c.Intermediate.Cert}, "right")
		if err != nil {
			t.Fatal(err)
		}
		other := pkitest.NewChain(t, keypolicy.ECDSAP256, "p12 other")
		der, _ := x509.MarshalPKCS8PrivateKey(c.Leaf.Key)
		mismatch := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Leaf.Cert.Raw})...)
		pass := func(s string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(s), nil } }
		for _, tc := range []struct {
			name string
			data []byte
			pass func() ([]byte, error)
			want error
		}{
			{"wrong passphrase", p12, pass("wrong"), keyfile.ErrWrongPassphrase},
			{"mismatch", mismatch, nil, keyfile.ErrMismatch},
			{"malformed", []byte("not a key file"), nil, keyfile.ErrMalformed},
		} {
			head := f.head(t, "acme")
			_, err := f.svc.Import(f.ctx, testActor, "alice", tc.data, tc.pass)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%s: got %v, want %v and ErrInvalidInput", tc.name, err, tc.want)
			}
			es := f.entries(t, "acme")
			if f.head(t, "acme") != head+1 || es[len(es)-1].Action != audit.ActionSecurityImportRejected {
				t.Fatalf("%s: rejection not audited as one entry", tc.name)
			}
			if vs, _ := f.svc.Versions(f.ctx, testActor, "alice"); len(vs) != 1 {
				t.Fatalf("%s: a refused import stored a version", tc.name)
			}
		}
		v, err = f.svc.Import(f.ctx, testActor, "alice", p12, pass("right"))
		if err != nil || v.Version != 2 {
			t.Fatalf("p12 import: %+v %v", v, err)
		}
		if err := f.signs(t, "alice", 2); err != nil {
			t.Fatal(err)
		}
		f.checkConsistent(t)
	})
}
