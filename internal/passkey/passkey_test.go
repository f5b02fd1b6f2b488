package passkey_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/intent"
	"sealkeep/internal/passkey"
	"sealkeep/internal/passkey/passkeytest"
	"sealkeep/internal/store"
)

var b64 = base64.RawURLEncoding

// TestRegister: a real registration ceremony stores the credential and
// appends passkey.register with its ID and the public key the
// authenticator made; the trail's registry accepts the entry; the
// credential is listed with its registration's seq; a second finish of
// the ceremony and a second registration of the same authenticator are
// refused.
func TestRegister(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		a := passkeytest.New(origin)
		a.BackupEligible = true
		n := w.register(t, w.pk, w.jane, a, "YubiKey 5C")
		cred := a.Credentials()[0]
		if !bytes.Equal(n.Credential.ID, cred.ID) {
			t.Fatalf("registered ID %x, the authenticator's %x", n.Credential.ID, cred.ID)
		}
		regs := w.system(t, audit.ActionPasskeyRegister)
		if len(regs) != 1 {
			t.Fatalf("%d passkey.register entries", len(regs))
		}
		d := regs[0].Details
		for k, want := range map[string]string{
			audit.DetailUser: w.jane.ID, audit.DetailCredentialID: b64.EncodeToString(cred.ID),
			audit.DetailPublicKey: b64.EncodeToString(n.Credential.PublicKey), audit.DetailRPID: rpID,
			audit.DetailName: "YubiKey 5C", audit.DetailAAGUID: hex.EncodeToString(a.AAGUID[:]),
			audit.DetailAttestation: "none", audit.DetailBackupEligible: "true", audit.DetailBackupState: "false",
			audit.DetailSignCount: "0",
		} {
			if d[k] != want {
				t.Errorf("passkey.register %s = %q, want %q", k, d[k], want)
			}
		}
		if regs[0].Actor.ID != w.jane.ID {
			t.Errorf("actor %+v", regs[0].Actor)
		}
		if _, err := audit.ParseCOSEKey(n.Credential.PublicKey); err != nil {
			t.Errorf("the registered key: %v", err)
		}
		w.registry(t) // a malformed entry fails it
		list, err := w.pk.Credentials(w.ctx, w.jane.ID)
		if err != nil || len(list) != 1 || list[0].Name != "YubiKey 5C" || list[0].RegisteredSeq != regs[0].Seq ||
			!list[0].BackupEligible || list[0].Attestation != "none" || len(list[0].Transports) != 1 {
			t.Errorf("Credentials = %+v, %v", list, err)
		}
		if list, err := w.pk.Credentials(w.ctx, w.sam.ID); err != nil || len(list) != 0 {
			t.Errorf("sam's credentials = %+v, %v", list, err)
		}
		// A second finish of the same ceremony.
		if err := w.pk.CommitRegistration(w.ctx, n, nil); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("finished twice: %v, want ErrCeremony", err)
		}
		// The authenticator is excluded from registering again.
		b, err := w.pk.BeginRegistration(w.ctx, w.jane.ID)
		must(t, err)
		if _, err := a.Create(js(t, b.Options)); err == nil || !strings.Contains(err.Error(), "excluded") {
			t.Errorf("registering the same authenticator again: %v", err)
		}
		// Another user cannot register jane's credential as theirs: the
		// answer to jane's ceremony is refused for sam.
		b, err = w.pk.BeginRegistration(w.ctx, w.jane.ID)
		must(t, err)
		resp, err := passkeytest.New(origin).Create(js(t, b.Options))
		must(t, err)
		if _, err := w.pk.CheckRegistration(w.ctx, w.sam.ID, b.Ceremony, "stolen", resp); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("jane's ceremony finished by sam: %v, want ErrCeremony", err)
		}
	})
}

