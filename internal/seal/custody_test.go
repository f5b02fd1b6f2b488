package seal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"sealkeep/internal/audit"
	"sealkeep/internal/cms"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/intent"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/pdf"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/redact"
	"sealkeep/internal/seal"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"
	"sealkeep/internal/testenv"
)

// admin sets up orgs, identities and versions (the CLI on the data
// directory); jane (a sealer of acme, see world) owns the identity and is
// the only one who may seal.
var admin = audit.Actor{Kind: audit.ActorCLI, ID: "admin"}

// backend is a fresh store, raw SQL on it (the insider), and a way to
// open a second handle on the same database (another server instance).
type backend struct {
	name string
	open func(t *testing.T) (st store.Store, exec func(query string), reopen func() store.Store)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (store.Store, func(string), func() store.Store) {
		path := filepath.Join(t.TempDir(), "sk.db")
		open := func() store.Store {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		return open(), func(q string) {
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("exec %s: %v", q, err)
			}
		}, open
	}},
	{"postgres", func(t *testing.T) (store.Store, func(string), func() store.Store) {
		dsn := pgtest.Fresh(t)
		open := func() store.Store {
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		return open(), func(q string) { pgtest.Exec(t, dsn, q) }, open
	}},
}

// fixture is custody with one org ("acme") and one identity ("jane-pe",
// owned by jane) whose version 1 is active, and the accounts of the auth
// layer (see world), on a test clock.
type fixture struct {
	ctx   context.Context
	st    store.Store
	svc   *custody.Service
	kek   envelope.KEK
	exec  func(string)
	pki   *pkitest.Chain // root and intermediate issue the custody leaf
	roots *x509.CertPool
	dir   string
	in    string // the document to seal
	// reopen opens another handle on the store's database.
	reopen func() store.Store
	*world
}

func newFixture(t *testing.T, b backend) *fixture {
	t.Helper()
	st, exec, reopen := b.open(t)
	kek, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "kek.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	f := &fixture{ctx: context.Background(), st: st, svc: custody.New(st, kek, custody.Options{Clock: clk.now}), kek: kek, exec: exec, reopen: reopen,
		pki: pkitest.NewChain(t, keypolicy.ECDSAP256, "seal test"), dir: t.TempDir()}
	f.roots = x509.NewCertPool()
	f.roots.AddCert(f.pki.Root.Cert)
	if _, err := f.svc.CreateOrg(f.ctx, admin, "acme", "Acme Engineering"); err != nil {
		t.Fatal(err)
	}
	f.world = newWorld(t, f.ctx, st, kek, clk)
	if _, err := f.svc.CreateIdentity(f.ctx, admin, custody.IdentitySpec{ID: "jane-pe", Org: "acme", Owner: f.jane.ID, Name: "Jane Doe, P.E. 12345, Texas"}); err != nil {
		t.Fatal(err)
	}
	f.generate(t, "jane-pe")
	f.in = filepath.Join(f.dir, "in.pdf")
	data, err := os.ReadFile("../pdf/testdata/corpus/libreoffice-report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// generate makes a key inside custody for a new version of identity, has
// the test CA issue its certificate from the CSR, uploads and activates it.
func (f *fixture) generate(t *testing.T, identity string) custody.VersionInfo {
	t.Helper()
	v, csrDER, err := f.svc.GenerateKey(f.ctx, admin, identity, keypolicy.ECDSAP256, pkix.Name{CommonName: "Jane Doe"})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pkitest.Issue(t, f.pki.Intermediate, pkitest.LeafTemplate("Jane Doe"), csr.PublicKey)
	if _, err := f.svc.UploadCertificate(f.ctx, admin, identity, v.Version, leaf.Raw, [][]byte{f.pki.Intermediate.Cert.Raw}); err != nil {
		t.Fatal(err)
	}
	reason := ""
	if v.Version > 1 {
		reason = "rotation"
	}
	if v, err = f.svc.Activate(f.ctx, admin, identity, v.Version, reason); err != nil {
		t.Fatal(err)
	}
	return v
}

// stub is an approval that no auth layer checked, with a commit that
// records nothing: what a caller that bypassed auth could hand the
// pipeline. The pipeline's own checks must still refuse every seal it
// does not approve.
type stub struct{ intent intent.Intent }

func (a stub) Intent() intent.Intent                   { return a.intent }
func (a stub) Method() string                          { return "totp" }
func (a stub) Evidence() map[string]string             { return map[string]string{"totp_step": "1"} }
func (a stub) Commit(store.Tx) error                   { return nil }
func (a stub) Failed(_ context.Context, e error) error { return e }
func (f *fixture) out(name string) string              { return filepath.Join(f.dir, name) }
func (f *fixture) activeKey(t *testing.T) custody.SealKey {
	return must(f.svc.ActiveKey(f.ctx, f.actor(f.jane), "jane-pe"))(t)
}

func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// approve has jane approve sealing f.in with opts with a fresh TOTP code
// (the clock moves to the next step first), through the auth layer.
func (f *fixture) approve(t *testing.T, opts seal.Options) seal.Approval {
	t.Helper()
	code := f.nextCode(t, f.jane)
	return f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code)
}

