package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"sealkeep/internal/intent"
)

// Passkey actions (package passkey), recorded in [SystemChain] with the
// user they are about ([DetailUser]).
const (
	// ActionPasskeyRegister records a new WebAuthn credential of a user:
	// its ID and public key (what every later assertion is checked
	// against), the relying party, its name, the authenticator model, the
	// attestation format, its backup flags and signature counter.
	ActionPasskeyRegister Action = "passkey.register"
	// ActionPasskeyRemove records a credential removed; details: user,
	// credential_id, public_key.
	ActionPasskeyRemove Action = "passkey.remove"
	// ActionSecurityPasskeyCounter records an assertion refused because
	// its signature counter did not advance: a possibly cloned
	// authenticator. Details: user, credential_id, sign_count (the stored
	// counter), got (the assertion's), purpose.
	ActionSecurityPasskeyCounter Action = "security.passkey_counter"
)

// Details of passkey entries and of passkey approvals.
const (
	// DetailCredentialID is a WebAuthn credential ID, base64url without
	// padding.
	DetailCredentialID = "credential_id"
	// DetailPublicKey is a credential public key: its COSE_Key, base64url
	// without padding.
	DetailPublicKey = "public_key"
	// DetailRPID is the WebAuthn relying party ID the credential is
	// scoped to.
	DetailRPID = "rp_id"
	// DetailName is the name its user gave a credential.
	DetailName = "name"
	// DetailAAGUID is the authenticator model (hex, 32 digits).
	DetailAAGUID = "aaguid"
	// DetailAttestation is the format of the registration's attestation
	// statement ("none", "packed", ...).
	DetailAttestation = "attestation"
	// DetailBackupEligible and DetailBackupState are the credential's BE
	// and BS flags ("true" or "false").
	DetailBackupEligible = "backup_eligible"
	DetailBackupState    = "backup_state"
	// DetailSignCount is a signature counter (decimal).
	DetailSignCount = "sign_count"
	// DetailIntent is, in a seal entry, the canonical seal intent
	// ([intent.Intent.Canonical]) whose SHA-256 is [DetailIntentSHA256],
	// base64url without padding: what lets a verifier see that the
	// approval covers this entry's document, identity, version and
	// options.
	DetailIntent = "intent"
)

// MethodWebAuthn is the [DetailMFAMethod] of a seal approved with a
// passkey. Its [DetailMFAEvidence] holds the assertion (see
// [EvidenceCredentialID] and the keys after it), checked by
// [CheckSealApproval].
const MethodWebAuthn = "webauthn"

// Keys of a passkey approval's evidence: the assertion, base64url without
// padding, and the signature counter it carries (decimal).
const (
	EvidenceCredentialID      = "credential_id"
	EvidenceAuthenticatorData = "authenticator_data"
	EvidenceClientDataJSON    = "client_data_json"
	EvidenceSignature         = "signature"
	EvidenceSignCount         = "sign_count"
)

// b64 is the encoding of binary details.
var b64 = base64.RawURLEncoding

// Passkey is a credential as the system chain registered it.
type Passkey struct {
	User         string
	CredentialID []byte
	PublicKey    []byte // COSE_Key
	Key          COSEKey
	RPID         string
	Name         string
	// Seq and Time are those of its passkey.register entry; Removed is the
	// time of its passkey.remove entry (zero while registered).
	Seq     uint64
	Time    time.Time
	Removed time.Time
}

// Passkeys is what the system chain says of passkeys and their users:
// every credential registered (and when it was removed) and every user's
// login. Feed it the system chain in order ([Passkeys.Apply]); a seal
// entry's passkey approval is then checked against it
// ([CheckSealApproval]), never against the credentials table.
type Passkeys struct {
	byID   map[string][]*Passkey // by credential ID: every registration, oldest first
	logins map[string]string     // user ID -> login
}

