// Package envelope encrypts sealkeep's private keys: a versioned key
// encryption key (KEK) wraps one data encryption key (DEK) per
// organization, and each DEK encrypts that organization's private-key blobs.
//
// All encryption is AES-256-GCM with a random 96-bit nonce and a 128-bit
// tag. Every ciphertext carries additional data that binds it to where it
// belongs, so a ciphertext copied anywhere else fails to decrypt with
// [ErrAuthentication]. Nothing ever falls back to another key or version.
//
// # Key hierarchy
//
//	KEK version v (256-bit; file, environment, or AWS KMS)
//	  └─ wraps DEK (org, DEK version)           stored in the database
//	       └─ seals key blob (org, identity, version)   stored in the database
//
// A [KEK] has versions: the active one wraps, older ones only unwrap, and a
// retired version does neither. KEK rotation adds a version
// ([KEKRotator.AddVersion]), re-wraps every DEK under it ([UnwrapDEK] then
// [WrapDEK]) and retires the old version ([KEKRotator.Retire]); key blobs
// are untouched. Every KEK implementation (the [Keyring] here, a KMS-held
// KEK elsewhere) must pass the contract tests of package kektest.
//
// # Additional data
//
// Additional data is a domain-separated list of fields, each a 4-byte
// big-endian length followed by its bytes; integers are big-endian
// (uint32 for DEK and KEK versions, uint64 for a key version). The first
// field names the purpose:
//
//	wrapped DEK:  "sealkeep/dek"      format, org, DEK version, KEK version
//	key blob:     "sealkeep/key-blob" format, org, identity, key version, DEK version
//
// # Wrapped DEK format (61 bytes)
//
//	0x01 | nonce (12) | AES-256-GCM(KEK, DEK (32)) | tag (16)
//
// # Key blob format
//
//	0x01 | DEK version (uint32, big-endian) | nonce (12) | ciphertext | tag (16)
//
// The plaintext (a PKCS#8 private key) is 1 to [MaxBlobPlaintext] bytes.
// [BlobDEKVersion] reads the DEK version so that the caller can pick the
// DEK; both header fields are also authenticated as additional data.
//
// # Nonce budget
//
// With random 96-bit nonces, NIST SP 800-38D allows at most 2^32
// encryptions under one key. A DEK seals at most [MaxEncryptionsPerDEK]
// (2^31, a factor-two margin) blobs; the store counts encryptions per DEK
// version and custody creates a new DEK version before the budget is
// reached. KEK wraps are rare (one per DEK version and KEK rotation) and far
// below the limit.
//
// # Keyring file
//
// A [Keyring] is a KEK whose versions live in a file (mode 0600, in a
// directory group and others cannot write unless it is sticky; refused
// otherwise) or in an environment variable, in this text format:
//
//	sealkeep-keyring v1
//	active 2
//	key 1 retired
//	key 2 ZXhhbXBsZSBLRUssIG5ldmVyIHVzZTogMzIgYnl0ZXM=
//	checksum sha256:<64 lower-case hex digits>
//
// Lines end in "\n" (the last one optionally). After the format line come
// the active version, then one line per version in increasing order: the
// 32-byte key in padded standard base64, or "retired" for a version whose
// key has been erased. Versions are decimal 1 to 2^32-1 without leading
// zeros; there are at most [MaxKEKVersions]. The checksum is SHA-256 over
// every byte before the checksum line; it catches corruption and hand
// edits, it is not a MAC. Parsing is strict: anything else is
// [ErrMalformed], and errors never quote the file's content.
//
// [Keyring.AddVersion] and [Keyring.Retire] re-read the file, check that it
// still holds every version this process loaded ([ErrKeyringChanged]
// otherwise), change it and replace it atomically (a temporary file in the
// same directory, fsync, rename, fsync of the directory), holding an
// exclusive flock on the file's directory from the read to the rename, so
// that rotations from several processes serialize instead of overwriting
// each other's new version, and deletes the temporary copies a rotation
// killed before its rename left behind (they hold the KEKs of their time,
// retired ones included). Other processes holding the keyring open see
// new versions only when they reopen it. A keyring from the environment is read-only ([ErrReadOnly]).
//
// # Crypto-erasure
//
// Destroying a key version deletes its blob; destroying an organization
// deletes its DEK rows. Copies may survive in database backups, still
// wrapped under the KEK versions of their time. To make them unreadable,
// rotate the KEK (add a version, re-wrap every remaining DEK, retire every
// older version): a retired version's key is erased from the keyring, so a
// DEK wrapped under it, and every blob under that DEK, can no longer be
// decrypted. Keep no copy of the keyring file older than the rotation.
//
// That defeats a backup alone. Someone holding an old backup and also the
// current keyring and database could still open a destroyed version's blob
// from the backup, because its DEK lives on for the org's other keys. To
// erase one key version against that too, also replace the org's DEK: seal
// the org's remaining blobs under a new DEK version, delete the old DEK
// row, then rotate the KEK.
//
// # Memory
//
// Plaintext keys are held in [redact.Secret] values and zeroed by the
// owner: [DEK.Zero] after use, the [DEKCache] on eviction and Close.
// The AES key schedule that crypto/aes derives is freed by the garbage
// collector, not zeroed; Go offers no way to erase it.
package envelope
