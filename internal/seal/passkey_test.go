package seal_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/intent"
	"sealkeep/internal/passkey"
	"sealkeep/internal/passkey/passkeytest"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/seal"
	"sealkeep/internal/store"
)

const (
	pkRPID   = "sealkeep.example"
	pkOrigin = "https://sealkeep.example"
)

// passkeys gives the fixture a passkey service and registers a passkey
// ("YubiKey 5C") of jane on a software authenticator.
func (f *fixture) passkeys(t *testing.T) (*passkey.Service, *passkeytest.Authenticator) {
	t.Helper()
	svc, err := passkey.New(f.st, passkey.Config{RPID: pkRPID, Origins: []string{pkOrigin}, Clock: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	a := passkeytest.New(pkOrigin)
	b := must(svc.BeginRegistration(f.ctx, f.jane.ID))(t)
	resp := must(a.Create(mustJSON(t, b.Options)))(t)
	n := must(svc.CheckRegistration(f.ctx, f.jane.ID, b.Ceremony, "YubiKey 5C", resp))(t)
	if err := svc.CommitRegistration(f.ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	return svc, a
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// approvePasskey has jane approve sealing f.in with opts with her passkey.
func (f *fixture) approvePasskey(t *testing.T, svc *passkey.Service, a *passkeytest.Authenticator, opts seal.Options) seal.Approval {
	t.Helper()
	b := must(svc.BeginSeal(f.ctx, f.intent(t, f.jane, f.in, opts)))(t)
	resp := must(a.Get(mustJSON(t, b.Options)))(t)
	ap, err := seal.CheckPasskey(f.ctx, svc, f.jane.ID, b.Ceremony, resp)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// TestPasskeySeal: a seal approved with jane's passkey records the
// assertion and the intent; audit verify re-verifies it against the key
// the system chain registered; the verifier's receipt names the passkey
// over this document's SHA-256; the approval seals once.
func TestPasskeySeal(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			svc, a := f.passkeys(t)
			opts := seal.Options{}
			ap := f.approvePasskey(t, svc, a, opts)
			out := f.out("sealed.pdf")
			res, err := f.sealCustody(t, f.svc, out, ap, opts)
			if err != nil {
				t.Fatal(err)
			}
			e := *res.Receipt
			if e.Details[audit.DetailMFAMethod] != audit.MethodWebAuthn || e.Details[audit.DetailIntent] == "" {
				t.Fatalf("seal entry details %v", e.Details)
			}
			var ev map[string]string
			if err := json.Unmarshal([]byte(e.Details[audit.DetailMFAEvidence]), &ev); err != nil || ev[audit.EvidenceSignCount] != "1" ||
				ev[audit.EvidenceCredentialID] != base64.RawURLEncoding.EncodeToString(a.Credentials()[0].ID) {
				t.Fatalf("evidence %v, %v", ev, err)
			}
			f.chainOK(t)
			if rep, err := f.svc.VerifyChain(f.ctx, audit.SystemChain, nil, nil, nil); err != nil || !rep.OK() {
				t.Fatalf("system chain: %+v, %v", rep.Break, err)
			}
			s := f.verifyFile(t, out).Signatures[0]
			want := `approved by jane's passkey "YubiKey 5C" over this document's SHA-256`
			if s.Verdict != verify.Valid || s.Receipt == nil || !s.Receipt.ThisDocument || !strings.Contains(s.Receipt.Summary, want) {
				t.Fatalf("verdict %s, receipt %+v", s.Verdict, s.Receipt)
			}
			if ap := s.Receipt.Approval; ap == nil || ap.Method != "webauthn" || ap.Approver != "jane" || ap.Passkey != "YubiKey 5C" {
				t.Errorf("receipt approval %+v", ap)
			}
			// The same approval seals nothing more (custody refuses an
			// intent that sealed already, before the ceremony is looked at).
			if _, err := f.sealCustody(t, f.svc, f.out("again.pdf"), ap, opts); err == nil {
				t.Error("a second seal with one approval")
			}
			if n := len(f.seals(t)); n != 1 {
				t.Errorf("%d seal entries", n)
			}
			f.onlyFiles(t, "sealed.pdf")
		})
	}
}

// TestPasskeyApprovalOtherSeal: a passkey approval of document A, or of
// other options, seals neither B nor A with those options: the pipeline
// refuses before signing, and the ceremony stays unfinished.
func TestPasskeyApprovalOtherSeal(t *testing.T) {
	f := newFixture(t, backends[0])
	svc, a := f.passkeys(t)
	ap := f.approvePasskey(t, svc, a, seal.Options{})
	other := f.out("other.pdf")
	b := must(os.ReadFile(f.in))(t)
	if err := os.WriteFile(other, append(b, "\n% another document\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sealFile(t, f.svc, other, f.out("b.pdf"), ap, seal.Options{}); !errors.Is(err, seal.ErrNotApproved) {
		t.Errorf("approval of A sealing B: %v, want ErrNotApproved", err)
	}
	opts := seal.Options{}
	opts.PDF.Reason = "another reason"
	if _, err := f.sealCustody(t, f.svc, f.out("c.pdf"), ap, opts); !errors.Is(err, seal.ErrNotApproved) {
		t.Errorf("approval with other options: %v, want ErrNotApproved", err)
	}
	if got := f.seals(t); len(got) != 0 {
		t.Errorf("%d seal entries", len(got))
	}
	f.onlyFiles(t, "other.pdf")
}

// sealWithPasskey seals f.in on jane's passkey approval and returns the
// seal entry.
func (f *fixture) sealWithPasskey(t *testing.T) audit.Entry {
	t.Helper()
	svc, a := f.passkeys(t)
	res, err := f.sealCustody(t, f.svc, f.out("sealed.pdf"), f.approvePasskey(t, svc, a, seal.Options{}), seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return *res.Receipt
}

// forge appends, through the store (linked and hashed right, as sealkeep
// itself would write it), a copy of seal entry orig with edit applied to
// its details.
func (f *fixture) forge(t *testing.T, orig audit.Entry, edit func(d map[string]string)) audit.Entry {
	t.Helper()
	e := audit.Entry{Chain: orig.Chain, Time: f.clk.now(), Actor: orig.Actor, Action: orig.Action, Subject: orig.Subject,
		Details: maps.Clone(orig.Details)}
	edit(e.Details)
	var got audit.Entry
	if err := f.st.Update(f.ctx, func(tx store.Tx) error {
		var err error
		got, err = tx.AppendAudit(e)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// flip changes one byte (index i) of the evidence member key.
func flip(t *testing.T, key string, i int) func(d map[string]string) {
	return func(d map[string]string) {
		var ev map[string]string
		if err := json.Unmarshal([]byte(d[audit.DetailMFAEvidence]), &ev); err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(ev[key])
		raw[i%len(raw)] ^= 0x01
		ev[key] = base64.RawURLEncoding.EncodeToString(raw)
		d[audit.DetailMFAEvidence] = string(mustJSON(t, ev))
	}
}

// wantApprovalBreak checks that audit verify breaks acme's chain at seq
// with the given problem.
func (f *fixture) wantBreak(t *testing.T, seq uint64, p audit.Problem) {
	t.Helper()
	rep, err := f.svc.VerifyChain(f.ctx, "acme", nil, nil, nil)
	if err != nil || rep.Break == nil || rep.Break.Seq != seq || rep.Break.Problem != p {
		t.Fatalf("audit verify: %+v, %v; want %s at seq %d", rep.Break, err, p, seq)
	}
}

// TestPasskeyTamperedAssertion: one byte of a stored assertion changed
// breaks audit verify at that seal entry, whether the forged entry is
// written through the store, linked and hashed right (approval), or an
// insider edits the stored row (edited); the sealed file's receipt cannot
// be given then.
func TestPasskeyTamperedAssertion(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			orig := f.sealWithPasskey(t)
			forged := f.forge(t, orig, flip(t, audit.EvidenceSignature, 20))
			f.wantBreak(t, forged.Seq, audit.ProblemApproval)
			var ev map[string]string
			if err := json.Unmarshal([]byte(orig.Details[audit.DetailMFAEvidence]), &ev); err != nil {
				t.Fatal(err)
			}
			sig := ev[audit.EvidenceSignature]
			bad := []byte(sig)
			bad[10] = map[bool]byte{true: 'A', false: 'B'}[bad[10] != 'A']
			f.exec("UPDATE audit_entries SET details = REPLACE(details, '" + sig + "', '" + string(bad) + "') WHERE seq = " +
				strconv.FormatUint(orig.Seq, 10) + " AND chain = 'acme'")
			f.wantBreak(t, orig.Seq, audit.ProblemEdited)
			s := f.verifyFile(t, f.out("sealed.pdf")).Signatures[0]
			if s.Verdict == verify.Valid || (s.Receipt != nil && s.Receipt.Found) {
				t.Errorf("receipt of a tampered approval: %s %+v", s.Verdict, s.Receipt)
			}
		})
	}
}

// TestPasskeyForgedApprovals: seal entries written through the store with
// a changed authenticator data or client data byte, with the approval of
// another seal recorded again, or with another document than the one the
// passkey signed the intent of, each break audit verify at that entry;
// and a genuine passkey seal's receipt is refused once the system chain
// no longer verifies.
func TestPasskeyForgedApprovals(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(t *testing.T) func(d map[string]string)
	}{
		{"authenticator data byte", func(t *testing.T) func(map[string]string) { return flip(t, audit.EvidenceAuthenticatorData, 33) }},
		{"client data byte", func(t *testing.T) func(map[string]string) { return flip(t, audit.EvidenceClientDataJSON, 40) }},
		{"credential ID byte", func(t *testing.T) func(map[string]string) { return flip(t, audit.EvidenceCredentialID, 0) }},
		{"recorded twice", func(*testing.T) func(map[string]string) { return func(map[string]string) {} }},
		{"another document", func(*testing.T) func(map[string]string) {
			return func(d map[string]string) { d[audit.DetailDocumentSHA256] = strings.Repeat("ab", 32) }
		}},
		{"intent of another document", func(t *testing.T) func(map[string]string) {
			return func(d map[string]string) {
				raw, _ := base64.RawURLEncoding.DecodeString(d[audit.DetailIntent])
				in, err := intent.Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				in.DocumentSHA256[0] ^= 1
				dg := in.Digest()
				d[audit.DetailIntent] = base64.RawURLEncoding.EncodeToString(in.Canonical())
				d[audit.DetailIntentSHA256] = hex.EncodeToString(dg[:])
				d[audit.DetailDocumentSHA256] = hex.EncodeToString(in.DocumentSHA256[:])
			}
		}},
		{"no intent", func(*testing.T) func(map[string]string) {
			return func(d map[string]string) { delete(d, audit.DetailIntent) }
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, backends[0])
			forged := f.forge(t, f.sealWithPasskey(t), c.edit(t))
			f.wantBreak(t, forged.Seq, audit.ProblemApproval)
		})
	}
	t.Run("system chain broken", func(t *testing.T) {
		f := newFixture(t, backends[0])
		f.sealWithPasskey(t)
		f.chainOK(t)
		f.exec(`UPDATE audit_entries SET details = REPLACE(details, '"name":"YubiKey 5C"', '"name":"Evil key"') WHERE action = 'passkey.register'`)
		rep, err := f.svc.VerifyChain(f.ctx, "acme", nil, nil, nil)
		if err != nil || rep.Break == nil || rep.Break.Problem != audit.ProblemApproval || !strings.Contains(rep.Break.Reason, "system chain") {
			t.Fatalf("audit verify of acme: %+v, %v", rep.Break, err)
		}
		s := f.verifyFile(t, f.out("sealed.pdf")).Signatures[0]
		if s.Verdict == verify.Valid {
			t.Errorf("receipt given with a broken system chain: %+v", s.Receipt)
		}
	})
}

// TestPasskeySealEntryFails: when the seal entry cannot be written, no
// sealed file is released and the passkey approval is not used up (its
// ceremony and counter rolled back with the entry): the same approval
// then seals once.
func TestPasskeySealEntryFails(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			svc, a := f.passkeys(t)
			ap := f.approvePasskey(t, svc, a, seal.Options{})
			broken := custody.New(failingStore{f.st, false}, f.kek, custody.Options{Clock: f.clk.now})
			if _, err := f.sealCustody(t, broken, f.out("sealed.pdf"), ap, seal.Options{}); !errors.Is(err, errInjected) {
				t.Fatalf("err = %v", err)
			}
			f.onlyFiles(t)
			if got := f.seals(t); len(got) != 0 {
				t.Fatalf("seal entries: %+v", got)
			}
			list := must(svc.Credentials(f.ctx, f.jane.ID))(t)
			if list[0].SignCount != 0 || !list[0].LastUsedAt.IsZero() {
				t.Fatalf("the failed seal advanced the counter: %+v", list[0])
			}
			if _, err := f.sealCustody(t, f.svc, f.out("sealed.pdf"), ap, seal.Options{}); err != nil {
				t.Fatalf("the same approval after the failure: %v", err)
			}
			if got := f.seals(t); len(got) != 1 {
				t.Fatalf("%d seal entries", len(got))
			}
			f.chainOK(t)
		})
	}
}

// TestIntentTooLongToRecord: a seal whose canonical intent does not fit
// its audit entry (long reason, location and contact texts) is refused
// before anything is signed, rather than sealed without its intent.
func TestIntentTooLongToRecord(t *testing.T) {
	f := newFixture(t, backends[0])
	opts := seal.Options{}
	long := strings.Repeat("x", 1000)
	opts.PDF.Reason, opts.PDF.Location, opts.PDF.ContactInfo = long, long, long
	_, err := f.sealCustody(t, f.svc, f.out("sealed.pdf"), stub{f.intent(t, f.jane, f.in, opts)}, opts)
	var se *seal.Error
	if !errors.Is(err, seal.ErrNotApproved) || errs.KindOf(err) != errs.Invalid || !errors.As(err, &se) || se.Step != seal.StepApproval || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("err = %v", err)
	}
	f.onlyFiles(t)
	if got := f.seals(t); len(got) != 0 {
		t.Fatalf("seal entries: %+v", got)
	}
}
