package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"sealkeep/internal/custody"
	"sealkeep/internal/intent"
	"sealkeep/internal/pdf"
)

// The keys of a seal intent's option map ([IntentOptions]).
const (
	OptSubFilter   = "subfilter"
	OptLevel       = "pades_level"
	OptTSA         = "tsa"
	OptField       = "field"
	OptDocMDP      = "docmdp"
	OptName        = "name"
	OptReason      = "reason"
	OptLocation    = "location"
	OptContact     = "contact"
	OptSigningTime = "signing_time"
	OptVisiblePage = "visible_page"
	OptVisibleRect = "visible_rect"
	OptVisibleImg  = "visible_image_sha256"
)

// IntentFor is the intent of user sealing the document whose SHA-256 is
// document with key and options o: what the user is asked to approve,
// with a fresh nonce, valid for lifetime (at most [intent.MaxLifetime])
// from now. [Job.SealCustody] seals only on an approval of exactly this
// intent (same nonce and expiry aside).
func IntentFor(key custody.SealKey, user string, document [32]byte, o Options, now time.Time, lifetime time.Duration) (intent.Intent, error) {
	b := baseIntent(key, user, document, o)
	return intent.New(b.Org, b.User, b.Identity, b.Version, b.Thumbprint, b.DocumentSHA256, b.Options, now, lifetime)
}

// baseIntent is the intent of a seal without its nonce and expiry.
func baseIntent(key custody.SealKey, user string, document [32]byte, o Options) intent.Intent {
	in := intent.Intent{Org: key.Org, User: user, Identity: key.Identity, Version: key.Version,
		DocumentSHA256: document, Options: IntentOptions(key, o)}
	if key.Leaf != nil {
		in.Thumbprint = sha256.Sum256(key.Leaf.Raw)
	}
	return in
}

// IntentOptions is the option map of a seal's intent: every option that
// changes the sealed document, as the pipeline applies it. The subfilter
// (the default named), the PAdES level and the TSA URL, the field name,
// the DocMDP level, the signer name (the certificate's common name when
// the options leave it empty), reason, location and contact, the /M time
// if one is set, and for a visible seal its page, rectangle and the
// SHA-256 of its image. The digest length, the /Contents size and the
// visible seal's text lines follow from the key, the certificate and the
// clock; the reading limits and the progress callback change nothing
// written.
func IntentOptions(key custody.SealKey, o Options) map[string]string {
	p := o.PDF
	sub := p.SubFilter
	if sub == "" {
		sub = pdf.CAdESDetached
	}
	name := p.Name
	if name == "" && key.Leaf != nil {
		name = key.Leaf.Subject.CommonName
	}
	m := map[string]string{
		OptSubFilter: string(sub), OptLevel: o.Level(), OptTSA: o.TSA, OptField: p.FieldName,
		OptDocMDP: strconv.Itoa(p.DocMDP), OptName: name, OptReason: p.Reason, OptLocation: p.Location,
		OptContact: p.ContactInfo,
	}
	if !p.Time.IsZero() {
		m[OptSigningTime] = p.Time.UTC().Format(time.RFC3339Nano)
	}
	if v := p.Visible; v != nil {
		rect := make([]string, len(v.Rect))
		for i, x := range v.Rect {
			rect[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		img := sha256.Sum256(v.Image)
		m[OptVisiblePage], m[OptVisibleRect], m[OptVisibleImg] = strconv.Itoa(v.Page), strings.Join(rect, " "), hex.EncodeToString(img[:])
	}
	return m
}