// TestRegisterRefused: no user verification, another origin, the answer
// to another ceremony, an expired ceremony, a bad name, and a required
// attestation format not given are each refused, and nothing is stored.
func TestRegisterRefused(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		try := func(name string, svc *passkey.Service, a *passkeytest.Authenticator, keyName string, before func(), want error) {
			t.Helper()
			b, err := svc.BeginRegistration(w.ctx, w.jane.ID)
			must(t, err)
			resp, err := a.Create(js(t, b.Options))
			must(t, err)
			if before != nil {
				before()
			}
			if _, err := svc.CheckRegistration(w.ctx, w.jane.ID, b.Ceremony, keyName, resp); !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", name, err, want)
			}
		}
		noUV := passkeytest.New(origin)
		noUV.NoUV = true
		try("no user verification", w.pk, noUV, "k", nil, passkey.ErrAssertion)
		try("another origin", w.pk, passkeytest.New("https://evil.example"), "k", nil, passkey.ErrAssertion)
		try("expired", w.pk, passkeytest.New(origin), "k", func() { w.clk.add(passkey.DefaultCeremonyTTL) }, passkey.ErrCeremony)
		try("control character in the name", w.pk, passkeytest.New(origin), "bad\nname", nil, passkey.ErrInvalidInput)
		try("empty name", w.pk, passkeytest.New(origin), "", nil, passkey.ErrInvalidInput)
		// The answer to ceremony A sent to ceremony B.
		a := passkeytest.New(origin)
		b1, err := w.pk.BeginRegistration(w.ctx, w.jane.ID)
		must(t, err)
		b2, err := w.pk.BeginRegistration(w.ctx, w.jane.ID)
		must(t, err)
		resp, err := a.Create(js(t, b1.Options))
		must(t, err)
		if _, err := w.pk.CheckRegistration(w.ctx, w.jane.ID, b2.Ceremony, "k", resp); !errors.Is(err, passkey.ErrAssertion) {
			t.Errorf("another ceremony's answer: %v, want ErrAssertion", err)
		}
		// A required format: "none" is refused, self-attested "packed"
		// accepted and recorded.
		strict := w.service(t, w.st, passkey.Config{Attestation: "packed"})
		try("attestation none where packed is required", strict, passkeytest.New(origin), "k", nil, passkey.ErrAssertion)
		packed := passkeytest.New(origin)
		packed.Format = "packed"
		n := w.register(t, strict, w.jane, packed, "packed key")
		if n.Credential.Attestation != "packed" {
			t.Errorf("attestation %q, want packed", n.Credential.Attestation)
		}
		if regs := w.system(t, audit.ActionPasskeyRegister); len(regs) != 1 || regs[0].Details[audit.DetailAttestation] != "packed" {
			t.Errorf("registrations: %+v", regs)
		}
	})
}

// TestRemove: removing a passkey deletes its row and appends
// passkey.remove with its ID and the registered key; another user cannot
// remove it; the registry then refuses an approval by it.
func TestRemove(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		a := passkeytest.New(origin)
		n := w.register(t, w.pk, w.jane, a, "key")
		if err := w.pk.RemoveCredential(w.ctx, w.sam.ID, n.Credential.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("removed by sam: %v, want ErrNotFound", err)
		}
		as, err := w.approve(t, w.pk, w.intent(t, w.jane, "id-jane", "doc"), a)
		must(t, err)
		must(t, w.pk.RemoveCredential(w.ctx, w.jane.ID, n.Credential.ID))
		if err := w.pk.RemoveCredential(w.ctx, w.jane.ID, n.Credential.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("removed twice: %v, want ErrNotFound", err)
		}
		rm := w.system(t, audit.ActionPasskeyRemove)
		if len(rm) != 1 || rm[0].Details[audit.DetailCredentialID] != b64.EncodeToString(n.Credential.ID) ||
			rm[0].Details[audit.DetailPublicKey] != b64.EncodeToString(n.Credential.PublicKey) {
			t.Fatalf("passkey.remove entries: %+v", rm)
		}
		// An approval checked before the removal no longer commits.
		if err := w.commit(w.pk, w.st, as); !errors.Is(err, passkey.ErrAssertion) {
			t.Errorf("commit after removal: %v, want ErrAssertion", err)
		}
		if _, err := w.pk.BeginSeal(w.ctx, w.intent(t, w.jane, "id-jane", "doc")); !errors.Is(err, passkey.ErrNoPasskey) {
			t.Errorf("seal without a passkey: %v, want ErrNoPasskey", err)
		}
		w.registry(t)
	})
}