// Apply records what a system chain entry says of passkeys and logins and
// refuses a passkey entry that does not make sense: a malformed ID or key,
// a credential registered while it is, or removed while it is not.
func (p *Passkeys) Apply(e Entry) error {
	if p.byID == nil {
		p.byID, p.logins = map[string][]*Passkey{}, map[string]string{}
	}
	switch e.Action {
	case ActionUserCreate:
		p.logins[e.Details[DetailUser]] = e.Details[DetailLogin]
		return nil
	case ActionPasskeyRegister, ActionPasskeyRemove:
	default:
		return nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s at seq %d: %s", ErrInvalidEntry, e.Action, e.Seq, fmt.Sprintf(format, args...))
	}
	id, err := b64.DecodeString(e.Details[DetailCredentialID])
	if err != nil || len(id) == 0 {
		return bad("malformed %s", DetailCredentialID)
	}
	pub, err := b64.DecodeString(e.Details[DetailPublicKey])
	if err != nil {
		return bad("malformed %s", DetailPublicKey)
	}
	user := e.Details[DetailUser]
	regs, cur := p.byID[string(id)], p.Current(id)
	if e.Action == ActionPasskeyRemove {
		if cur == nil || cur.User != user || !bytes.Equal(cur.PublicKey, pub) {
			return bad("removes a credential the user has not registered")
		}
		cur.Removed = e.Time
		return nil
	}
	if cur != nil {
		return bad("registers a credential that is registered (to %s since seq %d)", cur.User, cur.Seq)
	}
	key, err := ParseCOSEKey(pub)
	if err != nil {
		return bad("%v", err)
	}
	if e.Details[DetailRPID] == "" {
		return bad("names no %s", DetailRPID)
	}
	p.byID[string(id)] = append(regs, &Passkey{User: user, CredentialID: id, PublicKey: pub, Key: key,
		RPID: e.Details[DetailRPID], Name: e.Details[DetailName], Seq: e.Seq, Time: e.Time})
	return nil
}

// Current returns the registration of credential id that is not removed,
// or nil.
func (p *Passkeys) Current(id []byte) *Passkey {
	regs := p.byID[string(id)]
	if n := len(regs); n > 0 && regs[n-1].Removed.IsZero() {
		return regs[n-1]
	}
	return nil
}

