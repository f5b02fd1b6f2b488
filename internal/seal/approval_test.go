package seal_test

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/intent"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/pdf"
	"sealkeep/internal/seal"
	"sealkeep/internal/store"
)

// lastStep is the last TOTP step the store accepted for u (0: none).
func (f *fixture) lastStep(t *testing.T, u store.User) int64 {
	t.Helper()
	var last store.TOTPUse
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		var err error
		last, err = tx.LastTOTPStep(u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return last.Step
}

// replays returns the purposes of the refused TOTP replays of u in the
// system chain.
func (f *fixture) replays(t *testing.T, u store.User) []string {
	t.Helper()
	var out []string
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == audit.ActionSecurityTOTPReplay && e.Details[audit.DetailUser] == u.ID {
				out = append(out, e.Details["purpose"])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIntentOptions: every option that changes the sealed document is in
// the intent's option map, and changing any one changes the intent's
// digest. Each field of the option types is named here, covered or not
// (with why), so that a field added later fails the test until it is
// classified.
func TestIntentOptions(t *testing.T) {
	root := pkitest.Root(t, "intent CA")
	issue := func() *x509.Certificate {
		return pkitest.Issue(t, root, pkitest.LeafTemplate("Jane Doe"), pkitest.Key(t, keypolicy.ECDSAP256, "intent").Public())
	}
	key := custody.SealKey{Org: "acme", Identity: "jane-pe", Owner: "u-jane", Version: 1, Leaf: issue()}
	base := func() seal.Options {
		return seal.Options{PDF: pdf.SealOptions{Visible: &pdf.Appearance{Page: 1, Rect: [4]float64{10, 10, 200, 80}, Image: []byte("png")}}}
	}
	changes := map[string]func(o *seal.Options){
		"PDF.Name":              func(o *seal.Options) { o.PDF.Name = "Someone Else" },
		"PDF.Reason":            func(o *seal.Options) { o.PDF.Reason = "Approved" },
		"PDF.Location":          func(o *seal.Options) { o.PDF.Location = "Austin" },
		"PDF.ContactInfo":       func(o *seal.Options) { o.PDF.ContactInfo = "jane@example.com" },
		"PDF.Time":              func(o *seal.Options) { o.PDF.Time = time.Unix(1e9, 0) },
		"PDF.SubFilter":         func(o *seal.Options) { o.PDF.SubFilter = pdf.PKCS7Detached },
		"PDF.FieldName":         func(o *seal.Options) { o.PDF.FieldName = "Engineer" },
		"PDF.Visible":           func(o *seal.Options) { o.PDF.Visible = nil },
		"PDF.Visible.Page":      func(o *seal.Options) { o.PDF.Visible.Page = 2 },
		"PDF.Visible.Rect":      func(o *seal.Options) { o.PDF.Visible.Rect[3] = 81 },
		"PDF.Visible.Rect (x0)": func(o *seal.Options) { o.PDF.Visible.Rect[0] = 10.5 },
		"PDF.Visible.Image":     func(o *seal.Options) { o.PDF.Visible.Image = []byte("jpg") },
		"PDF.DocMDP":            func(o *seal.Options) { o.PDF.DocMDP = 2 },
		"TSA":                   func(o *seal.Options) { o.TSA = "http://tsa.example/" },
	}
	notInIntent := map[string]string{
		"PDF.Digest":        "set by the pipeline from the key",
		"PDF.ContentsSize":  "set by the pipeline from the key, chain and TSA",
		"PDF.Limits":        "bounds reading; writes nothing",
		"PDF.Visible.Lines": "set by the pipeline: the signer name (in the intent) and the clock",
		"Progress":          "a callback; writes nothing",
		"Now":               "the clock",
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			name := prefix + typ.Field(i).Name
			_, covered := changes[name]
			_, excluded := notInIntent[name]
			if container := typ.Field(i).Type.Kind() == reflect.Struct; !covered && !excluded && !container {
				t.Errorf("option %s is neither in the seal intent nor said to write nothing the approval covers", name)
			}
			switch ft := typ.Field(i).Type; ft {
			case reflect.TypeFor[pdf.SealOptions]():
				walk(name+".", ft)
			case reflect.TypeFor[*pdf.Appearance]():
				walk(name+".", ft.Elem())
			}
		}
	}
	walk("", reflect.TypeFor[seal.Options]())

	digest := func(k custody.SealKey, o seal.Options) [32]byte {
		in, err := seal.IntentFor(k, "u-jane", sha256.Sum256([]byte("doc")), o, time.Unix(2e9, 0), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		in.Nonce = [16]byte{1} // the nonce aside, equal options give equal intents
		return in.Digest()
	}
	ref := digest(key, base())
	seen := map[[32]byte]string{ref: "nothing"}
	changes["TSA (another URL)"] = func(o *seal.Options) { o.TSA = "http://other-tsa.example/" }
	for name, change := range changes {
		o := base()
		v := *o.PDF.Visible
		o.PDF.Visible = &v
		change(&o)
		d := digest(key, o)
		if prev, dup := seen[d]; dup {
			t.Errorf("changing %s gives the digest of changing %s", name, prev)
		}
		seen[d] = name
		if maps.Equal(seal.IntentOptions(key, o), seal.IntentOptions(key, base())) {
			t.Errorf("changing %s leaves the option map as it was", name)
		}
	}
	// Options that write the same document give the same intent: the
	// default subfilter named, the certificate's name given.
	same := base()
	same.PDF.SubFilter, same.PDF.Name = pdf.CAdESDetached, "Jane Doe"
	if digest(key, same) != ref {
		t.Errorf("the default subfilter and name, spelled out, change the intent: %v", seal.IntentOptions(key, same))
	}
	// Another certificate with the same name is another intent.
	k2 := key
	k2.Leaf = issue()
	if digest(k2, base()) == ref {
		t.Error("the intent does not name the certificate")
	}
}

// TestReplayedCodeRefused: a code that sealed once is refused for another
// seal, before anything is signed, and audited; two approvals checked
// with one code before either committed seal once: the second fails when
// its step is recorded in the seal entry's transaction, releases nothing
// and is audited.
func TestReplayedCodeRefused(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{}
			code := f.nextCode(t, f.jane)
			if _, err := f.sealCustody(t, f.svc, f.out("first.pdf"), f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code), opts); err != nil {
				t.Fatal(err)
			}
			in := f.intent(t, f.jane, f.in, opts)
			_, err := seal.CheckTOTP(f.ctx, f.auth, f.jane.ID, code, in, "192.0.2.7")
			if !errors.Is(f.err(err), auth.ErrReplay) {
				t.Fatalf("replayed code: %v", err)
			}
			d := in.Digest()
			if got := f.replays(t, f.jane); len(got) != 1 || got[0] != fmt.Sprintf("intent:%x", d) {
				t.Fatalf("replays audited: %q", got)
			}

			// Two approvals with one fresh code, checked before either
			// commits.
			code = f.nextCode(t, f.jane)
			a1 := f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code)
			a2 := f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code)
			if _, err := f.sealCustody(t, f.svc, f.out("second.pdf"), a1, opts); err != nil {
				t.Fatal(err)
			}
			_, err = f.sealCustody(t, f.svc, f.out("third.pdf"), a2, opts)
			var se *seal.Error
			if !errors.Is(err, auth.ErrReplay) || !errors.As(err, &se) || se.Step != seal.StepRecord {
				t.Fatalf("second seal with one code: %v", err)
			}
			f.onlyFiles(t, "first.pdf", "second.pdf")
			if got := f.seals(t); len(got) != 2 {
				t.Fatalf("%d seal entries", len(got))
			}
			if got := f.replays(t, f.jane); len(got) != 2 {
				t.Fatalf("replays audited: %q", got)
			}
			f.chainOK(t)
		})
	}
}