// sealEntry is a seal entry recording approval a of in, as the pipeline
// writes one.
func sealEntry(t *testing.T, in intent.Intent, a passkey.Assertion, at time.Time) audit.Entry {
	t.Helper()
	ev, err := json.Marshal(a.Evidence())
	must(t, err)
	d := in.Digest()
	return audit.Entry{Chain: in.Org, Seq: 9, Time: at, Actor: audit.Actor{Kind: audit.ActorUser, ID: in.User}, Action: audit.ActionSeal,
		Subject: audit.Subject{Org: in.Org, Identity: in.Identity, Version: in.Version},
		Details: map[string]string{
			audit.DetailDocumentSHA256: hex.EncodeToString(in.DocumentSHA256[:]), audit.DetailSealedSHA256: strings.Repeat("1", 64),
			audit.DetailSignatureSHA256: strings.Repeat("2", 64), audit.DetailThumbprint: hex.EncodeToString(in.Thumbprint[:]),
			audit.DetailIntentSHA256: hex.EncodeToString(d[:]), audit.DetailField: "Signature1", audit.DetailPAdESLevel: audit.LevelBB,
			audit.DetailMFAMethod: audit.MethodWebAuthn, audit.DetailMFAEvidence: string(ev),
			audit.DetailIntent: b64.EncodeToString(in.Canonical()),
		}}
}

// TestSealApproval: the challenge is the intent's digest; the assertion
// commits once (a second commit, and a second check after it, fail with
// ErrCeremony); its evidence verifies as audit verify checks it, against
// the key the trail registered, and fails when one byte of it changes.
func TestSealApproval(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		a := passkeytest.New(origin)
		w.register(t, w.pk, w.jane, a, "key")
		in := w.intent(t, w.jane, "id-jane", "doc")
		b, err := w.pk.BeginSeal(w.ctx, in)
		must(t, err)
		ch, err := passkeytest.Challenge(js(t, b.Options))
		must(t, err)
		if d := in.Digest(); !bytes.Equal(ch, d[:]) {
			t.Fatalf("challenge %x, want the intent digest %x", ch, d)
		}
		resp, err := a.Get(js(t, b.Options))
		must(t, err)
		as, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, b.Ceremony, resp)
		must(t, err)
		if as.SignCount != 1 || as.Name != "key" || !bytes.Equal(as.Intent.Canonical(), in.Canonical()) {
			t.Errorf("assertion %+v", as)
		}
		must(t, w.commit(w.pk, w.st, as))
		if err := w.commit(w.pk, w.st, as); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("committed twice: %v, want ErrCeremony", err)
		}
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, b.Ceremony, resp); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("replayed after commit: %v, want ErrCeremony", err)
		}
		list, err := w.pk.Credentials(w.ctx, w.jane.ID)
		if err != nil || list[0].SignCount != 1 || !list[0].LastUsedAt.Equal(w.clk.now()) {
			t.Errorf("after use: %+v, %v", list, err)
		}
		reg := w.registry(t)
		e := sealEntry(t, in, as, w.clk.now())
		got, err := audit.CheckSealApproval(e, reg)
		if err != nil || got.Passkey == nil || got.Passkey.Name != "key" || got.Login != "jane" {
			t.Fatalf("CheckSealApproval = %+v, %v", got, err)
		}
		ev := as.Evidence()
		for _, k := range []string{audit.EvidenceAuthenticatorData, audit.EvidenceClientDataJSON, audit.EvidenceSignature} {
			raw, _ := b64.DecodeString(ev[k])
			for _, i := range []int{0, len(raw) / 2, len(raw) - 1} {
				bad := bytes.Clone(raw)
				bad[i] ^= 1
				e := sealEntry(t, in, as, w.clk.now())
				m := map[string]string{}
				must(t, json.Unmarshal([]byte(e.Details[audit.DetailMFAEvidence]), &m))
				m[k] = b64.EncodeToString(bad)
				e.Details[audit.DetailMFAEvidence] = string(js(t, m))
				if _, err := audit.CheckSealApproval(e, reg); !errors.Is(err, audit.ErrInvalidEntry) {
					t.Errorf("%s byte %d changed: %v, want ErrInvalidEntry", k, i, err)
				}
			}
		}
		// The same assertion recorded for another seal (another intent).
		other := w.intent(t, w.jane, "id-jane", "another document")
		if _, err := audit.CheckSealApproval(sealEntry(t, other, as, w.clk.now()), reg); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("the assertion recorded for another intent: %v", err)
		}
	})
}

