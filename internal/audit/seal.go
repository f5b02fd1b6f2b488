package audit

import "fmt"

// Details of a seal entry ([ActionSeal]); [CheckSeal] says which are
// required. The subject names the identity and version that sealed, the
// actor the user who approved it.
const (
	// DetailDocumentSHA256 is the SHA-256 (hex) of the document as it was
	// before sealing: the bytes the approval covers.
	DetailDocumentSHA256 = "document_sha256"
	// DetailSealedSHA256 is the SHA-256 (hex) of the sealed file.
	DetailSealedSHA256 = "sealed_sha256"
	// DetailSignatureSHA256 is the SHA-256 (hex) of the CMS SignerInfo's
	// signature value: what a verifier looks the receipt up by.
	DetailSignatureSHA256 = "signature_sha256"
	// DetailField is the name of the signature field.
	DetailField = "field"
	// DetailPAdESLevel is the PAdES baseline level: B-B or B-T.
	DetailPAdESLevel = "pades_level"
	// DetailIntentSHA256 is the SHA-256 (hex) of the canonical seal intent
	// the step-up approved.
	DetailIntentSHA256 = "intent_sha256"
	// DetailMFAEvidence is the step-up's evidence, a JSON object of
	// strings (canonical: sorted keys) that the auth layer filled.
	DetailMFAEvidence = "mfa_evidence"
)

// PAdES levels a seal entry records.
const (
	LevelBB = "B-B"
	LevelBT = "B-T"
)

// CheckSeal checks that a seal entry is complete: its actor is a user
// (sealing always runs on a user's own approval, never as the CLI or the
// system), its subject names an identity and version, and it holds the
// document's SHA-256 before and after, the signature value's SHA-256, the
// certificate thumbprint and the intent's SHA-256 (each 64 lower-case hex
// digits), the field name, the PAdES level and the MFA method.
// [State.Apply] applies it to every seal entry, so a seal entry that lacks
// any of these breaks the fold of its chain.
func CheckSeal(e Entry) error {
	if e.Action != ActionSeal {
		return fmt.Errorf("%w: %.64s is not a seal entry", ErrInvalidEntry, e.Action)
	}
	if e.Actor.Kind != ActorUser || e.Actor.ID == "" {
		return fmt.Errorf("%w: a seal is approved by a user; the actor is of kind %.64q", ErrInvalidEntry, e.Actor.Kind)
	}
	if e.Subject.Identity == "" || e.Subject.Version < 1 {
		return fmt.Errorf("%w: a seal entry must name an identity and a version >= 1", ErrInvalidEntry)
	}
	for _, k := range []string{DetailDocumentSHA256, DetailSealedSHA256, DetailSignatureSHA256, DetailThumbprint, DetailIntentSHA256} {
		if !isSHA256Hex(e.Details[k]) {
			return fmt.Errorf("%w: a seal entry needs the %s detail as 64 lower-case hex digits", ErrInvalidEntry, k)
		}
	}
	for _, k := range []string{DetailField, DetailMFAMethod} {
		if e.Details[k] == "" {
			return fmt.Errorf("%w: a seal entry needs the %s detail", ErrInvalidEntry, k)
		}
	}
	if l := e.Details[DetailPAdESLevel]; l != LevelBB && l != LevelBT {
		return fmt.Errorf("%w: a seal entry's %s is %.16q (want %s or %s)", ErrInvalidEntry, DetailPAdESLevel, l, LevelBB, LevelBT)
	}
	return nil
}

// isSHA256Hex reports whether s is 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