// intent is user's intent of sealing path with jane-pe's active version.
func (f *fixture) intent(t *testing.T, user store.User, path string, opts seal.Options) intent.Intent {
	t.Helper()
	in, err := seal.IntentFor(f.activeKey(t), user.ID, sha256.Sum256(must(os.ReadFile(path))(t)), opts, f.clk.now(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// approveAs checks user's code as the approval of in.
func (f *fixture) approveAs(t *testing.T, user store.User, in intent.Intent, code *redact.Secret) seal.Approval {
	t.Helper()
	a, err := seal.CheckTOTP(f.ctx, f.auth, user.ID, code, in, "192.0.2.7")
	if err != nil {
		t.Fatal(f.err(err))
	}
	return a
}

// sealCustody runs the custody pipeline from f.in to out, on the test
// clock.
func (f *fixture) sealCustody(t *testing.T, svc *custody.Service, out string, a seal.Approval, opts seal.Options) (*seal.Result, error) {
	t.Helper()
	return f.sealFile(t, svc, f.in, out, a, opts)
}

// sealFile runs the custody pipeline from in to out, on the test clock.
func (f *fixture) sealFile(t *testing.T, svc *custody.Service, in, out string, a seal.Approval, opts seal.Options) (*seal.Result, error) {
	t.Helper()
	job, err := seal.Open(in, out, seal.Output{})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	if opts.Now == nil {
		opts.Now = f.clk.now
	}
	res, err := job.SealCustody(f.ctx, svc, seal.CustodyRequest{Identity: "jane-pe", Approval: a, RequestID: "r-1234", Options: opts})
	return res, f.err(err)
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// lookup is the verifier's view of custody, as sealkeep verify builds it:
// the version by its certificate, its status at a time by the fold of the
// org's chain, and the seal receipt.
type lookup struct {
	svc *custody.Service
	st  store.Store
}

func (l lookup) StatusAt(ctx context.Context, thumb string, at time.Time) (verify.CustodyStatus, bool, error) {
	r, found, err := l.svc.SealReceipt(ctx, thumb, strings.Repeat("0", 64))
	if err != nil || !found {
		return verify.CustodyStatus{}, found, err
	}
	out := verify.CustodyStatus{Identity: r.Identity, Version: r.Version}
	err = l.st.View(ctx, func(tx store.ReadTx) error {
		entries := audit.Walk(func(fn func(audit.Entry) error) error { return tx.AuditEntries(r.Org, 1, fn) })
		then, err := audit.StatusAt(entries, r.Identity, r.Version, at)
		if err != nil {
			return err
		}
		state, err := audit.Fold(entries)
		if err != nil {
			return err
		}
		cur := state.Version(r.Identity, r.Version)
		out.Status, out.Current = string(then.Status), string(cur.Status)
		if !cur.RevokedAt.IsZero() {
			ra := cur.RevokedAt
			out.RevokedAt = &ra
		}
		return nil
	})
	return out, err == nil, err
}

func (l lookup) SealReceipt(ctx context.Context, thumb, sig string) (verify.SealReceipt, bool, error) {
	r, found, err := l.svc.SealReceipt(ctx, thumb, sig)
	if err != nil || !found {
		return verify.SealReceipt{}, found, err
	}
	out := verify.SealReceipt{KeyOrigin: r.KeyOrigin, Org: r.Org, Identity: r.Identity, Version: r.Version}
	if e := r.Entry; e != nil {
		tm := e.Time
		out.Found, out.Chain, out.Seq, out.EntryHash, out.Time = true, e.Chain, e.Seq, e.Hash.String(), &tm
		out.Actor, out.MFAMethod, out.RequestID = e.Actor.ID, e.Details[audit.DetailMFAMethod], e.Details[audit.DetailRequestID]
		out.DocumentSHA256, out.SealedSHA256 = e.Details[audit.DetailDocumentSHA256], e.Details[audit.DetailSealedSHA256]
		if a := r.Approval; a != nil {
			out.Approval = &verify.SealApproval{Method: e.Details[audit.DetailMFAMethod], Approver: a.Login}
			if a.Passkey != nil {
				out.Approval.Passkey = a.Passkey.Name
			}
		}
	}
	return out, true, nil
}

// verifyFile verifies path with the custody lookup and the test roots.
func (f *fixture) verifyFile(t *testing.T, path string) *verify.Report {
	t.Helper()
	rep, err := verify.File(f.ctx, path, verify.Options{Roots: f.roots, Custody: lookup{f.svc, f.st}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Signatures) != 1 {
		t.Fatalf("%d signatures", len(rep.Signatures))
	}
	return rep
}

// seals returns the seal entries of the org's chain.
func (f *fixture) seals(t *testing.T) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries("acme", 1, func(e audit.Entry) error {
			if e.Action == audit.ActionSeal {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// chainOK verifies the org's chain and its stored statuses.
func (f *fixture) chainOK(t *testing.T) {
	t.Helper()
	rep, err := f.svc.VerifyChain(f.ctx, "acme", nil, nil, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("audit verify: %+v, %v", rep.Break, err)
	}
}

// onlyFiles checks that the directory holds the input and the named
// files only: no other output, no temporary file.
func (f *fixture) onlyFiles(t *testing.T, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "in.pdf" && !slices.Contains(names, e.Name()) {
			t.Errorf("%s was left in the output directory", e.Name())
		}
	}
}

// TestCustodySeal: a key generated in custody, certified by the test CA
// and activated, seals a PDF on jane's approval; the seal entry records
// exactly what was sealed; the verifier finds it by the signature value
// and reports the receipt; pdfsig and qpdf accept the file.
func TestCustodySeal(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{PDF: pdf.SealOptions{Reason: "Issued for construction"}}
			a := f.approve(t, opts)
			out := f.out("sealed.pdf")
			res, err := f.sealCustody(t, f.svc, out, a, opts)
			if err != nil {
				t.Fatal(err)
			}
			key := f.activeKey(t)
			e := res.Receipt
			if e == nil || e.Action != audit.ActionSeal || e.Chain != "acme" || e.Actor != f.actor(f.jane) ||
				e.Subject != (audit.Subject{Org: "acme", Identity: "jane-pe", Version: 1}) {
				t.Fatalf("receipt %+v", e)
			}
			// The entry's details, each against an independent computation.
			rep := f.verifyFile(t, out)
			s := rep.Signatures[0]
			// The intent, written out by hand: jane's, with the version's
			// certificate, the input's digest and every option as applied.
			got := a.Intent()
			in := intent.Intent{Org: "acme", User: f.jane.ID, Identity: "jane-pe", Version: 1,
				Thumbprint: sha256.Sum256(key.Leaf.Raw), DocumentSHA256: sha256.Sum256(must(os.ReadFile(f.in))(t)),
				Options: map[string]string{"subfilter": "ETSI.CAdES.detached", "pades_level": "B-B", "tsa": "", "field": "",
					"docmdp": "0", "name": "Jane Doe", "reason": "Issued for construction", "location": "", "contact": ""},
				Nonce: got.Nonce, Expires: got.Expires}
			ih := in.Digest()
			if got.Expires.Sub(f.clk.now()) != 2*time.Minute || got.Nonce == ([16]byte{}) {
				t.Errorf("intent nonce %x, expires %v", got.Nonce, got.Expires)
			}
			for k, want := range map[string]string{
				audit.DetailDocumentSHA256:  fileSHA256(t, f.in),
				audit.DetailSealedSHA256:    fileSHA256(t, out),
				audit.DetailSignatureSHA256: signatureValueSHA256(t, out),
				audit.DetailThumbprint:      keypolicy.Thumbprint(key.Leaf.Raw),
				audit.DetailField:           s.Field,
				audit.DetailPAdESLevel:      "B-B",
				audit.DetailMFAMethod:       "totp",
				audit.DetailMFAEvidence:     fmt.Sprintf(`{"totp_step":"%d"}`, f.step()),
				audit.DetailRequestID:       "r-1234",
				audit.DetailIntentSHA256:    hex.EncodeToString(ih[:]),
				audit.DetailIntent:          base64.RawURLEncoding.EncodeToString(in.Canonical()),
			} {
				if got := e.Details[k]; got != want {
					t.Errorf("seal entry %s = %q, want %q", k, got, want)
				}
			}
			if len(e.Details) != 11 {
				t.Errorf("seal entry details: %v", e.Details)
			}
			if got := f.seals(t); len(got) != 1 || got[0].Hash != e.Hash {
				t.Fatalf("chain seals: %+v", got)
			}
			f.chainOK(t)
			if err := f.svc.CheckState(f.ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			// The verifier's receipt.
			if rep.Verdict != verify.Valid {
				t.Fatalf("verdict %s: %v %v", rep.Verdict, s.Reasons, s.Notes)
			}
			r := s.Receipt
			if r == nil || !r.Found || r.KeyOrigin != verify.KeyGenerated || r.Seq != e.Seq || r.EntryHash != e.Hash.String() {
				t.Fatalf("receipt %+v", r)
			}
			want := "sealed through sealkeep: acme jane-pe v1 by " + f.jane.ID + ", totp step-up, request r-1234"
			if !strings.HasPrefix(r.Summary, want) || strings.Contains(strings.Join(s.Notes, "\n"), want) {
				t.Errorf("summary %q (the report's seal_receipt, not repeated in notes %q)", r.Summary, s.Notes)
			}
			oracles(t, out)
			f.onlyFiles(t, "sealed.pdf")
		})
	}
}

// signatureValueSHA256 reads the one signature of path with the PDF
// reader and hashes its CMS signature value.
func signatureValueSHA256(t *testing.T, path string) string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	r, err := pdf.Open(fh, fi.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := r.Latest().Signatures()
	if err != nil || len(sigs) != 1 {
		t.Fatalf("signatures: %d, %v", len(sigs), err)
	}
	sd, err := cms.Parse(bytes.TrimRight(sigs[0].Contents, "\x00"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sd.SignatureValue())
	return hex.EncodeToString(sum[:])
}

// oracles runs pdfsig and qpdf --check on a sealed file.
func oracles(t *testing.T, path string) {
	t.Helper()
	out, _ := exec.Command(testenv.Tool(t, "pdfsig"), path).CombinedOutput()
	if !strings.Contains(string(out), "Signature Validation: Signature is Valid.") {
		t.Errorf("pdfsig does not call the seal valid:\n%s", out)
	}
	if out, err := exec.Command(testenv.Tool(t, "qpdf"), "--check", path).CombinedOutput(); err != nil {
		t.Errorf("qpdf --check: %v\n%s", err, out)
	}
}

// failingStore makes every seal entry append fail, as a database that
// fails at that moment would; with step set, it is the recording of a
// TOTP step that fails instead.
type failingStore struct {
	store.Store
	step bool
}

var errInjected = errors.New("injected audit failure")

func (s failingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(failingTx{tx, s.step}) })
}

type failingTx struct {
	store.Tx
	step bool
}

func (tx failingTx) UseTOTPStep(u store.TOTPUse) error {
	if tx.step {
		return errInjected
	}
	return tx.Tx.UseTOTPStep(u)
}

func (tx failingTx) AppendAudit(e audit.Entry) (audit.Entry, error) {
	if e.Action == audit.ActionSeal && !tx.step {
		return audit.Entry{}, errInjected
	}
	return tx.Tx.AppendAudit(e)
}

// TestCustodySealEntryFails: when the seal entry cannot be written (the
// database fails at the append, or at the recording of the TOTP step in
// the same transaction), no sealed file is released, the temporary file is
// gone, the chain holds no seal and the code's step is not recorded: it
// rolled back with the entry, so the same code then seals once.
func TestCustodySealEntryFails(t *testing.T) {
	for _, b := range backends {
		for _, step := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/step=%v", b.name, step), func(t *testing.T) {
				f := newFixture(t, b)
				broken := custody.New(failingStore{f.st, step}, f.kek, custody.Options{Clock: f.clk.now})
				opts := seal.Options{}
				code := f.nextCode(t, f.jane)
				_, err := f.sealCustody(t, broken, f.out("sealed.pdf"), f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code), opts)
				var se *seal.Error
				if !errors.Is(err, errInjected) || !errors.As(err, &se) || se.Step != seal.StepRecord {
					t.Fatalf("err = %v", err)
				}
				f.onlyFiles(t)
				if got := f.seals(t); len(got) != 0 {
					t.Fatalf("seal entries: %+v", got)
				}
				if last := f.lastStep(t, f.jane); last >= f.step() {
					t.Fatalf("the step of the failed seal was recorded (%d)", last)
				}
				f.chainOK(t)
				if _, err := f.sealCustody(t, f.svc, f.out("sealed.pdf"), f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code), opts); err != nil {
					t.Fatalf("the same code after the failure: %v", err)
				}
				if got := f.seals(t); len(got) != 1 || f.lastStep(t, f.jane) != f.step() {
					t.Fatalf("%d seal entries, last step %d", len(got), f.lastStep(t, f.jane))
				}
			})
		}
	}
}