// TestSealApprovalRefused: an assertion for intent A sent to intent B's
// ceremony, another user's credential, an assertion without user
// verification, another origin, an expired ceremony and another user's
// ceremony are refused.
func TestSealApprovalRefused(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		jane, sam := passkeytest.New(origin), passkeytest.New(origin)
		w.register(t, w.pk, w.jane, jane, "jane's key")
		w.register(t, w.pk, w.sam, sam, "sam's key")
		inA, inB := w.intent(t, w.jane, "id-jane", "A"), w.intent(t, w.jane, "id-jane", "B")
		bA, err := w.pk.BeginSeal(w.ctx, inA)
		must(t, err)
		bB, err := w.pk.BeginSeal(w.ctx, inB)
		must(t, err)
		respA, err := jane.Get(js(t, bA.Options))
		must(t, err)
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, bB.Ceremony, respA); !errors.Is(err, passkey.ErrAssertion) {
			t.Errorf("intent A's assertion for intent B: %v, want ErrAssertion", err)
		}
		// Sam's authenticator signs jane's challenge with sam's credential.
		samCred := sam.Credentials()[0]
		ch, err := passkeytest.Challenge(js(t, bB.Options))
		must(t, err)
		resp, err := sam.Assert(samCred, rpID, b64.EncodeToString(ch))
		must(t, err)
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, bB.Ceremony, resp); !errors.Is(err, passkey.ErrAssertion) {
			t.Errorf("another user's credential: %v, want ErrAssertion", err)
		}
		// Sam cannot finish jane's ceremony, even with jane's assertion.
		respB, err := jane.Get(js(t, bB.Options))
		must(t, err)
		if _, err := w.pk.CheckAssertion(w.ctx, w.sam.ID, bB.Ceremony, respB); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("jane's ceremony finished by sam: %v, want ErrCeremony", err)
		}
		// Sam cannot begin a seal of jane's identity.
		if _, err := w.pk.BeginSeal(w.ctx, w.intent(t, w.sam, "id-jane", "x")); err == nil {
			t.Error("sam began a passkey seal with jane's identity")
		}
		// Another relying party's or origin's assertion.
		ch, err = passkeytest.Challenge(js(t, bB.Options))
		must(t, err)
		resp, err = jane.Assert(jane.Credentials()[0], "evil.example", b64.EncodeToString(ch))
		must(t, err)
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, bB.Ceremony, resp); !errors.Is(err, passkey.ErrAssertion) {
			t.Errorf("another relying party: %v, want ErrAssertion", err)
		}
		phish := jane.Clone()
		phish.Origin = "https://sealkeep.example.evil"
		resp, err = phish.Get(js(t, bB.Options))
		must(t, err)
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, bB.Ceremony, resp); !errors.Is(err, passkey.ErrAssertion) {
			t.Errorf("another origin: %v, want ErrAssertion", err)
		}
		jane.NoUV = true
		if _, err := w.approve(t, w.pk, inA, jane); !errors.Is(err, passkey.ErrAssertion) {
			t.Errorf("no user verification: %v, want ErrAssertion", err)
		}
		jane.NoUV = false
		b, err := w.pk.BeginSeal(w.ctx, w.intent(t, w.jane, "id-jane", "late"))
		must(t, err)
		resp, err = jane.Get(js(t, b.Options))
		must(t, err)
		w.clk.add(2 * time.Minute)
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, b.Ceremony, resp); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("after the intent expired: %v, want ErrCeremony", err)
		}
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, "wc-none", resp); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("unknown ceremony: %v, want ErrCeremony", err)
		}
		if _, err := w.pk.CheckAssertion(w.ctx, w.jane.ID, b.Ceremony, []byte(`{"id":"x"}`)); err == nil {
			t.Error("a malformed answer was accepted")
		}
	})
}