// TestConcurrentSealsOneCode: two server instances (two store handles on
// one database) each check one code for a seal of their own and seal at
// once: exactly one seal entry commits, the other request fails with a
// replay, releases no file and is audited.
func TestConcurrentSealsOneCode(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			second := f.reopen()
			type instance struct {
				svc *custody.Service
				a   seal.Approval
				out string
			}
			opts := seal.Options{}
			code := f.nextCode(t, f.jane)
			authB := auth.New(second, f.kek, auth.Options{Clock: f.clk.now, Password: cheap})
			inB := f.intent(t, f.jane, f.in, opts)
			aB, err := seal.CheckTOTP(f.ctx, authB, f.jane.ID, code, inB, "192.0.2.8")
			if err != nil {
				t.Fatal(err)
			}
			insts := []instance{
				{f.svc, f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code), f.out("a.pdf")},
				{custody.New(second, f.kek, custody.Options{Clock: f.clk.now}), aB, f.out("b.pdf")},
			}
			errs := make([]error, len(insts))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, in := range insts {
				wg.Go(func() {
					job, err := seal.Open(f.in, in.out, seal.Output{})
					if err != nil {
						errs[i] = err
						return
					}
					defer job.Close()
					<-start
					_, errs[i] = job.SealCustody(f.ctx, in.svc, seal.CustodyRequest{Identity: "jane-pe", Approval: in.a, Options: seal.Options{Now: f.clk.now}})
					f.err(errs[i])
				})
			}
			close(start)
			wg.Wait()
			won := -1
			for i, err := range errs {
				switch {
				case err == nil && won < 0:
					won = i
				case err == nil:
					t.Fatal("both requests sealed with one code")
				case !errors.Is(err, auth.ErrReplay):
					t.Errorf("instance %d: %v", i, err)
				}
			}
			if won < 0 {
				t.Fatalf("no request sealed: %v", errs)
			}
			f.onlyFiles(t, map[int]string{0: "a.pdf", 1: "b.pdf"}[won])
			if got := f.seals(t); len(got) != 1 {
				t.Fatalf("%d seal entries", len(got))
			}
			if got := f.replays(t, f.jane); len(got) != 1 {
				t.Fatalf("replays audited: %q", got)
			}
			f.chainOK(t)
		})
	}
}