// sealOutside signs f.in into out with key's signer but not through the
// pipeline: what someone who can reach the key (an operator with the
// database and the KEK, custody's own Signer) could do. No seal entry is
// written.
func (f *fixture) sealOutside(t *testing.T, key seal.Key, out string) {
	t.Helper()
	job, err := seal.Open(f.in, out, seal.Output{})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	if _, err := job.Seal(f.ctx, key, seal.Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestSignedOutsideApproval: a signature by a key generated inside custody
// that no seal entry records was made outside the approval path: the
// verifier says so and the signature is not valid. With an imported key
// (whose owner may hold a copy) it is only a note.
func TestSignedOutsideApproval(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			k := f.activeKey(t)
			sgn, err := f.svc.Signer(f.ctx, admin, "jane-pe", k.Version)
			if err != nil {
				t.Fatal(err)
			}
			out := f.out("outside.pdf")
			f.sealOutside(t, seal.Key{Signer: sgn, Leaf: k.Leaf, Chain: k.Chain}, out)
			rep := f.verifyFile(t, out)
			s := rep.Signatures[0]
			if rep.Verdict == verify.Valid || s.Verdict == verify.Valid {
				t.Fatalf("a signature without a seal entry is %s", rep.Verdict)
			}
			if r := s.Receipt; r == nil || r.Found || r.KeyOrigin != verify.KeyGenerated {
				t.Fatalf("receipt %+v", r)
			}
			if !strings.Contains(strings.Join(s.Reasons, "\n"), "outside sealkeep's approval path") {
				t.Errorf("reasons %q", s.Reasons)
			}
			if s.Indication != verify.Indeterminate || s.SubIndication != verify.SigConstraintsFailure {
				t.Errorf("indication %s/%s", s.Indication, s.SubIndication)
			}
			// The signature itself is sound: only the missing receipt
			// makes it not valid.
			if !s.Intact || !s.Valid || !s.Trusted {
				t.Errorf("intact %v valid %v trusted %v", s.Intact, s.Valid, s.Trusted)
			}
			oracles(t, out) // pdfsig cannot know: the receipt rule is custody's
		})
	}
}

