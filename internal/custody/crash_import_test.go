package custody

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
)

// crashImportFile writes a PEM bundle (key, leaf, chain) for the import
// crash cases and returns its path.
func crashImportFile(t *testing.T) string {
	c := pkitest.NewChain(t, keypolicy.ECDSAP256, "crash import")
	der, err := x509.MarshalPKCS8PrivateKey(c.Leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Cert.Raw})...)
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Intermediate.Cert.Raw})...)
	p := filepath.Join(t.TempDir(), "import.pem")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// crashImport imports the file at path into identity alice.
func crashImport(ctx context.Context, svc *Service, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = svc.Import(ctx, testActor, "alice", data, nil)
	return err
}
