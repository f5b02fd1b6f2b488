package audit_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/intent"
	"sealkeep/internal/passkey/passkeytest"
)

var b64 = base64.RawURLEncoding

const rpID = "sealkeep.example"

// newCredential makes a credential of alg on a software authenticator.
func newCredential(t testing.TB, alg int) (*passkeytest.Authenticator, *passkeytest.Credential) {
	t.Helper()
	a := passkeytest.New("https://" + rpID)
	a.Alg = alg
	opts, _ := json.Marshal(map[string]any{"publicKey": map[string]any{"challenge": "AAAAAAAAAAAAAAAAAAAAAA", "rp": map[string]any{"id": rpID},
		"user": map[string]any{"id": "dS1qYW5l"}, "pubKeyCredParams": []map[string]any{{"type": "public-key", "alg": alg}}}})
	if _, err := a.Create(opts); err != nil {
		t.Fatal(err)
	}
	return a, a.Credentials()[0]
}

// register is the passkey.register entry of c for user at seq and t.
func register(user string, c *passkeytest.Credential, seq uint64, t time.Time) audit.Entry {
	return audit.Entry{Chain: audit.SystemChain, Seq: seq, Time: t, Actor: audit.Actor{Kind: audit.ActorUser, ID: user},
		Action: audit.ActionPasskeyRegister, Details: map[string]string{audit.DetailUser: user,
			audit.DetailCredentialID: b64.EncodeToString(c.ID), audit.DetailPublicKey: b64.EncodeToString(c.PublicKey),
			audit.DetailRPID: rpID, audit.DetailName: "key"}}
}

// sealBy is a seal entry of user at t approved by a's credential c over
// a fresh intent.
func sealBy(t testing.TB, a *passkeytest.Authenticator, c *passkeytest.Credential, user string, at time.Time) audit.Entry {
	t.Helper()
	in, err := intent.New("acme", user, "id-jane", 1, sha256.Sum256([]byte("cert")), sha256.Sum256([]byte("doc")),
		map[string]string{"field": "Signature1"}, at, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := in.Digest()
	resp, err := a.Assert(c, rpID, b64.EncodeToString(d[:]))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Response struct{ AuthenticatorData, ClientDataJSON, Signature string }
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]string{audit.EvidenceCredentialID: b64.EncodeToString(c.ID),
		audit.EvidenceAuthenticatorData: r.Response.AuthenticatorData, audit.EvidenceClientDataJSON: r.Response.ClientDataJSON,
		audit.EvidenceSignature: r.Response.Signature, audit.EvidenceSignCount: strconv.FormatUint(uint64(c.Counter), 10)})
	return audit.Entry{Chain: "acme", Seq: 5, Time: at, Actor: audit.Actor{Kind: audit.ActorUser, ID: user}, Action: audit.ActionSeal,
		Subject: audit.Subject{Org: "acme", Identity: "id-jane", Version: 1},
		Details: map[string]string{audit.DetailDocumentSHA256: hex.EncodeToString(in.DocumentSHA256[:]),
			audit.DetailSealedSHA256: strings.Repeat("1", 64), audit.DetailSignatureSHA256: strings.Repeat("2", 64),
			audit.DetailThumbprint: hex.EncodeToString(in.Thumbprint[:]), audit.DetailIntentSHA256: hex.EncodeToString(d[:]),
			audit.DetailField: "Signature1", audit.DetailPAdESLevel: audit.LevelBB, audit.DetailMFAMethod: audit.MethodWebAuthn,
			audit.DetailMFAEvidence: string(ev), audit.DetailIntent: b64.EncodeToString(in.Canonical())}}
}

// TestPasskeyRegistry: the system chain's passkey entries decide which key
// checks which user's approval, and when: a credential registered to
// another user, removed before the seal, or registered after it does not
// approve; ES256 and Ed25519 keys are checked; a removal of what is not
// registered and a second registration of what is are invalid entries.
func TestPasskeyRegistry(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, alg := range []int{passkeytest.ES256, passkeytest.EdDSA} {
		a, c := newCredential(t, alg)
		var reg audit.Passkeys
		if err := reg.Apply(register("u-jane", c, 1, t0)); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.CheckSealApproval(sealBy(t, a, c, "u-jane", t0.Add(time.Hour)), &reg); err != nil {
			t.Fatalf("alg %d: %v", alg, err)
		}
		if _, err := audit.CheckSealApproval(sealBy(t, a, c, "u-sam", t0.Add(time.Hour)), &reg); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("alg %d: another user's approval with jane's key: %v", alg, err)
		}
		if _, err := audit.CheckSealApproval(sealBy(t, a, c, "u-jane", t0.Add(-time.Hour)), &reg); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("alg %d: a seal before the registration: %v", alg, err)
		}
		rm := register("u-jane", c, 2, t0.Add(2*time.Hour))
		rm.Action = audit.ActionPasskeyRemove
		if err := reg.Apply(rm); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.CheckSealApproval(sealBy(t, a, c, "u-jane", t0.Add(3*time.Hour)), &reg); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("alg %d: a seal after the removal: %v", alg, err)
		}
		if _, err := audit.CheckSealApproval(sealBy(t, a, c, "u-jane", t0.Add(time.Hour)), &reg); err != nil {
			t.Errorf("alg %d: a seal while registered, checked after the removal: %v", alg, err)
		}
		if err := reg.Apply(rm); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("alg %d: removed twice: %v", alg, err)
		}
		// Registered again, to sam: jane's later seals do not pass.
		if err := reg.Apply(register("u-sam", c, 3, t0.Add(4*time.Hour))); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.CheckSealApproval(sealBy(t, a, c, "u-jane", t0.Add(5*time.Hour)), &reg); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("alg %d: jane's seal with sam's credential: %v", alg, err)
		}
		if err := reg.Apply(register("u-sam", c, 4, t0.Add(5*time.Hour))); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("alg %d: registered twice: %v", alg, err)
		}
	}
	var reg audit.Passkeys
	_, c := newCredential(t, passkeytest.ES256)
	bad := register("u-jane", c, 1, t0)
	bad.Details[audit.DetailPublicKey] = b64.EncodeToString([]byte{0xa1, 0x01, 0x02})
	if err := reg.Apply(bad); !errors.Is(err, audit.ErrInvalidEntry) {
		t.Errorf("a key that is not a COSE key of an accepted algorithm: %v", err)
	}
}

// BenchmarkCheckSealApproval is the cost audit verify adds per seal entry
// approved with a passkey (ES256): parsing the intent, the evidence and
// the COSE key, and one ECDSA verification.
func BenchmarkCheckSealApproval(b *testing.B) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a, c := newCredential(b, passkeytest.ES256)
	var reg audit.Passkeys
	if err := reg.Apply(register("u-jane", c, 1, t0)); err != nil {
		b.Fatal(err)
	}
	e := sealBy(b, a, c, "u-jane", t0.Add(time.Hour))
	for b.Loop() {
		if _, err := audit.CheckSealApproval(e, &reg); err != nil {
			b.Fatal(err)
		}
	}
}