// TestImportedKeyNotThroughSealkeep: an imported key's signature without a
// seal entry gets a note and keeps its verdict.
func TestImportedKeyNotThroughSealkeep(t *testing.T) {
	f := newFixture(t, backends[0])
	if _, err := f.svc.CreateIdentity(f.ctx, admin, custody.IdentitySpec{ID: "jane-import", Org: "acme", Owner: f.jane.ID, Name: "Jane Doe (own key)"}); err != nil {
		t.Fatal(err)
	}
	priv := pkitest.Key(t, keypolicy.ECDSAP256, "imported")
	leaf := pkitest.Issue(t, f.pki.Intermediate, pkitest.LeafTemplate("Jane Doe"), priv.Public())
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var file []byte
	file = append(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})...)
	file = append(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})...)
	file = append(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.pki.Intermediate.Cert.Raw})...)
	v, err := f.svc.Import(f.ctx, admin, "jane-import", file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Activate(f.ctx, admin, "jane-import", v.Version, ""); err != nil {
		t.Fatal(err)
	}
	out := f.out("own.pdf")
	f.sealOutside(t, seal.Key{Signer: priv, Leaf: leaf, Chain: []*x509.Certificate{f.pki.Intermediate.Cert}}, out)
	rep := f.verifyFile(t, out)
	s := rep.Signatures[0]
	if rep.Verdict != verify.Valid {
		t.Fatalf("verdict %s: %q", rep.Verdict, s.Reasons)
	}
	if r := s.Receipt; r == nil || r.Found || r.KeyOrigin != verify.KeyImported {
		t.Fatalf("receipt %+v", r)
	}
	if !strings.Contains(strings.Join(s.Notes, "\n"), "not made through sealkeep") {
		t.Errorf("notes %q", s.Notes)
	}
}