// TestClonedAuthenticator: the clone's assertion repeats a counter the
// original already used: refused and audited as security.passkey_counter
// (at check, and at commit when both were checked before either
// committed); an authenticator without a counter (always 0) is accepted
// every time.
func TestClonedAuthenticator(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		orig := passkeytest.New(origin)
		w.register(t, w.pk, w.jane, orig, "key")
		clone := orig.Clone()
		as, err := w.approve(t, w.pk, w.intent(t, w.jane, "id-jane", "1"), orig)
		must(t, err)
		must(t, w.commit(w.pk, w.st, as))
		if _, err := w.approve(t, w.pk, w.intent(t, w.jane, "id-jane", "2"), clone); !errors.Is(err, passkey.ErrCounter) {
			t.Fatalf("the clone's assertion: %v, want ErrCounter", err)
		}
		// Checked together, committed one after the other: the second
		// counter is lower than the first's.
		a1, err := w.approve(t, w.pk, w.intent(t, w.jane, "id-jane", "3"), clone) // counter 2
		must(t, err)
		a2, err := w.approve(t, w.pk, w.intent(t, w.jane, "id-jane", "4"), orig) // counter 2 again
		must(t, err)
		must(t, w.commit(w.pk, w.st, a1))
		if err := w.commit(w.pk, w.st, a2); !errors.Is(err, passkey.ErrCounter) {
			t.Errorf("second commit with the same counter: %v, want ErrCounter", err)
		}
		got := w.system(t, audit.ActionSecurityPasskeyCounter)
		if len(got) != 2 || got[0].Details[audit.DetailSignCount] != "1" || got[0].Details["got"] != "1" ||
			got[1].Details[audit.DetailSignCount] != "2" || got[1].Details["got"] != "2" || got[1].Details[audit.DetailUser] != w.jane.ID {
			t.Errorf("security.passkey_counter entries: %+v", got)
		}
		zero := passkeytest.New(origin)
		var none uint32
		zero.CounterStep = &none
		w.register(t, w.pk, w.sam, zero, "synced")
		for i := range 3 {
			as, err := w.approve(t, w.pk, w.intent(t, w.sam, "id-sam", string(rune('a'+i))), zero)
			must(t, err)
			must(t, w.commit(w.pk, w.st, as))
		}
	})
}

// TestApprovalRace: one assertion committed by several requests through
// two store handles (two instances) at once commits exactly once.
func TestApprovalRace(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		a := passkeytest.New(origin)
		w.register(t, w.pk, w.jane, a, "key")
		as, err := w.approve(t, w.pk, w.intent(t, w.jane, "id-jane", "doc"), a)
		must(t, err)
		other := w.reopen()
		svcs := []struct {
			svc *passkey.Service
			st  store.Store
		}{{w.pk, w.st}, {w.service(t, other, passkey.Config{}), other}}
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			s := svcs[i%2]
			wg.Go(func() { errs <- w.commit(s.svc, s.st, as) })
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, passkey.ErrCeremony):
				t.Errorf("losing commit: %v, want ErrCeremony", err)
			}
		}
		if won != 1 {
			t.Errorf("%d commits won, want 1", won)
		}
	})
}

