package custody

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/store"
)

// A certificate that expired (or is not valid yet) between upload and
// activation must not become the version that seals (FAULTS.md 6): the
// activation is refused, nothing changes and no entry is written.
func TestActivateRefusesCertificateOutsideValidity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shift func(leaf *x509.Certificate) time.Time
		want  error
	}{
		{"expired", func(l *x509.Certificate) time.Time { return l.NotAfter.Add(time.Minute) }, keypolicy.ErrExpired},
		{"not yet valid", func(l *x509.Certificate) time.Time { return l.NotBefore.Add(-time.Minute) }, keypolicy.ErrNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			f := newFixture(t, openSQLite(t), Options{Clock: func() time.Time { return now }})
			f.orgIdentity(t, "acme", "jane")
			v := f.ready(t, "jane")
			var der []byte
			if err := f.st.View(f.ctx, func(tx store.ReadTx) error {
				sv, err := tx.Version("jane", v.Version)
				der = sv.CertDER
				return err
			}); err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			before := f.head(t, "acme")
			now = tc.shift(leaf)
			_, err = f.svc.Activate(f.ctx, testActor, "jane", v.Version, "")
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Activate = %v, want %v and ErrInvalidInput", err, tc.want)
			}
			if got := f.head(t, "acme"); got != before {
				t.Fatalf("audit head moved from %d to %d on a refused activation", before, got)
			}
			if err := f.st.View(f.ctx, func(tx store.ReadTx) error {
				sv, err := tx.Version("jane", v.Version)
				if err == nil && sv.Status != string(audit.StatusReady) {
					t.Errorf("status = %s, want ready", sv.Status)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