// TestForgedReceipt: an insider who edits a seal entry in the database so
// that it names a signature made outside the approval path gets no
// receipt: the chain no longer verifies, custody cannot vouch, the
// signature stays invalid and audit verify names the edited entry. So
// does one who deletes the seal entry of a genuine seal.
func TestForgedReceipt(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{}
			res, err := f.sealCustody(t, f.svc, f.out("sealed.pdf"), f.approve(t, opts), opts)
			if err != nil {
				t.Fatal(err)
			}
			k := f.activeKey(t)
			outside := f.out("outside.pdf")
			f.sealOutside(t, seal.Key{Signer: k.Signer, Leaf: k.Leaf, Chain: k.Chain}, outside)
			forged := signatureValueSHA256(t, outside)
			f.exec("UPDATE audit_entries SET details = REPLACE(details, '" + res.SignatureSHA256 + "', '" + forged + "') WHERE action = 'seal'")
			rep := f.verifyFile(t, outside)
			s := rep.Signatures[0]
			if s.Verdict == verify.Valid || (s.Receipt != nil && s.Receipt.Found) {
				t.Fatalf("forged receipt accepted: %s %+v", s.Verdict, s.Receipt)
			}
			if !strings.Contains(strings.Join(s.Reasons, "\n"), "cannot") || s.Indication != verify.Indeterminate || s.SubIndication != verify.TryLater {
				t.Errorf("%s/%s, reasons %q", s.Indication, s.SubIndication, s.Reasons)
			}
			vr, err := f.svc.VerifyChain(f.ctx, "acme", nil, nil, nil)
			if err != nil || vr.OK() || vr.Break.Seq != res.Receipt.Seq || vr.Break.Problem != audit.ProblemEdited {
				t.Fatalf("audit verify: %+v, %v", vr.Break, err)
			}
		})
	}
	t.Run("deleted", func(t *testing.T) {
		f := newFixture(t, backends[0])
		opts := seal.Options{}
		out := f.out("sealed.pdf")
		res, err := f.sealCustody(t, f.svc, out, f.approve(t, opts), opts)
		if err != nil {
			t.Fatal(err)
		}
		f.exec("DELETE FROM audit_entries WHERE action = 'seal'")
		rep := f.verifyFile(t, out)
		if s := rep.Signatures[0]; s.Verdict == verify.Valid || s.SubIndication != verify.TryLater {
			t.Fatalf("verdict %s, reasons %q", s.Verdict, s.Reasons)
		}
		vr, err := f.svc.VerifyChain(f.ctx, "acme", nil, nil, nil)
		if err != nil || vr.OK() || vr.Break.Seq != res.Receipt.Seq {
			t.Fatalf("audit verify: %+v, %v", vr.Break, err)
		}
	})
}

