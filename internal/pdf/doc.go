// Package pdf reads the structure of PDF files strictly and seals them with
// an incremental update that holds a new signature.
//
// # Why our own parser
//
// A signature verifier and a sealer must agree byte for byte with what they
// sign and check. General-purpose PDF libraries are built to show something
// for every damaged file: they guess at broken cross-references, swallow
// syntax errors and return zero values for missing objects (rsc.io/pdf
// panics on malformed input and its accessors return zero values, "so
// mistakes can go unreported"). For text extraction that is a feature; for
// signatures it is how attacks pass: two readers that repair the same file
// differently see two different documents. This package therefore reads
// only what sealing and verification need, reports every malformed input as
// an error that wraps [ErrMalformed] (or [ErrLimit], [ErrEncrypted],
// [ErrNotFound]) and names the byte offset, never panics, and makes only a
// few bounded, documented repairs that real producers need.
//
// # Object model
//
// A PDF file is a graph of objects (ISO 32000-2 §7.3). Each [Object] is one
// of [Null], [Bool], [Integer], [Real], [String], [Name], [Array], [Dict],
// [*Stream] or an indirect reference [Ref]. The cross-reference sections
// (classic tables, xref streams, hybrid files) map object numbers to byte
// offsets or to places inside object streams.
//
// # Revisions
//
// [Open] reads the final startxref and follows the /Prev chain. Each
// [Section] records where it starts and which %%EOF closes it; sections are
// grouped into [Revision] values (a linearized file's first-page section
// belongs to the original revision). [Revision.Get] reads an object as it
// was in that revision, so a verifier can compare what a signature covered
// with what the latest revision shows. [Revision.Signatures] lists signature
// dictionaries with their /ByteRange and the exact offsets of /Contents.
//
// # Tolerated damage
//
// Junk before the %PDF- header (offsets are then relative to the header);
// up to 1 KiB of junk after the final %%EOF that does not look like PDF
// structure (more, or an unfinished object, means a truncated update and
// is refused); in-use entries at offset 0 (read as free); a startxref or
// /Prev that points a few bytes off (a small window is searched for a
// section that parses completely); object offsets that are wrong (only
// when the object found at the listed offset is provably not the one
// wanted, the file is scanned once for "N G obj" headers and the last
// definition before the listing section is used); xref subsections that
// end early at the trailer or start at 1 with object 0's entry, and xref
// streams whose data ends before their /Index does (the complete entries
// are kept); update trailers without /Root or /Info (the previous
// revision's are used); a catalog or page without /Type; direct form field
// dictionaries. Every repair is recorded in [Reader.Warnings], and on the
// revision whose bytes held the damage: [Revision.Repairs] lists them,
// together with object bodies in the revision that none of its sections
// lists, so that a verifier can refuse to judge a damaged update that
// viewers would each repair their own way. Everything else is an error.
//
// # Limits
//
// [Limits] bounds nesting depth, array and dictionary sizes, object count,
// string size, /Prev chain length (loops are detected), reference chains,
// and decoding: each stream's decoded size (decompression bombs, 32 MiB by
// default) and a budget of decoded bytes for the whole Reader, that is for
// one verification or one seal (256 MiB by default), against which every
// decoding counts. Cross-reference streams are decoded record by record
// and never held whole. An object stream is decoded once and the offsets
// of its objects indexed; decoded object streams are kept in a cache of
// bounded size (least recently used out), and one dropped and needed
// again is decoded again against the budget, so no sequence of lookups
// can make decoding cost more than the budget. Exceeding a limit is an
// error wrapping [ErrLimit] ("over the processing limit: ...").
//
// # Sealing
//
// [Seal] copies the input unchanged and appends one revision: a signature
// dictionary with a fixed-size /Contents placeholder, a signature field
// widget merged into the AcroForm, the updated page and catalog, and a
// cross-reference section in the style the file already uses. It patches
// /ByteRange in place, reads the whole output back with this package's
// reader to check it, hashes the two byte ranges by streaming (the input
// while it is copied, the appended revision from the output file), asks a
// callback for the CMS signature and writes it into the placeholder. Output
// goes to a temporary file that is synced and renamed ([sealkeep/internal/atomicfile]); no
// partial output is left behind on any error. [SealTo] writes to a file the
// caller opened, for a caller with its own rules for the output path.
package pdf