// TestApprovalForAnotherDocument: jane's approval of sealing document A
// does not seal document B.
func TestApprovalForAnotherDocument(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			other := f.out("other.pdf")
			if err := os.WriteFile(other, must(os.ReadFile("../pdf/testdata/corpus/cairo-chart.pdf"))(t), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := seal.Options{}
			a := f.approve(t, opts) // of f.in
			_, err := f.sealFile(t, f.svc, other, f.out("sealed.pdf"), a, opts)
			var se *seal.Error
			if !errors.Is(err, seal.ErrNotApproved) || !errors.As(err, &se) || se.Step != seal.StepApproval ||
				!strings.Contains(err.Error(), "another document") {
				t.Fatalf("approval of A sealing B: %v", err)
			}
			f.onlyFiles(t, "other.pdf")
			if got := f.seals(t); len(got) != 0 {
				t.Fatalf("%d seal entries", len(got))
			}
		})
	}
}

// TestAnotherUsersIdentity: nobody but jane approves a seal with jane-pe:
// not mallory (a sealer of the same org) with her own intent, with jane's
// intent, or with her code claiming to be jane; not the owner; not the
// operator.
func TestAnotherUsersIdentity(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{}
			malCode := f.nextCode(t, f.mal)
			janes := f.intent(t, f.jane, f.in, opts)
			for name, tc := range map[string]struct {
				user store.User
				in   intent.Intent
				want error
			}{
				"mallory's intent on jane-pe": {f.mal, f.intent(t, f.mal, f.in, opts), auth.ErrForbidden},
				"jane's intent, as mallory":   {f.mal, janes, auth.ErrForbidden},
				"mallory's code, as jane":     {f.jane, janes, auth.ErrUnauthenticated},
				"the owner":                   {f.olive, f.intent(t, f.olive, f.in, opts), auth.ErrForbidden},
				"the operator":                {f.op, f.intent(t, f.op, f.in, opts), auth.ErrForbidden},
			} {
				_, err := seal.CheckTOTP(f.ctx, f.auth, tc.user.ID, malCode, tc.in, "192.0.2.9")
				if !errors.Is(f.err(err), tc.want) {
					t.Errorf("%s: %v, want %v", name, err, tc.want)
				}
			}
			// An approval that no auth layer checked, of mallory's intent on
			// jane-pe: the pipeline refuses it on its own.
			_, err := f.sealCustody(t, f.svc, f.out("stolen.pdf"), stub{f.intent(t, f.mal, f.in, opts)}, opts)
			if !errors.Is(err, seal.ErrNotApproved) || !strings.Contains(err.Error(), "not the approving user's") {
				t.Fatalf("mallory's stub approval: %v", err)
			}
			f.onlyFiles(t)
			if got := f.seals(t); len(got) != 0 {
				t.Fatalf("%d seal entries", len(got))
			}
		})
	}
}

// TestRecordHook: the caller's Record runs in the seal entry's
// transaction with the committed entry and exactly the released bytes;
// its failure rolls back the entry and the approval and releases nothing.
func TestRecordHook(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			opts := seal.Options{Now: f.clk.now}
			code := f.nextCode(t, f.jane)
			run := func(out string, rec func(store.Tx, audit.Entry, []byte) error) (*seal.Result, error) {
				job, err := seal.Open(f.in, out, seal.Output{})
				if err != nil {
					t.Fatal(err)
				}
				defer job.Close()
				a := f.approveAs(t, f.jane, f.intent(t, f.jane, f.in, opts), code)
				return job.SealCustody(f.ctx, f.svc, seal.CustodyRequest{Identity: "jane-pe", Approval: a, Options: opts, Record: rec})
			}
			_, err := run(f.out("failed.pdf"), func(store.Tx, audit.Entry, []byte) error { return errInjected })
			if !errors.Is(err, errInjected) {
				t.Fatalf("err = %v", err)
			}
			f.onlyFiles(t)
			if len(f.seals(t)) != 0 || f.lastStep(t, f.jane) >= f.step() {
				t.Fatal("a failed Record left a seal entry or a used step")
			}
			var got audit.Entry
			var bytes []byte
			res, err := run(f.out("sealed.pdf"), func(tx store.Tx, e audit.Entry, sealed []byte) error {
				got, bytes = e, sealed
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash != res.Receipt.Hash || got.Seq != res.Receipt.Seq {
				t.Errorf("Record saw entry %+v, the receipt is %+v", got, res.Receipt)
			}
			if sum := sha256.Sum256(bytes); fmt.Sprintf("%x", sum) != fileSHA256(t, f.out("sealed.pdf")) {
				t.Error("Record saw other bytes than the released file")
			}
		})
	}
}