// TestApprovalRefused: without an approval, or with one that approves
// another seal, nothing is signed, written or recorded. The approvals are
// stubs that no auth layer checked: the pipeline refuses on its own.
func TestApprovalRefused(t *testing.T) {
	f := newFixture(t, backends[0])
	opts := seal.Options{}
	good := stub{f.intent(t, f.jane, f.in, opts)}
	edit := func(fn func(in *intent.Intent)) stub {
		a := good
		a.intent.Options = maps.Clone(a.intent.Options)
		fn(&a.intent)
		return a
	}
	cases := map[string]struct {
		a    seal.Approval
		opts seal.Options
	}{
		"none":             {nil, opts},
		"another document": {edit(func(in *intent.Intent) { in.DocumentSHA256[0] ^= 1 }), opts},
		"another version":  {edit(func(in *intent.Intent) { in.Version = 2 }), opts},
		"another cert":     {edit(func(in *intent.Intent) { in.Thumbprint[0] ^= 1 }), opts},
		"another org":      {edit(func(in *intent.Intent) { in.Org = "other" }), opts},
		"another identity": {edit(func(in *intent.Intent) { in.Identity = "mallory-pe" }), opts},
		"another user":     {edit(func(in *intent.Intent) { in.User = f.mal.ID }), opts},
		"no user":          {edit(func(in *intent.Intent) { in.User = "" }), opts},
		"expired":          {edit(func(in *intent.Intent) { in.Expires = f.clk.now().Add(-time.Second) }), opts},
		"too long":         {edit(func(in *intent.Intent) { in.Expires = f.clk.now().Add(time.Hour) }), opts},
		"no nonce":         {edit(func(in *intent.Intent) { in.Nonce = [16]byte{} }), opts},
		"an extra option":  {edit(func(in *intent.Intent) { in.Options["x"] = "" }), opts},
		"other options":    {good, seal.Options{PDF: pdf.SealOptions{DocMDP: 1}}},
		"other reason":     {good, seal.Options{PDF: pdf.SealOptions{Reason: "not what was approved"}}},
	}
	for name, tc := range cases {
		_, err := f.sealCustody(t, f.svc, f.out("sealed.pdf"), tc.a, tc.opts)
		var se *seal.Error
		if !errors.Is(err, seal.ErrNotApproved) || !errors.As(err, &se) || se.Step != seal.StepApproval {
			t.Errorf("%s: %v", name, err)
		}
	}
	f.onlyFiles(t)
	if got := f.seals(t); len(got) != 0 {
		t.Fatalf("seal entries: %+v", got)
	}
	// A rotation after the approval: the active version is another one.
	f.generate(t, "jane-pe")
	if _, err := f.sealCustody(t, f.svc, f.out("sealed.pdf"), good, opts); !errors.Is(err, seal.ErrNotApproved) {
		t.Errorf("approval of v1 after rotating to v2: %v", err)
	}
	f.onlyFiles(t)
	f.chainOK(t)
}