// TestTrailDecides: an insider moves sam's credential row to jane, or
// swaps jane's public key for sam's: jane's listing, seal begin and
// removal are refused with ErrStateMismatch and audited, and sam's
// authenticator approves nothing of jane's.
func TestTrailDecides(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		jane, sam := passkeytest.New(origin), passkeytest.New(origin)
		nj := w.register(t, w.pk, w.jane, jane, "jane's key")
		w.register(t, w.pk, w.sam, sam, "sam's key")
		w.exec(`UPDATE webauthn_credentials SET user_id = '` + w.jane.ID + `' WHERE user_id = '` + w.sam.ID + `'`)
		if _, err := w.pk.Credentials(w.ctx, w.jane.ID); !errors.Is(err, passkey.ErrStateMismatch) {
			t.Errorf("listing with a moved row: %v, want ErrStateMismatch", err)
		}
		if _, err := w.pk.BeginSeal(w.ctx, w.intent(t, w.jane, "id-jane", "doc")); !errors.Is(err, passkey.ErrStateMismatch) {
			t.Errorf("seal begin with a moved row: %v, want ErrStateMismatch", err)
		}
		w.exec(`UPDATE webauthn_credentials SET user_id = '` + w.sam.ID + `' WHERE user_id = '` + w.jane.ID + `' AND name = 'sam''s key'`)
		if _, err := w.pk.Credentials(w.ctx, w.jane.ID); err != nil {
			t.Fatalf("after the row was moved back: %v", err)
		}
		w.exec(`UPDATE webauthn_credentials SET public_key = (SELECT public_key FROM webauthn_credentials WHERE user_id = '` + w.sam.ID +
			`') WHERE user_id = '` + w.jane.ID + `'`)
		if _, err := w.pk.BeginSeal(w.ctx, w.intent(t, w.jane, "id-jane", "doc")); !errors.Is(err, passkey.ErrStateMismatch) {
			t.Errorf("seal begin with a swapped key: %v, want ErrStateMismatch", err)
		}
		if err := w.pk.RemoveCredential(w.ctx, w.jane.ID, nj.Credential.ID); !errors.Is(err, passkey.ErrStateMismatch) {
			t.Errorf("removal with a swapped key: %v, want ErrStateMismatch", err)
		}
		got := w.system(t, audit.ActionSecurityStateMismatch)
		if len(got) != 4 {
			t.Errorf("%d security.state_mismatch entries, want 4: %+v", len(got), got)
		}
		for _, e := range got {
			if e.Details[audit.DetailUser] == "" || e.Details[audit.DetailCredentialID] == "" {
				t.Errorf("mismatch entry %+v", e)
			}
		}
	})
}

// TestSystemChainChecksCredentials: audit verify of the system chain
// compares the credentials table with the passkeys the chain registers:
// a row moved to another user, given another key, inserted or deleted
// outside sealkeep is a state mismatch; the untouched table passes.
func TestSystemChainChecksCredentials(t *testing.T) {
	each(t, func(t *testing.T, w *world) {
		w.register(t, w.pk, w.jane, passkeytest.New(origin), "jane's key")
		w.register(t, w.pk, w.sam, passkeytest.New(origin), "sam's key")
		check := func(what string, want error) {
			t.Helper()
			rep, err := w.custody.VerifyChain(w.ctx, audit.SystemChain, nil, nil, nil)
			if !rep.OK() || !errors.Is(err, want) || (want == nil && err != nil) {
				t.Errorf("%s: %+v, %v; want %v", what, rep.Break, err, want)
			}
		}
		check("untouched", nil)
		w.exec(`UPDATE webauthn_credentials SET user_id = '` + w.jane.ID + `' WHERE user_id = '` + w.sam.ID + `'`)
		check("a row moved to jane", custody.ErrStateMismatch)
		w.exec(`UPDATE webauthn_credentials SET user_id = '` + w.sam.ID + `' WHERE name = 'sam''s key'`)
		check("moved back", nil)
		w.exec(`UPDATE webauthn_credentials SET public_key = (SELECT public_key FROM webauthn_credentials WHERE name = 'sam''s key') WHERE name = 'jane''s key'`)
		check("another key", custody.ErrStateMismatch)
		w.exec(`DELETE FROM webauthn_credentials WHERE name = 'jane''s key'`)
		check("a row deleted", custody.ErrStateMismatch)
		w.exec(`INSERT INTO webauthn_credentials (cred_id, user_id, name, public_key, sign_count, backup_eligible, backup_state, aaguid, attestation, transports, created_us, last_used_us)
			SELECT cred_id || cred_id, user_id, 'inserted', public_key, 0, false, false, aaguid, attestation, transports, created_us, 0 FROM webauthn_credentials`)
		check("a row inserted", custody.ErrStateMismatch)
	})
}
