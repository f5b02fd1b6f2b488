// Package pkcs11 is the "pkcs11:" signer provider: a signing key held in a
// PKCS#11 token (a network HSM, a smart card, SoftHSM2), used through
// github.com/ThalesGroup/crypto11.
//
// # Key URI (RFC 7512)
//
//	pkcs11:token=sealkeep;object=jane-2026?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/sealkeep/hsm.pin
//
// Path attributes: token (the token label, required: tokens are selected by
// label, never by slot number, which changes when devices are re-plugged),
// object (the key label) and/or id (the key's CKA_ID, percent-encoded bytes),
// and optionally type=private. Query attributes: module-path (absolute path
// of the PKCS#11 library, required) and pin-source, which says where the user
// PIN comes from:
//
//   - pin-source=file:/path (RFC 7512): the first line of that file, which
//     must not be accessible to group or others (mode 0600 or stricter);
//   - pin-source=env:NAME (a sealkeep extension): the environment variable NAME.
//
// pin-value is refused (by [signer.ParseURI]): the URI stored in the database
// names the PIN's source, never the PIN. If SEALKEEP_PKCS11_MODULES is set
// (a colon-separated list of paths), module-path must be one of them, so that
// a URI written to the database cannot load an arbitrary library.
//
// # Build tag
//
// crypto11 needs cgo. The real provider is built with -tags pkcs11 (the test
// and release commands use it); without the tag the scheme is still
// registered and every use fails with "sealkeep was built without PKCS#11
// support (build with -tags pkcs11)".
//
// # Failures
//
// A wrong PIN, a locked or expired PIN wrap [signer.ErrAccessDenied] (the PIN
// is tried once per connection: repeating a wrong PIN would lock the token).
// A token that is not present wraps [signer.ErrUnavailable]. When a
// signature fails with a session or device error (token removed, session
// closed, handle invalid), the provider reconnects to the token once, finds
// the key again (it must have the same public key) and retries; a second
// failure is returned. The PIN never appears in an error or a log line.
//
// PKCS#11 calls cannot be interrupted: SignContext checks the context before
// the call, not during it.
package pkcs11

// Scheme is the key URI scheme of this provider.
const Scheme = "pkcs11"