// TestReceiptProvesExistence: a seal entry is proof of existence for the
// revocation rule: a seal made through sealkeep before its version was
// revoked stays valid; a signature by the same key without a receipt,
// claiming the same time, is REVOKED_NO_POE.
func TestReceiptProvesExistence(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{}
			sealed := f.out("sealed.pdf")
			if _, err := f.sealCustody(t, f.svc, sealed, f.approve(t, opts), opts); err != nil {
				t.Fatal(err)
			}
			k := f.activeKey(t)
			outside := f.out("outside.pdf")
			f.sealOutside(t, seal.Key{Signer: k.Signer, Leaf: k.Leaf, Chain: k.Chain}, outside)
			// The revocation is recorded a second later than both signatures.
			later := custody.New(f.st, f.kek, custody.Options{Clock: func() time.Time { return f.clk.now().Add(time.Second) }})
			if _, err := later.Revoke(f.ctx, admin, "jane-pe", k.Version, "keyCompromise"); err != nil {
				t.Fatal(err)
			}
			rep := f.verifyFile(t, sealed)
			s := rep.Signatures[0]
			if rep.Verdict != verify.Valid || s.Custody == nil || s.Custody.RevokedAt == nil {
				t.Fatalf("sealed before the revocation: %s %s/%s %q %+v", rep.Verdict, s.Indication, s.SubIndication, s.Reasons, s.Custody)
			}
			if !strings.Contains(strings.Join(s.Notes, "\n"), "its seal entry (acme #") {
				t.Errorf("notes %q", s.Notes)
			}
			rep = f.verifyFile(t, outside)
			if s := rep.Signatures[0]; rep.Verdict == verify.Valid || s.SubIndication != verify.RevokedNoPOE {
				t.Fatalf("no receipt, revoked: %s %s/%s %q", rep.Verdict, s.Indication, s.SubIndication, s.Reasons)
			}
		})
	}
}