// Registered returns every credential registered and not removed.
func (p *Passkeys) Registered() []*Passkey {
	var out []*Passkey
	for id := range p.byID {
		if c := p.Current([]byte(id)); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Login returns the login the trail created user with ("" if none).
func (p *Passkeys) Login(user string) string { return p.logins[user] }

// registered returns the credential id as registered to user at t: after
// its registration and before its removal, within [MaxClockSkew] (the
// seal and the registration are in different chains, appended by
// instances with different clocks).
func (p *Passkeys) registered(id []byte, user string, t time.Time) (*Passkey, error) {
	for _, r := range slices.Backward(p.byID[string(id)]) {
		if r.Time.Add(-MaxClockSkew).After(t) {
			continue
		}
		switch {
		case r.User != user:
			return nil, fmt.Errorf("the credential is registered to another user (%s, system seq %d)", r.User, r.Seq)
		case !r.Removed.IsZero() && r.Removed.Add(MaxClockSkew).Before(t):
			return nil, fmt.Errorf("the credential was removed at %s (registered at system seq %d)", r.Removed.Format(time.RFC3339), r.Seq)
		}
		return r, nil
	}
	return nil, fmt.Errorf("the system chain registers no such credential before the seal")
}

// SealApproval is what [CheckSealApproval] found a seal entry's approval
// to be.
type SealApproval struct {
	// Intent is the approved intent, when the entry records it.
	Intent *intent.Intent
	// Passkey is the credential that approved it, for a passkey approval,
	// and SignCount the counter of its assertion.
	Passkey   *Passkey
	SignCount uint32
	// Login is the login the system chain created the approving user
	// with ("" if it does not say).
	Login string
}

// CheckSealApproval checks the approval a seal entry records. When it
// records its intent ([DetailIntent]; always for a passkey), the intent's
// SHA-256 must be the entry's [DetailIntentSHA256], and it must name the
// entry's org (its chain), user (its actor), identity, version,
// certificate, document and, where the intent's options set them, field
// and PAdES level. A passkey approval ([MethodWebAuthn]) must hold an
// assertion by a credential the system chain registered to the entry's
// user (keys) and had not removed at the entry's time, whose client data's
// challenge is that intent digest and whose signature verifies under the
// registered public key ([VerifyAssertion]), with the counter it names.
func CheckSealApproval(e Entry, keys *Passkeys) (SealApproval, error) {
	if keys == nil {
		keys = new(Passkeys)
	}
	out := SealApproval{Login: keys.Login(e.Actor.ID)}
	bad := func(format string, args ...any) (SealApproval, error) {
		return SealApproval{}, fmt.Errorf("%w: the seal's approval: %s", ErrInvalidEntry, fmt.Sprintf(format, args...))
	}
	if err := CheckSeal(e); err != nil {
		return SealApproval{}, err
	}
	method := e.Details[DetailMFAMethod]
	raw, ok := e.Details[DetailIntent]
	if !ok {
		if method == MethodWebAuthn {
			return bad("a passkey approval without the intent it signed")
		}
		return out, nil
	}
	cb, err := b64.DecodeString(raw)
	if err != nil {
		return bad("the intent is not base64url")
	}
	in, err := intent.Parse(cb)
	if err != nil {
		return bad("%v", err)
	}
	digest := in.Digest()
	if hex.EncodeToString(digest[:]) != e.Details[DetailIntentSHA256] {
		return bad("the intent recorded is not the one whose SHA-256 the entry names")
	}
	for _, f := range []struct {
		name string
		same bool
	}{
		{"organization", in.Org == e.Chain}, {"user", in.User == e.Actor.ID},
		{"identity", in.Identity == e.Subject.Identity}, {"version", in.Version == e.Subject.Version},
		{"certificate", hex.EncodeToString(in.Thumbprint[:]) == e.Details[DetailThumbprint]},
		{"document", hex.EncodeToString(in.DocumentSHA256[:]) == e.Details[DetailDocumentSHA256]},
		{"field", in.Options["field"] == "" || in.Options["field"] == e.Details[DetailField]},
		{"PAdES level", in.Options["pades_level"] == "" || in.Options["pades_level"] == e.Details[DetailPAdESLevel]},
	} {
		if !f.same {
			return bad("the intent approves another %s than this seal's", f.name)
		}
	}
	out.Intent = &in
	if method != MethodWebAuthn {
		return out, nil
	}
	var ev map[string]string
	if err := json.Unmarshal([]byte(e.Details[DetailMFAEvidence]), &ev); err != nil {
		return bad("the passkey evidence is not a JSON object of strings")
	}
	want := []string{EvidenceAuthenticatorData, EvidenceClientDataJSON, EvidenceCredentialID, EvidenceSignCount, EvidenceSignature}
	if got := slices.Sorted(maps.Keys(ev)); !slices.Equal(got, want) {
		return bad("the passkey evidence has the members %q, want %q", got, want)
	}
	var a Assertion
	for _, f := range []struct {
		key string
		dst *[]byte
	}{{EvidenceCredentialID, &a.CredentialID}, {EvidenceAuthenticatorData, &a.AuthenticatorData},
		{EvidenceClientDataJSON, &a.ClientDataJSON}, {EvidenceSignature, &a.Signature}} {
		if *f.dst, err = b64.DecodeString(ev[f.key]); err != nil || len(*f.dst) == 0 {
			return bad("the passkey evidence's %s is not base64url", f.key)
		}
	}
	pk, err := keys.registered(a.CredentialID, e.Actor.ID, e.Time)
	if err != nil {
		return bad("%v", err)
	}
	res, err := VerifyAssertion(pk.Key, pk.RPID, a, digest[:])
	if err != nil {
		return SealApproval{}, err
	}
	if ev[EvidenceSignCount] != strconv.FormatUint(uint64(res.SignCount), 10) {
		return bad("the evidence's sign count %.16q is not the authenticator data's %d", ev[EvidenceSignCount], res.SignCount)
	}
	out.Passkey, out.SignCount = pk, res.SignCount
	return out, nil
}