// TestApprovalSealsOnce: the same approval cannot seal twice (a replayed
// or retried request): the second seal is refused when it is recorded,
// and nothing is released.
func TestApprovalSealsOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{}
			a := f.approve(t, opts)
			if _, err := f.sealCustody(t, f.svc, f.out("first.pdf"), a, opts); err != nil {
				t.Fatal(err)
			}
			_, err := f.sealCustody(t, f.svc, f.out("again.pdf"), a, opts)
			var se *seal.Error
			if !errors.Is(err, custody.ErrConflict) || !errors.As(err, &se) || se.Step != seal.StepRecord {
				t.Fatalf("second seal with one approval: %v", err)
			}
			f.onlyFiles(t, "first.pdf")
			if got := f.seals(t); len(got) != 1 {
				t.Fatalf("%d seal entries", len(got))
			}
			f.chainOK(t)
		})
	}
}

// TestInputChangedAfterApproval: the key signs only the approved bytes. A
// document rewritten while it is copied into the sealed file (after its
// hash was checked against the approval) is refused before anything is
// signed.
func TestInputChangedAfterApproval(t *testing.T) {
	f := newFixture(t, backends[0])
	opts := seal.Options{Now: f.clk.now}
	a := f.approve(t, opts)
	changed := false
	// Progress is first called after the approval was checked (while the
	// input is parsed or copied): the input changes then, in the middle
	// of a stream the parser does not decode.
	opts.Progress = func(done, total int64) {
		if changed {
			return
		}
		changed = true
		w, err := os.OpenFile(f.in, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer w.Close()
		if _, err := w.WriteAt([]byte{'X'}, total/2); err != nil {
			t.Error(err)
		}
	}
	job, err := seal.Open(f.in, f.out("sealed.pdf"), seal.Output{})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	_, err = job.SealCustody(f.ctx, f.svc, seal.CustodyRequest{Identity: "jane-pe", Approval: a, Options: opts})
	var se *seal.Error
	if !changed || !errors.Is(err, seal.ErrNotApproved) || !errors.As(err, &se) || se.Step != seal.StepApproval {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	job.Close()
	f.onlyFiles(t)
	if got := f.seals(t); len(got) != 0 {
		t.Fatalf("%d seal entries", len(got))
	}
}

// TestSealWithOpenedKey: a caller that opened the identity's active key
// already (the server, to build the intent) hands it to the pipeline,
// which seals with it into a scratch output. A key of another identity is
// refused before anything is signed; a key opened before a rotation is
// refused by the seal entry's transaction (its version is no longer the
// active one), and nothing is released.
func TestSealWithOpenedKey(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{Now: f.clk.now}
			sealWith := func(out string, key *custody.SealKey, a seal.Approval) (*seal.Result, error) {
				job, err := seal.Open(f.in, f.out(out), seal.Output{Scratch: true})
				if err != nil {
					t.Fatal(err)
				}
				defer job.Close()
				return job.SealCustody(f.ctx, f.svc, seal.CustodyRequest{Identity: "jane-pe", Key: key, Approval: a, Options: opts})
			}
			k := f.activeKey(t)
			res, err := sealWith("sealed.pdf", &k, f.approve(t, opts))
			if err != nil {
				t.Fatal(f.err(err))
			}
			if res.Receipt == nil || res.Receipt.Subject.Version != k.Version || fileSHA256(t, f.out("sealed.pdf")) != res.SealedSHA256 {
				t.Fatalf("result %+v", res)
			}
			if rep := f.verifyFile(t, f.out("sealed.pdf")); rep.Verdict != verify.Valid {
				t.Fatalf("the sealed file: %s", rep.Verdict)
			}

			other := k
			other.Identity = "mallory-pe"
			_, err = sealWith("other.pdf", &other, f.approve(t, opts))
			var se *seal.Error
			if !errors.Is(err, custody.ErrInvalidInput) || !errors.As(err, &se) || se.Step != seal.StepKey {
				t.Errorf("another identity's key: %v", err)
			}

			stale := f.approve(t, opts) // approves version 1, which k holds
			f.generate(t, "jane-pe")
			_, err = sealWith("stale.pdf", &k, stale)
			if !(errors.Is(err, custody.ErrTransition) || errors.Is(err, custody.ErrConflict)) || !errors.As(err, &se) || se.Step != seal.StepRecord {
				t.Errorf("a key opened before a rotation: %v", err)
			}
			f.onlyFiles(t, "sealed.pdf")
			if got := f.seals(t); len(got) != 1 {
				t.Fatalf("%d seal entries", len(got))
			}
			f.chainOK(t)
		})
	}
}
